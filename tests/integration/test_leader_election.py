"""``reconcile --leader-elect``: one Lease, one active replica, fast takeover; sharding.

Two real agent processes run against one real API server: only the Lease holder renders
and applies; after the leader is killed (SIGKILL: no release) the follower takes over within
the lease duration; a clean SIGTERM releases the Lease. The compare-and-swap that makes the
election safe is checked against the real API server's resourceVersion handling.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from gitops_agent.adapters.kube import KubeCluster
from gitops_agent.errors import InvalidInputError
from gitops_agent.reconcile.cluster import ResourceInfo
from gitops_agent.reconcile.leader import LEASE, LeaderElector, LeaderSettings, select_shard, shard_of
from gitops_agent.vocabulary.objects import Manifest, ObjectRef
from tests.support.gitrepos import git, make_gitops_repo
from tests.support.reliability import ReliabilityCounters
from tools.testcluster.launcher import RunningCluster

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
ENTRY = [sys.executable, "-c", "from gitops_agent.cli import main; main()"]
LEASE_SECONDS = 4
RETRY_SECONDS = 1

ENVIRONMENT = """\
apiVersion: gitops-agent.io/v1alpha1
kind: Environment
metadata: {{name: {name}}}
spec:
  namespace: {namespace}
  branch: env/{name}
  workflows: [fraud-risk-scoring]
  sync: {{prune: false, selfHeal: true, interval: 1m}}
"""


def lease(cluster: RunningCluster, namespace: str, name: str) -> dict[str, Any] | None:
    status, body = cluster.api().request("GET", f"/apis/coordination.k8s.io/v1/namespaces/{namespace}/leases/{name}")
    return body if status == 200 else None


def holder(cluster: RunningCluster, namespace: str, name: str) -> str | None:
    found = lease(cluster, namespace, name)
    return None if found is None else found["spec"].get("holderIdentity")


def wait_for(what: str, check: Any, timeout: float) -> float:
    started = time.monotonic()
    while not check():
        assert time.monotonic() - started < timeout, f"timed out waiting for {what}"
        time.sleep(0.1)
    return time.monotonic() - started


@pytest.fixture
def repo(tmp_path: Path, namespace: str) -> Path:
    repo = make_gitops_repo(tmp_path / "repo", workflows=("fraud-risk-scoring",))
    for env_file in (repo / "environments").glob("*.yaml"):
        env_file.unlink()
    (repo / "environments" / "le.yaml").write_text(ENVIRONMENT.format(name="le", namespace=f"{namespace}-app"))
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "leader-election environment")
    proc = subprocess.run([*ENTRY, "compile", "--commit", "--repo", str(repo)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    return repo


@pytest.mark.timeout(300)
def test_one_leader_applies_and_the_follower_takes_over(
    repo: Path, namespace: str, kube_cluster: RunningCluster, tmp_path: Path, reliability: ReliabilityCounters
) -> None:
    lease_name = "agents"
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("GIT_")},
        "PYTHONPATH": str(ROOT),
        "KUBECONFIG": str(kube_cluster.kubeconfig),
    }
    logs = {name: tmp_path / f"{name}.log" for name in ("agent-a", "agent-b")}

    def start(identity: str) -> subprocess.Popen[bytes]:
        args = [
            *ENTRY,
            "reconcile",
            "le",
            "--repo",
            str(repo),
            "--interval",
            "1s",
            "--metrics-port",
            "0",
            "--leader-elect",
            "--lease-namespace",
            namespace,
            "--lease-name",
            lease_name,
            "--lease-duration",
            f"{LEASE_SECONDS}s",
            "--renew-deadline",
            "3s",
            "--retry-period",
            f"{RETRY_SECONDS}s",
            "--identity",
            identity,
        ]
        with logs[identity].open("wb") as log:
            return subprocess.Popen(args, env=env, stdout=log, stderr=subprocess.STDOUT)

    def log(identity: str) -> str:
        return logs[identity].read_text()

    def leader_gauge(identity: str) -> float:
        """``gitops_agent_leader`` from the replica's /metrics."""
        port = re.search(r"serving /metrics and /healthz on port (\d+)", log(identity))
        assert port, log(identity)
        with urllib.request.urlopen(f"http://127.0.0.1:{port.group(1)}/metrics", timeout=5) as response:
            found = re.search(r"^gitops_agent_leader (\S+)$", response.read().decode(), re.MULTILINE)
        assert found, "gitops_agent_leader is not exposed"
        return float(found.group(1))

    a = start("agent-a")
    b: subprocess.Popen[bytes] | None = None
    try:
        wait_for("agent-a to lead", lambda: holder(kube_cluster, namespace, lease_name) == "agent-a", 60)
        b = start("agent-b")
        wait_for("agent-b to campaign", lambda: "waiting for Lease" in log("agent-b"), 60)
        wait_for("agent-a to apply", lambda: "le: rendered" in log("agent-a"), 60)
        time.sleep(LEASE_SECONDS + 2 * RETRY_SECONDS)  # several renewals: the follower must stay idle
        assert holder(kube_cluster, namespace, lease_name) == "agent-a"
        assert "is the leader" not in log("agent-b") and "le: rendered" not in log("agent-b"), log("agent-b")
        status, _ = kube_cluster.api().request("GET", f"/api/v1/namespaces/{namespace}-app")
        assert status == 200  # the leader applied the environment
        assert (leader_gauge("agent-a"), leader_gauge("agent-b")) == (1.0, 0.0)

        renewed = lease(kube_cluster, namespace, lease_name)
        assert renewed is not None
        a.send_signal(signal.SIGKILL)  # no release: the follower must wait for expiry
        a.wait(timeout=30)
        killed = time.monotonic()
        wait_for("agent-b to take over", lambda: holder(kube_cluster, namespace, lease_name) == "agent-b", 60)
        takeover = time.monotonic() - killed
        reliability.add("leader takeovers")
        assert takeover <= LEASE_SECONDS + 2 * RETRY_SECONDS + 1, f"takeover took {takeover:.1f}s"
        wait_for("agent-b to apply", lambda: "le: rendered" in log("agent-b"), 60)
        assert leader_gauge("agent-b") == 1.0
        taken = lease(kube_cluster, namespace, lease_name)
        assert taken is not None and taken["spec"]["leaseTransitions"] >= 1

        b.send_signal(signal.SIGTERM)
        assert b.wait(timeout=60) == 0, log("agent-b")
        assert holder(kube_cluster, namespace, lease_name) is None  # released on a clean stop
    finally:
        for proc in (a, b):
            if proc is not None and proc.poll() is None:
                proc.kill()
                proc.wait()
        kube_cluster.api().request("DELETE", f"/api/v1/namespaces/{namespace}-app")


class StaleReads:
    """A Lease store whose reads return an old copy: a candidate that lost a race."""

    def __init__(self, cluster: KubeCluster, stale: Manifest) -> None:
        self._cluster = cluster
        self._stale = stale

    def get(self, info: ResourceInfo, ref: ObjectRef) -> Manifest | None:
        return self._stale

    def create(self, info: ResourceInfo, obj: Manifest) -> Manifest:
        return self._cluster.create(info, obj)

    def replace(self, info: ResourceInfo, obj: Manifest) -> Manifest:
        return self._cluster.replace(info, obj)


def test_a_stale_candidate_loses_on_resource_version(
    kube_cluster: RunningCluster, namespace: str, reliability: ReliabilityCounters
) -> None:
    cluster = KubeCluster(kube_cluster.kubeconfig)
    try:
        settings = LeaderSettings(namespace=namespace, identity="a", lease_duration=3, renew_deadline=2, retry_period=1)
        first = LeaderElector(cluster, settings)
        assert first.try_acquire_or_renew()
        ref = ObjectRef("coordination.k8s.io", "v1", "Lease", namespace, settings.name)
        stale = cluster.get(LEASE, ref)
        assert stale is not None
        assert first.try_acquire_or_renew()  # a renewal: new resourceVersion

        def later() -> datetime:
            return datetime.now(UTC) + timedelta(seconds=60)  # b believes the Lease expired

        second = LeaderElector(
            StaleReads(cluster, stale),
            LeaderSettings(namespace=namespace, identity="b", lease_duration=3, renew_deadline=2, retry_period=1),
            clock=later,
        )
        assert not second.try_acquire_or_renew()  # 409 from the API server
        reliability.add("lease conflicts refused")
        assert first.holder() == "a"

        # A candidate with a fresh read takes an expired Lease (and counts the transition).
        third = LeaderElector(
            cluster,
            LeaderSettings(namespace=namespace, identity="c", lease_duration=3, renew_deadline=2, retry_period=1),
            clock=later,
        )
        assert third.try_acquire_or_renew()
        assert first.holder() == "c"
        assert not first.try_acquire_or_renew()  # a is not expired-by-its-own-clock: c holds it
        third.release()
        assert first.holder() is None
        assert first.try_acquire_or_renew()
    finally:
        cluster.close()


def test_shards_partition_environments() -> None:
    names = [f"env-{i}" for i in range(40)]
    for count in (1, 2, 3, 5):
        shards = [select_shard(names, index, count) for index in range(count)]
        assert sorted(n for shard in shards for n in shard) == sorted(names)
        assert all(shard_of(n, count) == i for i, shard in enumerate(shards) for n in shard)
    assert shard_of("prod", 7) == shard_of("prod", 7)
    with pytest.raises(InvalidInputError):
        select_shard(names, 2, 2)
    with pytest.raises(InvalidInputError):
        LeaderSettings(namespace="x", identity="a", lease_duration=2, renew_deadline=10, retry_period=1)


def test_reconcile_once_only_runs_its_shard(repo: Path, kube_cluster: RunningCluster) -> None:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("GIT_")},
        "PYTHONPATH": str(ROOT),
        "KUBECONFIG": str(kube_cluster.kubeconfig),
    }
    mine = shard_of("le", 2)
    for index in (0, 1):
        proc = subprocess.run(
            [*ENTRY, "reconcile", "--once", "--repo", str(repo), "--shard-index", str(index), "--shard-count", "2"],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert proc.returncode == 0, proc.stderr
        assert ("le: rendered" in proc.stderr) == (index == mine), proc.stderr
        if index != mine:
            assert "holds no environment" in proc.stderr
