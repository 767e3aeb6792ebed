"""The reconcile loop as a real process: drift made while it runs is healed within two
intervals, new environment-branch commits are deployed, SIGTERM ends it cleanly."""

from __future__ import annotations

import json
import re
import secrets
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from gitops_agent.cli import run
from gitops_agent.history.notes import read_sync_notes
from tests.integration.reconcile_helpers import add_environment, delete_namespaces, kubectl
from tests.support.cluster import install_crds, kube_api
from tests.support.gitrepos import git, make_gitops_repo
from tools.testcluster.launcher import start_cluster

pytestmark = pytest.mark.integration
INTERVAL = 3.0


def wait_for(check, timeout: float, what: str) -> float:  # type: ignore[no-untyped-def]
    """Poll ``check`` until it is true; return the seconds it took."""
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if check():
            return time.monotonic() - start
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def exists(kubeconfig: Path, namespace: str, kind: str, name: str) -> bool:
    out = kubectl(kubeconfig, "-n", namespace, "get", kind, name, "-o", "name", "--ignore-not-found")
    return bool(out.strip())


def http_get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, ""


ENV = f"loop{secrets.token_hex(3)}"


@pytest.fixture
def dev_repo(tmp_path: Path, kube_cluster) -> Iterator[tuple[Path, str]]:  # type: ignore[no-untyped-def]
    """A copy of the dev environment (prune and selfHeal on) under a name of its own."""
    repo = make_gitops_repo(tmp_path / "repo")
    namespace = f"ml-{ENV}"
    add_environment(repo, "dev", ENV, namespace)
    assert run(["compile", "--repo", str(repo), "--env", ENV, "--commit"]) == 0
    yield repo, namespace
    delete_namespaces(kube_cluster.kubeconfig, namespace)


@pytest.fixture
def loop(dev_repo: tuple[Path, str], kube_cluster, tmp_path: Path) -> Iterator[tuple[subprocess.Popen[str], int]]:  # type: ignore[no-untyped-def]
    repo, _ = dev_repo
    script = Path(sys.executable).parent / "gitops-agent"
    log = (tmp_path / "loop.log").open("w+")
    process = subprocess.Popen(
        [str(script), "reconcile", ENV, "--repo", str(repo), "--kubeconfig", str(kube_cluster.kubeconfig),
         "--interval", f"{int(INTERVAL)}s", "--metrics-port", "0"],
        stdout=subprocess.DEVNULL, stderr=log, text=True,
    )
    port = 0

    def port_known() -> bool:
        nonlocal port
        log.seek(0)
        found = re.search(r"serving /metrics and /healthz on port (\d+)", log.read())
        port = int(found.group(1)) if found else 0
        return bool(port)

    try:
        wait_for(port_known, 30, "the status server")
        yield process, port
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        log.seek(0)
        print(log.read())


def test_drift_is_healed_within_two_intervals_and_sigterm_stops_cleanly(loop, dev_repo, kube_cluster) -> None:  # type: ignore[no-untyped-def]
    process, port = loop
    repo, namespace = dev_repo
    kubeconfig = kube_cluster.kubeconfig
    wait_for(lambda: exists(kubeconfig, namespace, "configmap", "image-recognition-config"), 60, "the first sync")
    assert http_get(f"http://127.0.0.1:{port}/healthz")[0] == 200

    # drift by hand: an object deleted, an env var added by another field manager
    time.sleep(0.5)
    kubectl(kubeconfig, "-n", namespace, "delete", "configmap", "image-recognition-config")
    kubectl(kubeconfig, "-n", namespace, "set", "env", "deployment/llm-gateway", "DEBUG=1")

    def healed() -> bool:
        if not exists(kubeconfig, namespace, "configmap", "image-recognition-config"):
            return False
        deployment = json.loads(kubectl(kubeconfig, "-n", namespace, "get", "deployment", "llm-gateway", "-o", "json"))
        env = deployment["spec"]["template"]["spec"]["containers"][0].get("env", [])
        return all(item["name"] != "DEBUG" for item in env)

    took = wait_for(healed, 4 * INTERVAL, "self-heal")
    assert took <= 2 * INTERVAL * 1.1 + 1.0, f"healed after {took:.1f}s"

    # a field git sets, changed by another field manager (a plain apply would get HTTP 409):
    # git wins, and the drift-fix record names who changed it
    kubectl(kubeconfig, "-n", namespace, "patch", "configmap", "image-recognition-config",
            "--field-manager=kubectl-edit", "--type=merge", "-p", '{"data":{"thresholds.yaml":"min_accuracy: 0.1"}}')

    def taken_back() -> bool:
        data = json.loads(kubectl(kubeconfig, "-n", namespace, "get", "configmap", "image-recognition-config",
                                  "-o", "json"))["data"]
        return "min_accuracy: 0.92" in data["thresholds.yaml"]

    wait_for(taken_back, 4 * INTERVAL, "the conflicting edit to be healed")

    status, metrics = http_get(f"http://127.0.0.1:{port}/metrics")
    assert status == 200
    fixed = re.search(rf'^gitops_agent_drift_fixed_total\{{environment="{ENV}"\}} (\S+)$', metrics, re.MULTILINE)
    assert fixed is not None and float(fixed.group(1)) >= 2
    last = rf'^gitops_agent_last_success_timestamp_seconds\{{environment="{ENV}"\}} \S+$'
    assert re.search(last, metrics, re.MULTILINE)
    assert "# TYPE gitops_agent_syncs_total counter" in metrics

    # a new commit on the environment branch is rendered and deployed
    spec = repo / "workflows" / "image-recognition.yaml"
    spec.write_text(spec.read_text().replace("min_accuracy: 0.92", "min_accuracy: 0.95"))
    git(repo, "commit", "-q", "-am", "raise the accuracy bar")
    assert run(["compile", "--repo", str(repo), "--env", ENV, "--commit"]) == 0

    def deployed() -> bool:
        data = json.loads(kubectl(kubeconfig, "-n", namespace, "get", "configmap", "image-recognition-config",
                                  "-o", "json"))["data"]
        return any("min_accuracy: 0.95" in value for value in data.values())

    wait_for(deployed, 4 * INTERVAL, "the new revision")

    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=15) == 0

    # every sync and drift fix left a record in git (notes on the environment commits)
    notes = read_sync_notes(repo, ENV)
    assert {"sync", "drift-fix"} <= {note.event.value for note in notes}
    healed_by = [entry for note in notes for entry in note.drift
                 if entry["object"] == f"ConfigMap/{namespace}/image-recognition-config"]
    assert any(author["manager"] == "kubectl-edit" for entry in healed_by for author in entry["changedBy"])


def metric(port: int, name: str, **labels: str) -> float:
    _, text = http_get(f"http://127.0.0.1:{port}/metrics")
    wanted = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    found = re.search(rf"^{name}\{{{re.escape(wanted)}\}} (\S+)$", text, re.MULTILINE)
    return float(found.group(1)) if found else 0.0


def test_loop_survives_an_api_server_restart_and_a_git_remote_outage(tmp_path: Path, git_remote) -> None:  # type: ignore[no-untyped-def]
    env, namespace = f"faults{secrets.token_hex(3)}", f"ml-faults-{secrets.token_hex(3)}"
    cluster = start_cluster(tmp_path / "cluster")
    process = None
    try:
        with kube_api(cluster.kubeconfig) as api:
            install_crds(api)
        repo = git_remote.clone("agent")
        add_environment(repo, "dev", env, namespace)
        git(repo, "push", "-q", "origin", "main")
        assert run(["compile", "--repo", str(repo), "--env", env, "--commit", "--push"]) == 0
        log = (tmp_path / "loop.log").open("w+")
        process = subprocess.Popen(
            [str(Path(sys.executable).parent / "gitops-agent"), "reconcile", env, "--repo", str(repo),
             "--kubeconfig", str(cluster.kubeconfig), "--interval", "2s", "--metrics-port", "0"],
            stdout=subprocess.DEVNULL, stderr=log, text=True,
        )

        def port() -> int:
            log.seek(0)
            found = re.search(r"on port (\d+)", log.read())
            return int(found.group(1)) if found else 0

        wait_for(lambda: port() > 0, 30, "the status server")
        config = "image-recognition-config"
        wait_for(lambda: exists(cluster.kubeconfig, namespace, "configmap", config), 60, "the first sync")

        # the API server crashes and comes back: the loop counts the failures, backs off, heals
        cluster.stop_apiserver()
        wait_for(lambda: metric(port(), "gitops_agent_reconcile_errors_total", environment=env, source="cluster") >= 1,
                 30, "a failed round")
        cluster.start_apiserver()
        kubectl(cluster.kubeconfig, "-n", namespace, "delete", "configmap", config)
        wait_for(lambda: exists(cluster.kubeconfig, namespace, "configmap", config), 60, "healing after the restart")
        assert process.poll() is None

        # the git remote disappears: the last rendered state is still enforced
        hidden = git_remote.bare.with_name("hidden.git")
        git_remote.bare.rename(hidden)
        wait_for(lambda: metric(port(), "gitops_agent_reconcile_errors_total", environment=env, source="git") >= 1,
                 30, "a failed fetch")
        kubectl(cluster.kubeconfig, "-n", namespace, "delete", "configmap", config)
        wait_for(lambda: exists(cluster.kubeconfig, namespace, "configmap", config), 60, "healing without git")
        hidden.rename(git_remote.bare)
        assert http_get(f"http://127.0.0.1:{port()}/healthz")[0] == 200

        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=15) == 0
    finally:
        if process is not None and process.poll() is None:
            process.kill()
            process.wait()
        cluster.stop()


def test_a_taken_metrics_port_is_one_line_and_exit_3(dev_repo, kube_cluster, capsys) -> None:  # type: ignore[no-untyped-def]
    """The default port 8080 is often taken on a workstation: one clear line, never a traceback."""
    import socket

    repo, _ = dev_repo
    with socket.socket() as taken:
        taken.bind(("", 0))
        taken.listen()
        port = taken.getsockname()[1]
        code = run(["reconcile", ENV, "--repo", str(repo), "--kubeconfig", str(kube_cluster.kubeconfig),
                    "--interval", "30s", "--metrics-port", str(port)])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 3
    assert err[-1] == (
        f"error: --metrics-port: cannot listen on port {port}: address already in use (0: any free port; -1: none)"
    )
    assert not any("Traceback" in line or "internal error" in line for line in err)
