"""``diff``/``sync`` exit codes and one-line errors, with a real repository and kustomize."""

from __future__ import annotations

import json
import secrets
import socket
from pathlib import Path

import pytest

from gitops_agent.cli import run
from tests.integration.reconcile_helpers import add_environment, delete_namespaces
from tests.support.gitrepos import make_gitops_repo

pytestmark = pytest.mark.integration


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def kubeconfig_for(tmp_path: Path, server: str) -> Path:
    config = {
        "apiVersion": "v1", "kind": "Config", "current-context": "nowhere",
        "clusters": [{"name": "nowhere", "cluster": {"server": server, "insecure-skip-tls-verify": True}}],
        "users": [{"name": "someone", "user": {"token": "t"}}],
        "contexts": [{"name": "nowhere", "context": {"cluster": "nowhere", "user": "someone"}}],
    }
    path = tmp_path / "kubeconfig"
    path.write_text(json.dumps(config))
    return path


ENV = f"cli{secrets.token_hex(3)}"


@pytest.fixture(scope="module")
def compiled_repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    repo = make_gitops_repo(tmp_path_factory.mktemp("cli") / "repo")
    add_environment(repo, "dev", ENV, f"ml-{ENV}")
    assert run(["compile", "--repo", str(repo), "--env", ENV, "--commit"]) == 0
    return repo


@pytest.mark.parametrize("command", ["diff", "sync"])
def test_unreachable_cluster_is_one_clear_line_and_exit_3(  # type: ignore[no-untyped-def]
    compiled_repo: Path, tmp_path: Path, capsys, command: str
) -> None:
    server = f"https://127.0.0.1:{closed_port()}"
    kubeconfig = kubeconfig_for(tmp_path, server)
    capsys.readouterr()
    code = run([command, ENV, "--repo", str(compiled_repo), "--kubeconfig", str(kubeconfig)])
    out, err = capsys.readouterr()
    assert code == 3
    assert err.strip() == f"error: cluster unreachable at {server}: connection refused"
    assert out == ""


def test_unknown_environment_and_bad_timeout_are_exit_2(compiled_repo: Path, tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    kubeconfig = kubeconfig_for(tmp_path, "https://127.0.0.1:1")
    assert run(["diff", "nope", "--repo", str(compiled_repo), "--kubeconfig", str(kubeconfig)]) == 2
    assert "environment 'nope' not found" in capsys.readouterr().err
    code = run(["sync", ENV, "--wait", "--timeout", "soon", "--repo", str(compiled_repo),
                "--kubeconfig", str(kubeconfig)])
    assert code == 2
    assert "--timeout soon" in capsys.readouterr().err


def test_diff_exit_1_and_sync_dry_run_exit_1_write_nothing(compiled_repo: Path, kube_cluster, capsys) -> None:  # type: ignore[no-untyped-def]
    args = ["--repo", str(compiled_repo), "--kubeconfig", str(kube_cluster.kubeconfig)]
    capsys.readouterr()
    assert run(["diff", ENV, *args]) == 1
    assert f"+ create    Namespace/ml-{ENV} (wave 0)" in capsys.readouterr().out
    assert run(["sync", ENV, "--dry-run", "-o", "json", *args]) == 1
    document = json.loads(capsys.readouterr().out)
    assert document["summary"]["create"] > 10
    assert {c["action"] for c in document["changes"]} == {"create"}
    # nothing was written: the namespace still does not exist
    assert run(["diff", ENV, "-o", "json", *args]) == 1
    again = json.loads(capsys.readouterr().out)
    assert again["summary"] == document["summary"]


def test_sync_wait_reports_every_object_and_times_out_with_exit_3(compiled_repo: Path, kube_cluster, capsys) -> None:  # type: ignore[no-untyped-def]
    args = ["--repo", str(compiled_repo), "--kubeconfig", str(kube_cluster.kubeconfig)]
    capsys.readouterr()
    try:
        # 4 s is shorter than the tasks take to run one after another on the simulated nodes
        code = run(["sync", ENV, "--wait", "--timeout", "4s", *args])
        out, err = capsys.readouterr()
        assert code == 3
        assert "= unchanged" not in out  # first sync: everything is created
        assert f"+ create    Namespace/ml-{ENV} (wave 0) [Healthy]" in out
        assert "[Progressing]" in out
        assert "not healthy before the timeout" in err or "timed out" in err
    finally:
        delete_namespaces(kube_cluster.kubeconfig, f"ml-{ENV}")


def test_sync_finished_in_counts_the_whole_command(compiled_repo: Path, kube_cluster, capsys) -> None:  # type: ignore[no-untyped-def]
    """The "finished in" line is what the person waited for: from the process's start (here a
    no-op sync, started 3 s after its interpreter), not just the engine's part."""
    import re
    import subprocess
    import sys
    import time

    args = ["--repo", str(compiled_repo), "--kubeconfig", str(kube_cluster.kubeconfig)]
    try:
        assert run(["sync", ENV, *args]) == 0
        capsys.readouterr()
        script = ("import sys, time; time.sleep(3)\n"
                  "from gitops_agent.cli import main\n"
                  f"sys.argv = ['gitops-agent', 'sync', {ENV!r}] + {args!r}\n"
                  "main()\n")
        started = time.monotonic()
        proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=False)
        waited = time.monotonic() - started
        assert proc.returncode == 0, proc.stderr
        found = re.search(rf"sync of {ENV} finished in (\d+\.\d)s", proc.stderr)
        assert found, proc.stderr
        assert 3.0 <= float(found.group(1)) <= waited + 0.1
    finally:
        delete_namespaces(kube_cluster.kubeconfig, f"ml-{ENV}")
