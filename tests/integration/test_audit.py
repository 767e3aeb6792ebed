"""`audit`: spec commits → environment commits → syncs, drift fixes, rollbacks and proposals."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from gitops_agent.notes import SyncEvent, SyncRecord, record_sync
from tests.integration.history_helpers import History, make_history, tick
from tests.support.gitrepos import git

pytestmark = pytest.mark.integration


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
