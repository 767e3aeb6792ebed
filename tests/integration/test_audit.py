"""`audit`: spec commits → environment commits → syncs, drift fixes, rollbacks and proposals."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from gitops_agent.history.notes import SyncEvent, SyncRecord, read_sync_notes, record_sync
from tests.integration.history_helpers import History, make_history, tick
from tests.support.gitrepos import git
from tools.testcluster.launcher import RunningCluster

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]


def _audit(h: History, capsys: pytest.CaptureFixture[str], *args: str) -> list[dict[str, Any]]:
    capsys.readouterr()
    assert h.cli("audit", *args, "-o", "json") == 0
    events: list[dict[str, Any]] = json.loads(capsys.readouterr().out)["events"]
    return events


def _propose(h: History, day: str) -> str:
    """An optimization proposal: a commit on its own branch, as `optimize` writes it."""
    branch = f"gitops-agent/optimize/{h.env}-{day}"
    git(h.repo, "switch", "-q", "-c", branch)
    env_file = h.repo / "environments" / f"{h.env}.yaml"
    env_file.write_text(env_file.read_text().replace("{replicas: 3}", "{replicas: 2}"))
    git(
        h.repo,
        "commit",
        "-q",
        "-am",
        f"optimize({h.env}): 1 change(s) from 7d of Prometheus history\n\n"
        f"Gitops-Agent-Environment: {h.env}\nGitops-Agent-Window: 7d",
    )
    sha = git(h.repo, "rev-parse", "HEAD")
    git(h.repo, "switch", "-q", "main")
    return sha


def test_timeline_joins_specs_environment_commits_notes_and_proposals(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    env = "audit-dev"
    h = make_history(tmp_path, env, tmp_path / "no-kubeconfig")
    spec1 = git(h.repo, "rev-parse", "HEAD")
    tick()
    env1 = h.compile()
    tick()
    record_sync(h.repo, env, env1, SyncRecord(summary={"create": 4}, result="succeeded", context="kind-a"))
    tick()
    spec2 = h.change_spec(tag="1.2", replicas=3, message="echo 1.2")
    tick()
    env2 = h.compile()
    tick()
    record_sync(h.repo, env, env2, SyncRecord(summary={"update": 1}, result="succeeded"))
    tick()
    record_sync(h.repo, env, env2, SyncRecord(summary={"update": 1}, result="succeeded", event=SyncEvent.DRIFT_FIX))
    tick()
    proposal = _propose(h, "20261125")
    tick()
    assert h.cli("rollback", env, "--to", env1, "--no-sync") == 0
    env3 = h.branch_head()
    tick()
    record_sync(h.repo, env, env3, SyncRecord(summary={"update": 1}, result="succeeded", event=SyncEvent.ROLLBACK))

    events = _audit(h, capsys, env)
    assert [(e["kind"], e["commit"]) for e in events] == [
        ("rollback-sync", env3),
        ("rollback", env3),
        ("optimize-proposal", proposal),
        ("drift-fix", env2),
        ("sync", env2),
        ("compile", env2),
        ("spec-commit", spec2),
        ("sync", env1),
        ("compile", env1),
        ("spec-commit", spec1),
    ]
    by_kind = {(e["kind"], e["commit"]): e for e in events}
    assert by_kind[("compile", env2)]["source_commit"] == spec2
    assert by_kind[("compile", env1)]["source_commit"] == spec1
    assert by_kind[("sync", env2)]["source_commit"] == spec2
    assert by_kind[("rollback", env3)]["details"]["rollback_to"] == env1
    assert by_kind[("rollback", env3)]["source_commit"] == spec1
    assert by_kind[("rollback-sync", env3)]["source_commit"] == spec1
    assert by_kind[("sync", env1)]["details"]["context"] == "kind-a"
    assert by_kind[("sync", env1)]["details"]["summary"] == {"create": 4}
    assert by_kind[("spec-commit", spec2)]["message"] == "echo 1.2"
    assert by_kind[("spec-commit", spec2)]["details"]["environments"] == [env]
    assert by_kind[("spec-commit", spec1)]["author"] == "Spec Author <author@example.com>"
    assert by_kind[("optimize-proposal", proposal)]["environment"] == env
    assert all(e["environment"] == env for e in events if e["kind"] != "spec-commit")
    times = [e["time"] for e in events]
    assert times == sorted(times, reverse=True)

    # A fresh clone sees the same history: branches and notes come from origin.
    git(h.repo, "push", "-q", "origin", "gitops-agent/optimize/audit-dev-20261125")
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(h.bare), str(clone))
    clone_history = History(clone, h.bare, env, h.kubeconfig)
    assert [(e["kind"], e["commit"]) for e in _audit(clone_history, capsys, env)] == [
        (e["kind"], e["commit"]) for e in events
    ]


def test_environment_filter_keeps_its_own_spec_changes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    h = make_history(tmp_path, "audit-filter", tmp_path / "no-kubeconfig")
    first = git(h.repo, "rev-parse", "HEAD")
    h.compile()
    tick()
    pinned = h.change_spec(tag="2.0", replicas=1, message="pin echo 2.0 (not compiled yet)")
    workflow = h.repo / "workflows" / "echo.yaml"
    workflow.write_text(workflow.read_text().replace("cpu: 50m", "cpu: 60m"))
    git(h.repo, "commit", "-q", "-am", "more CPU for echo (not compiled yet)")
    other = git(h.repo, "rev-parse", "HEAD")
    spec_commits = [e["commit"] for e in _audit(h, capsys, "audit-filter") if e["kind"] == "spec-commit"]
    assert spec_commits == [pinned, first]
    everything = [e["commit"] for e in _audit(h, capsys) if e["kind"] == "spec-commit"]
    assert everything == [other, pinned, first]


def test_since_and_unknown_environment(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    h = make_history(tmp_path, "audit-since", tmp_path / "no-kubeconfig")
    h.compile()
    assert len(_audit(h, capsys, "--since", "1h")) == 2
    assert _audit(h, capsys, "--since", "2999-01-01") == []
    assert h.cli("audit", "nowhere") == 2
    assert h.cli("audit", "--since", "yesterday-ish") == 2
    capsys.readouterr()
    assert h.cli("audit") == 0
    text = capsys.readouterr().out
    assert "compile" in text and "spec-commit" in text


@dataclass
class LoopProcess:
    """A running `gitops-agent reconcile ENV` process and what it printed."""

    proc: subprocess.Popen[str]
    env: str
    lines: list[str] = field(default_factory=list)
    port: int | None = None

    @property
    def log(self) -> str:
        return "".join(self.lines)

    def drain(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.lines.append(line)
            found = re.search(r"serving /metrics and /healthz on port (\d+)", line)
            if found:
                self.port = int(found.group(1))

    def wait_rounds(self, count: int) -> None:
        """Until the loop has completed ``count`` rounds (from its /metrics)."""
        pattern = re.compile(
            r"^gitops_agent_sync_duration_seconds_count\{environment=\"" + re.escape(self.env) + r"\"\} (\S+)$",
            re.MULTILINE,
        )
        deadline = time.monotonic() + 60
        while True:
            assert self.proc.poll() is None, self.log
            assert time.monotonic() < deadline, self.log
            if self.port is not None:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/metrics") as answer:
                    found = pattern.search(answer.read().decode())
                if found and float(found.group(1)) >= count:
                    return
            time.sleep(0.1)


@contextmanager
def reconcile_loop(h: History) -> Iterator[LoopProcess]:
    """`gitops-agent reconcile ENV` in its own process, stopped with SIGTERM afterwards."""
    command = [
        sys.executable,
        "-c",
        "from gitops_agent.cli import main; main()",
        "reconcile",
        h.env,
        "--interval",
        "1s",
        "--metrics-port",
        "0",
        "--repo",
        str(h.repo),
        "--kubeconfig",
        str(h.kubeconfig),
    ]
    proc = subprocess.Popen(
        command,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    loop = LoopProcess(proc, h.env)
    reader = threading.Thread(target=loop.drain, daemon=True)
    reader.start()
    try:
        yield loop
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        finally:
            if proc.poll() is None:
                proc.kill()
        reader.join(timeout=5)


def test_audit_after_real_syncs_drift_fix_and_rollback(
    kube_cluster: RunningCluster,
    namespace: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    h = make_history(tmp_path, namespace, kube_cluster.kubeconfig)
    spec1 = git(h.repo, "rev-parse", "HEAD")
    tick()
    env1 = h.compile()
    tick()
    h.sync()
    tick()
    spec2 = h.change_spec(tag="1.2", replicas=3, message="echo 1.2")
    tick()
    env2 = h.compile()
    tick()
    h.sync()
    tick()
    with reconcile_loop(h) as loop:
        loop.wait_rounds(1)  # one quiet round: the loop has seen the synced revision
        h.kubectl("scale", "deployment", "echo", "--replicas=5")
        deadline = time.monotonic() + 90
        while not any(n.event is SyncEvent.DRIFT_FIX for n in read_sync_notes(h.repo)):
            assert time.monotonic() < deadline, f"the loop did not fix the drift:\n{loop.log}"
            time.sleep(0.2)
    drift_notes = [n for n in read_sync_notes(h.repo) if n.event is SyncEvent.DRIFT_FIX]
    assert [n.result for n in drift_notes] == ["succeeded"], drift_notes
    assert h.live_image_and_replicas() == ("registry.example.com/echo:1.2", 3)
    tick()
    assert h.cli("rollback", namespace, "--to", env1, "--kubeconfig", str(h.kubeconfig)) == 0
    env3 = h.branch_head()

    events = _audit(h, capsys, namespace)
    assert [(e["kind"], e["commit"]) for e in events] == [
        ("rollback-sync", env3),
        ("rollback", env3),
        ("drift-fix", env2),
        ("sync", env2),
        ("compile", env2),
        ("spec-commit", spec2),
        ("sync", env1),
        ("compile", env1),
        ("spec-commit", spec1),
    ]
    drift = next(e for e in events if e["kind"] == "drift-fix")
    assert drift["details"]["summary"].get("update") == 1
    assert any("Deployment" in change for change in drift["details"]["changes"])
