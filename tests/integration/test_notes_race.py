"""Sync records as git notes: appended, never overwritten, and both survive a push race."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from gitops_agent.adapters import git_notes
from gitops_agent.history.notes import (
    SyncEvent,
    SyncRecord,
    default_user,
    read_sync_notes,
    record_sync,
    records_of,
)

pytestmark = pytest.mark.integration


def _git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout.strip()


def _identity(repo: Path, name: str) -> None:
    _git(repo, "config", "user.name", name)
    _git(repo, "config", "user.email", f"{name}@example.com")


@pytest.fixture
def remote_with_env_branch(tmp_path: Path) -> tuple[Path, str]:
    bare = tmp_path / "remote.git"
    _git(tmp_path, "init", "--quiet", "--bare", str(bare))
    seed = tmp_path / "seed"
    _git(tmp_path, "init", "--quiet", "-b", "main", str(seed))
    _identity(seed, "seed")
    (seed / "kustomization.yaml").write_text("resources: []\n")
    _git(seed, "add", ".")
    _git(seed, "commit", "--quiet", "-m", "env tree")
    _git(seed, "push", "--quiet", str(bare), "main:env/prod")
    return bare, _git(seed, "rev-parse", "HEAD")


def _clone(bare: Path, path: Path, name: str) -> Path:
    _git(path.parent, "clone", "--quiet", str(bare), str(path))
    _identity(path, name)
    return path


def test_records_append_and_never_overwrite(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GITHUB_ACTIONS", raising=False)
    repo = tmp_path / "repo"
    _git(tmp_path, "init", "--quiet", "-b", "main", str(repo))
    _identity(repo, "alice")
    (repo / "f").write_text("x\n")
    _git(repo, "add", ".")
    _git(repo, "commit", "--quiet", "-m", "one")
    record_sync(repo, "dev", "HEAD", SyncRecord(summary={"create": 2}, result="succeeded"))
    record_sync(
        repo,
        "dev",
        "HEAD",
        SyncRecord(
            summary={"update": 1},
            result="succeeded",
            event=SyncEvent.DRIFT_FIX,
            context="kind-dev",
            changes=("update apps/v1 Deployment dev/api",),
        ),
    )
    notes = read_sync_notes(repo, "dev")
    assert [n.event for n in notes] == [SyncEvent.SYNC, SyncEvent.DRIFT_FIX]
    assert notes[0].summary == {"create": 2}
    assert notes[1].context == "kind-dev"
    assert notes[1].changes == ("update apps/v1 Deployment dev/api",)
    assert notes[0].user == "alice <alice@example.com>"
    assert notes[0].revision == _git(repo, "rev-parse", "HEAD")
    raw = _git(repo, "notes", "--ref", "refs/notes/gitops-agent", "show", "HEAD")
    assert len(raw.splitlines()) == 2
    assert raw.splitlines()[0].startswith('{"time":')
    assert read_sync_notes(repo, "prod") == []
    assert [n.event for n in records_of(repo, "dev", "HEAD")] == [SyncEvent.SYNC, SyncEvent.DRIFT_FIX]
    assert records_of(repo, "prod", "HEAD") == []
    actions = {"GITHUB_ACTIONS": "true", "GITHUB_ACTOR": "octocat", "GITHUB_RUN_ID": "77"}
    assert default_user(repo, actions) == "octocat (GitHub Actions run 77)"
    assert default_user(repo, {}) == "alice <alice@example.com>"
    (repo / "f").write_text("y\n")
    _git(repo, "commit", "-q", "-am", "two")
    assert records_of(repo, "dev", "HEAD") == []
    assert len(records_of(repo, "dev", "HEAD~1")) == 2


def test_two_concurrent_syncs_survive_a_push_race(
    tmp_path: Path, remote_with_env_branch: tuple[Path, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    bare, sha = remote_with_env_branch
    merges: list[Path] = []
    real_merge = git_notes._merge_remote_notes

    def counting_merge(handle: Any, remote: str) -> bool:
        merges.append(Path(handle.working_dir))
        return real_merge(handle, remote)

    monkeypatch.setattr(git_notes, "_merge_remote_notes", counting_merge)
    clones = [_clone(bare, tmp_path / f"clone{i}", f"user{i}") for i in range(2)]
    rounds = 4
    barrier = threading.Barrier(len(clones))
    errors: list[BaseException] = []

    def writer(index: int, clone: Path) -> None:
        try:
            for round_ in range(rounds):
                barrier.wait()
                record_sync(
                    clone,
                    "prod",
                    sha,
                    SyncRecord(summary={"update": round_}, result=f"writer{index}-{round_}"),
                )
        except BaseException as error:  # surfaced below
            errors.append(error)
            barrier.abort()

    threads = [threading.Thread(target=writer, args=(i, c)) for i, c in enumerate(clones)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors

    checker = _clone(bare, tmp_path / "checker", "checker")
    notes = read_sync_notes(checker, "prod", fetch=True)
    results = sorted(n.result for n in notes)
    assert results == sorted(f"writer{i}-{r}" for i in range(2) for r in range(rounds))
    assert all(n.revision == sha for n in notes)
    remote_note = _git(bare, "notes", "--ref", "refs/notes/gitops-agent", "show", sha)
    assert len([line for line in remote_note.splitlines() if line.strip()]) == 2 * rounds
    assert merges, "no push was rejected: the race did not happen"


WRITER = """
import sys, time
from pathlib import Path
from gitops_agent.history.notes import SyncRecord, record_sync
clone, sha, name, start, rounds = sys.argv[1:6]
time.sleep(max(0.0, float(start) - time.time()))
for i in range(int(rounds)):
    record_sync(Path(clone), "prod", sha, SyncRecord(summary={"update": i}, result=f"{name}-{i}"))
"""


def test_two_sync_processes_racing_keep_every_record(tmp_path: Path, remote_with_env_branch: tuple[Path, str]) -> None:
    bare, sha = remote_with_env_branch
    root = Path(__file__).resolve().parents[2]
    clones = [_clone(bare, tmp_path / f"proc{i}", f"proc{i}") for i in range(2)]
    start = f"{time.time() + 1.5:.3f}"
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, str(clone), sha, f"proc{i}", start, "3"],
            cwd=root,
            env={**os.environ, "PYTHONPATH": str(root)},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i, clone in enumerate(clones)
    ]
    for proc in procs:
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
    lines = _git(bare, "notes", "--ref", "refs/notes/gitops-agent", "show", sha).splitlines()
    results = sorted(json.loads(line)["result"] for line in lines if line.strip())
    assert results == sorted(f"proc{i}-{r}" for i in range(2) for r in range(3))
    merges = _git(bare, "rev-list", "--merges", "refs/notes/gitops-agent").split()
    assert merges, "no notes merge happened: the pushes did not race"


def test_a_sync_record_and_its_task_runs_are_one_note_write_and_one_push(
    remote_with_env_branch: tuple[Path, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from gitops_agent.history.notes import read_task_runs
    from gitops_agent.reconcile.runs import RunOutcome, TaskRun

    monkeypatch.delenv("GITHUB_ACTIONS", raising=False)
    bare, sha = remote_with_env_branch
    clone = _clone(bare, tmp_path / "clone", "alice")
    _git(clone, "fetch", "--quiet", "origin", "env/prod")
    run = TaskRun("prod", "train-1a2b", "1a2b", RunOutcome.SUCCEEDED, "2026-01-01T00:00:00Z", task="train")
    record_sync(clone, "prod", sha, SyncRecord(summary={"create": 1}, result="succeeded"), runs=[run])
    lines = _git(bare, "notes", "--ref", "refs/notes/gitops-agent", "show", sha).splitlines()
    assert [json.loads(line)["event"] for line in lines] == ["sync", "task-run"]
    assert _git(bare, "rev-list", "--count", "refs/notes/gitops-agent") == "1"  # one notes commit pushed
    facts = read_task_runs(clone, "prod")
    assert [(f.job, f.outcome, f.user) for f in facts] == [
        ("train-1a2b", RunOutcome.SUCCEEDED, "alice <alice@example.com>")
    ]
