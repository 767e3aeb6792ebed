"""API server faults during ``sync``, on dedicated real control planes (etcd + kube-apiserver).

- The API server is killed in the middle of a sync of a few hundred objects: that sync
  fails cleanly (exit 3, a clear message, no traceback); after a restart the next sync
  converges: every rendered object exists exactly once (counted per kind by label and by
  name), nothing is lost and nothing is duplicated.
- An API server with tiny in-flight limits answers 429: the agent backs off (urllib3
  honours Retry-After), finishes, and reports how often it was throttled.
- Conflicts: another field manager owns a field (409 on apply) — taken back by a plain sync
  (git wins), reported by object with ``--no-force-conflicts``; a resourceVersion race on a
  Lease is in ``test_leader_election.py``.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gitops_agent.adapters.kustomize import kubectl_path
from gitops_agent.vocabulary.yaml import load_all
from tests.support.cluster import install_crds, kube_api
from tests.support.gitrepos import git, make_gitops_repo
from tests.support.reliability import ReliabilityCounters
from tools.testcluster.launcher import RunningCluster, start_cluster

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
ENTRY = [sys.executable, "-c", "from gitops_agent.cli import main; main()"]
ENTRY_READY = [
    sys.executable,
    "-c",
    "import sys; from gitops_agent.cli import main; sys.stderr.write('ready\\n'); sys.stderr.flush(); main()",
]
OBJECTS = 400
NAMESPACE = "faults"

ENVIRONMENT = """\
apiVersion: gitops-agent.io/v1alpha1
kind: Environment
metadata: {{name: faults}}
spec:
  namespace: {namespace}
  branch: env/faults
  workflows: [fraud-risk-scoring]
  resources: [manifests/many]
  sync: {{prune: false, selfHeal: false, interval: 1m}}
"""


def many_configmaps(count: int) -> str:
    return "".join(
        f"---\napiVersion: v1\nkind: ConfigMap\nmetadata: {{name: item-{i:04d}}}\ndata: {{index: '{i}'}}\n"
        for i in range(count)
    )


def make_repo(path: Path, namespace: str = NAMESPACE) -> Path:
    repo = make_gitops_repo(path, workflows=("fraud-risk-scoring",))
    for env_file in (repo / "environments").glob("*.yaml"):
        env_file.unlink()
    (repo / "environments" / "faults.yaml").write_text(ENVIRONMENT.format(namespace=namespace))
    (repo / "manifests" / "many").mkdir(parents=True)
    (repo / "manifests" / "many" / "items.yaml").write_text(many_configmaps(OBJECTS))
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "an environment with many objects")
    proc = subprocess.run([*ENTRY, "compile", "--commit", "--repo", str(repo)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    return repo


def agent_env(cluster: RunningCluster, *, kubeconfig: Path | None = None) -> dict[str, str]:
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith("GIT_")},
        "PYTHONPATH": str(ROOT),
        "KUBECONFIG": str(kubeconfig or cluster.kubeconfig),
    }


def rendered(repo: Path) -> list[dict[str, Any]]:
    proc = subprocess.run([*ENTRY, "render", "faults", "--repo", str(repo)], capture_output=True, check=True)
    return [doc for doc in load_all(proc.stdout) if isinstance(doc, dict)]


def expected_counts(desired: list[dict[str, Any]]) -> Counter[str]:
    """Objects a sync applies now: Jobs that wait for other tasks are gated (this private control
    plane has no nodes, so no task finishes)."""
    return Counter(
        d["kind"]
        for d in desired
        if d["kind"] in KIND_PATHS and "gitops-agent.io/depends-on" not in (d["metadata"].get("annotations") or {})
    )


def kind_paths(namespace: str) -> dict[str, str]:
    return {
        "ConfigMap": f"/api/v1/namespaces/{namespace}/configmaps",
        "Job": f"/apis/batch/v1/namespaces/{namespace}/jobs",
        "CronJob": f"/apis/batch/v1/namespaces/{namespace}/cronjobs",
    }


def count_live(cluster: RunningCluster, kind_paths: dict[str, str]) -> Counter[str]:
    """Owned live objects per kind (listed by the environment label)."""
    api = cluster.api()
    found: Counter[str] = Counter()
    for kind, path in kind_paths.items():
        status, body = api.request("GET", f"{path}?labelSelector=gitops-agent.io%2Fenvironment%3Dfaults")
        assert status == 200, body
        names = [item["metadata"]["name"] for item in body["items"]]
        assert len(names) == len(set(names))
        found[kind] = len(names)
    return found


KIND_PATHS = kind_paths(NAMESPACE)


@pytest.fixture
def own_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningCluster]:
    cluster = start_cluster(tmp_path_factory.mktemp("faults-cluster"), nodes=())  # no task finishes
    try:
        with kube_api(cluster.kubeconfig) as api:
            install_crds(api)
        yield cluster
    finally:
        cluster.stop()


@pytest.mark.timeout(600)
def test_apiserver_killed_mid_sync_then_next_sync_converges(
    own_cluster: RunningCluster, tmp_path: Path, reliability: ReliabilityCounters
) -> None:
    repo = make_repo(tmp_path / "repo")
    desired = rendered(repo)
    expected = expected_counts(desired)
    assert expected["ConfigMap"] >= OBJECTS
    env = agent_env(own_cluster)
    sync = subprocess.Popen(
        [*ENTRY, "sync", "faults", "--repo", str(repo)], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    api = own_cluster.api()
    deadline = time.monotonic() + 120
    applied = 0
    while applied < 40:
        assert sync.poll() is None, "the sync finished before the fault could be injected"
        assert time.monotonic() < deadline
        status, body = api.request("GET", f"/api/v1/namespaces/{NAMESPACE}/configmaps?limit=500")
        applied = len(body.get("items", [])) if status == 200 else 0
        time.sleep(0.05)
    own_cluster.stop_apiserver()  # SIGKILL, like a crash
    reliability.add("API server crashes injected")
    _, stderr = sync.communicate(timeout=300)
    text = stderr.decode()
    assert sync.returncode == 3, text
    assert "Traceback" not in text
    assert re.search(r"unreachable|connection refused|refused", text), text
    first_error = next(line for line in text.splitlines() if line.startswith("error"))
    assert own_cluster.server.split("//")[1] in first_error or "sync failed" in first_error, first_error

    own_cluster.start_apiserver()
    again = subprocess.run(
        [*ENTRY, "sync", "faults", "--repo", str(repo), "-o", "json"], env=env, capture_output=True, timeout=300
    )
    assert again.returncode == 0, again.stderr.decode()
    live = count_live(own_cluster, KIND_PATHS)
    assert live == expected, (live, expected)
    for obj in desired:
        if obj["kind"] == "ConfigMap":
            status, _ = api.request("GET", f"{KIND_PATHS['ConfigMap']}/{obj['metadata']['name']}")
            assert status == 200
    reliability.add("objects verified after recovery", sum(live.values()))
    final = subprocess.run([*ENTRY, "diff", "faults", "--repo", str(repo), "-o", "json"], env=env, capture_output=True)
    changes = json.loads(final.stdout)["changes"]
    assert not [c for c in changes if c["kind"] == "ConfigMap" and c["action"] != "unchanged"]


@pytest.mark.timeout(600)
def test_throttled_sync_backs_off_and_finishes(tmp_path: Path, reliability: ReliabilityCounters) -> None:
    cluster = start_cluster(
        tmp_path / "throttled",
        nodes=(),  # the scheduler and KWOK would share the two in-flight requests
        extra_apiserver_args=[
            "--enable-priority-and-fairness=false",
            "--max-requests-inflight=2",
            "--max-mutating-requests-inflight=1",
        ],
    )
    try:
        with kube_api(cluster.kubeconfig) as api:
            install_crds(api)
        repo = make_repo(tmp_path / "repo")
        desired = rendered(repo)
        proc = subprocess.run(
            [*ENTRY, "sync", "faults", "--repo", str(repo), "-o", "json"],
            # the agent user: full rights through RBAC but not system:masters, which the
            # in-flight limits exempt
            env=agent_env(cluster, kubeconfig=cluster.agent_kubeconfig),
            capture_output=True,
            timeout=500,
        )
        text = proc.stderr.decode()
        assert proc.returncode == 0, text
        match = re.search(r"throttled (\d+) requests \(429\)", text)
        assert match, f"no throttling reported:\n{text}"
        throttled = int(match.group(1))
        assert throttled > 0
        reliability.add("throttled requests survived", throttled)
        live = count_live(cluster, KIND_PATHS)
        assert live == expected_counts(desired)
        reliability.add("objects verified after recovery", sum(live.values()))
    finally:
        cluster.stop()


def test_conflicting_field_manager_is_reported_then_taken_over(
    kube_cluster: RunningCluster, tmp_path: Path, reliability: ReliabilityCounters
) -> None:
    namespace = "faults-conflict"
    repo = make_repo(tmp_path / "repo", namespace)
    env = agent_env(kube_cluster)
    first = subprocess.run([*ENTRY, "sync", "faults", "--repo", str(repo)], env=env, capture_output=True, timeout=300)
    assert first.returncode == 0, first.stderr.decode()
    api = kube_cluster.api()
    try:
        # Another manager takes data.index of one ConfigMap with a forced server-side apply.
        other = subprocess.run(
            [
                kubectl_path(),
                "--kubeconfig",
                str(kube_cluster.kubeconfig),
                "apply",
                "--server-side",
                "--force-conflicts",
                "--field-manager=other-controller",
                "-f",
                "-",
            ],
            input=f"apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: item-0007, namespace: {namespace}}}\n"
            "data: {index: x}\n",
            capture_output=True,
            text=True,
        )
        assert other.returncode == 0, other.stderr
        reported = subprocess.run(
            [*ENTRY, "sync", "faults", "--repo", str(repo), "--no-force-conflicts"], env=env, capture_output=True
        )
        reliability.add("conflicts injected")
        text = reported.stderr.decode()
        assert "Traceback" not in text
        assert reported.returncode == 3 and "item-0007" in text and "other-controller" in text, text
        status, body = api.request("GET", f"{kind_paths(namespace)['ConfigMap']}/item-0007")
        assert status == 200 and body["data"]["index"] == "x"
        # git wins by default: a plain sync takes the field back and names who had changed it
        plain = subprocess.run([*ENTRY, "sync", "faults", "--repo", str(repo)], env=env, capture_output=True)
        assert plain.returncode == 0, plain.stderr.decode()
        assert "changed out of band by other-controller" in plain.stdout.decode() + plain.stderr.decode()
        status, body = api.request("GET", f"{kind_paths(namespace)['ConfigMap']}/item-0007")
        assert status == 200 and body["data"]["index"] == "7"
    finally:
        api.request("DELETE", f"/api/v1/namespaces/{namespace}")


@pytest.mark.timeout(900)
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_signal_at_any_moment_of_sync(
    kube_cluster: RunningCluster, tmp_path: Path, signum: signal.Signals, reliability: ReliabilityCounters
) -> None:
    """Interrupted syncs exit 130, leave no lock and a clean repository (sync notes included),
    and the next sync converges."""
    namespace = f"faults-{signum.name.lower()}"
    paths = kind_paths(namespace)
    repo = make_repo(tmp_path / "repo", namespace)
    env = agent_env(kube_cluster)
    rng = random.Random(f"sync-{signum.name}")
    argv = [*ENTRY_READY, "sync", "faults", "--repo", str(repo)]
    try:
        started = time.monotonic()
        first = subprocess.run(argv, env=env, capture_output=True, timeout=300)
        assert first.returncode == 0, first.stderr.decode()
        full = time.monotonic() - started
        interrupted = 0
        for _ in range(8):
            # every round has real work: the owned ConfigMaps are gone again
            kube_cluster.api().request(
                "DELETE", f"{paths['ConfigMap']}?labelSelector=gitops-agent.io%2Fenvironment%3Dfaults"
            )
            proc = subprocess.Popen(
                argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True
            )
            assert proc.stderr is not None and proc.stderr.readline() == b"ready\n"
            time.sleep(rng.uniform(0.0, full))
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signum)
            _, err = proc.communicate(timeout=300)
            reliability.add("signals injected")
            if proc.returncode != 0:
                interrupted += 1
                assert proc.returncode == 130, err.decode()
                assert b"Traceback" not in err
            assert not list((repo / ".git").rglob("*.lock"))
            fsck = subprocess.run(["git", "fsck", "--strict"], cwd=repo, capture_output=True, text=True)
            assert fsck.returncode == 0, fsck.stderr
        assert interrupted >= 2
        # the session cluster runs the tasks: waiting for them, every desired object exists once
        final = subprocess.run([*ENTRY_READY, "sync", "faults", "--repo", str(repo), "--wait", "--timeout", "3m"],
                               env=env, capture_output=True)
        assert final.returncode == 0, final.stderr.decode()
        assert count_live(kube_cluster, paths) == Counter(d["kind"] for d in rendered(repo) if d["kind"] in KIND_PATHS)
    finally:
        kube_cluster.api().request("DELETE", f"/api/v1/namespaces/{namespace}")
