"""Sync records kept in git: one JSON line per sync in a note on the environment commit.

The note lives under ``refs/notes/gitops-agent`` on the environment-branch commit that was
synced. Each record is one JSON object on one line, ``time`` first, so lines sort
chronologically; records are appended, never overwritten, and concurrent writers in other
clones are merged with ``git notes merge -s cat_sort_uniq`` before the push is retried.

The call for ``sync`` and ``reconcile``::

    record_sync(repo: Path, env: str, revision: str, record: SyncRecord, *,
                push: bool = True) -> SyncNote

``repo`` is the GitOps repository holding the environment branch, ``env`` the environment
name, ``revision`` the environment commit that was applied (any ref naming it), ``record``
what happened (``SyncRecord(summary={"create": 1, ...}, result="succeeded",
event=SyncEvent.SYNC | SyncEvent.DRIFT_FIX | SyncEvent.ROLLBACK, context="prod",
changes=("update apps/v1 Deployment ml-prod/classifier", ...), health="Healthy")``; ``user``
and ``time`` default to the GitHub Actions actor or the git identity, and now). With ``push`` and an ``origin`` remote,
the notes ref is pushed. Returns the stored :class:`SyncNote`.

``records_of(repo, env, revision)`` reads back the records of one environment commit.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

from gitops_agent import __version__
from gitops_agent.adapters import git_notes
from gitops_agent.reconcile.runs import TaskRun, with_user
from gitops_agent.spec.model import frozen_map

NOTES_REF = git_notes.NOTES_REF


class SyncEvent(StrEnum):
    """What wrote the record."""

    SYNC = "sync"
    DRIFT_FIX = "drift-fix"
    ROLLBACK = "rollback"


@dataclass(frozen=True)
class SyncRecord:
    """What one sync did: change-set summary (action → count), result, and who/where/when."""

    summary: Mapping[str, int]
    result: str
    event: SyncEvent = SyncEvent.SYNC
    context: str | None = None
    changes: tuple[str, ...] = ()
    health: str | None = None
    user: str | None = None
    time: datetime | None = None
    drift: tuple[Mapping[str, Any], ...] = ()
    """Healed drift: ``{"object": "Kind/ns/name", "changedBy": [{"manager", "operation", "time"}]}``."""


@dataclass(frozen=True)
class SyncNote:
    """One stored record, as read back from the notes."""

    time: datetime
    event: SyncEvent
    environment: str
    revision: str
    context: str | None
    user: str
    result: str
    health: str | None = None
    summary: Mapping[str, int] = field(default_factory=frozen_map)
    changes: tuple[str, ...] = ()
    drift: tuple[Mapping[str, Any], ...] = ()

    def to_json(self) -> dict[str, Any]:
        """The record as a JSON object, ``time`` first (``drift`` only when there was some)."""
        document: dict[str, Any] = {
            "time": format_time(self.time),
            "event": self.event.value,
            "environment": self.environment,
            "revision": self.revision,
            "context": self.context,
            "user": self.user,
            "result": self.result,
            "health": self.health,
            "summary": dict(self.summary),
            "changes": list(self.changes),
        }
        if self.drift:
            document["drift"] = [dict(entry) for entry in self.drift]
        document["agentVersion"] = __version__
        return document


def format_time(moment: datetime) -> str:
    """UTC, ISO 8601, microseconds, ``Z``: lexical order is time order."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


def encode(note: SyncNote) -> str:
    """One JSON line (no newline inside)."""
    return json.dumps(note.to_json(), separators=(",", ":"), ensure_ascii=True)


def decode(line: str) -> SyncNote | None:
    """A stored line back into a record; None for lines that are not records."""
    try:
        raw = json.loads(line)
        return SyncNote(
            time=parse_time(str(raw["time"])),
            event=SyncEvent(raw["event"]),
            environment=str(raw["environment"]),
            revision=str(raw["revision"]),
            context=None if raw.get("context") is None else str(raw["context"]),
            user=str(raw.get("user", "")),
            result=str(raw.get("result", "")),
            health=None if raw.get("health") is None else str(raw["health"]),
            summary=frozen_map({str(k): int(v) for k, v in dict(raw.get("summary", {})).items()}),
            changes=tuple(str(c) for c in raw.get("changes", [])),
            drift=tuple(dict(entry) for entry in raw.get("drift", []) if isinstance(entry, dict)),
        )
    except (ValueError, KeyError, TypeError, AttributeError):
        return None


def default_user(repo: Path, environ: Mapping[str, str] | None = None) -> str:
    """Who a record names: in GitHub Actions the actor who triggered the run, else the git identity."""
    env = os.environ if environ is None else environ
    if env.get("GITHUB_ACTIONS") == "true" and env.get("GITHUB_ACTOR"):
        return f"{env['GITHUB_ACTOR']} (GitHub Actions run {env.get('GITHUB_RUN_ID', '?')})"
    return git_notes.current_user(repo)


def record_sync(
    repo: Path, env: str, revision: str, record: SyncRecord, *, runs: Sequence[TaskRun] = (), push: bool = True
) -> SyncNote:
    """Append ``record`` (then the task-run facts ``runs``, as :func:`record_runs` writes them)
    to the note on ``revision`` in one write, and push the notes once when a remote exists."""
    sha = git_notes.resolve_commit(repo, revision)
    note = SyncNote(
        time=record.time or datetime.now(UTC),
        event=record.event,
        environment=env,
        revision=sha,
        context=record.context,
        user=record.user or default_user(repo),
        result=record.result,
        health=record.health,
        summary=frozen_map(dict(record.summary)),
        changes=tuple(record.changes),
        drift=tuple(record.drift),
    )
    run_lines = [encode_run(env, run) for run in with_user(runs, note.user)] if runs else []
    git_notes.append_note_lines(repo, sha, [encode(note), *run_lines])
    if push and git_notes.has_remote(repo):
        git_notes.push_notes(repo)
    return note


def read_sync_notes(repo: Path, env: str | None = None, *, fetch: bool = False) -> list[SyncNote]:
    """Every stored record (of ``env`` when given), oldest first."""
    if fetch:
        git_notes.fetch_notes(repo)
    notes: list[SyncNote] = []
    for text in git_notes.list_notes(repo).values():
        for line in text.splitlines():
            note = decode(line) if line.strip() else None
            if note is not None and (env is None or note.environment == env):
                notes.append(note)
    return sorted(notes, key=lambda n: (n.time, n.environment, n.revision))


def records_of(repo: Path, env: str, revision: str) -> list[SyncNote]:
    """The records of ``env`` on one environment commit, oldest first (one ``git notes show``).

    A loop starting fresh can tell a drift fix from a first sync with it: when the revision
    already has a succeeded record, a change it has to make now is drift.
    """
    sha = git_notes.resolve_commit(repo, revision)
    found = [decode(line) for line in git_notes.read_note(repo, sha).splitlines() if line.strip()]
    return sorted((n for n in found if n is not None and n.environment == env), key=lambda n: n.time)


TASK_RUN_EVENT = "task-run"
"""The ``event`` of a task-run fact line (sync records ignore such lines, and vice versa)."""


def encode_run(env: str, run: TaskRun) -> str:
    """One JSON line for a task-run fact, ``time`` first like sync records."""
    document = {"time": run.time, "event": TASK_RUN_EVENT, "environment": env, **run.to_json()}
    return json.dumps(document, separators=(",", ":"), ensure_ascii=True)


def decode_run(line: str) -> tuple[str, TaskRun] | None:
    """(environment, fact) from a stored line; None for lines that are not task-run facts."""
    try:
        raw = json.loads(line)
        if not isinstance(raw, dict) or raw.get("event") != TASK_RUN_EVENT:
            return None
        return str(raw["environment"]), TaskRun.from_json({**raw, "observed": raw.get("time", "")})
    except (ValueError, KeyError, TypeError):
        return None


def record_runs(repo: Path, env: str, revision: str, runs: Sequence[TaskRun], *, push: bool = True) -> None:
    """Append task-run facts to the note on ``revision`` (the environment commit that was
    deployed) and push the notes when a remote exists. ``user`` defaults as for sync records."""
    if not runs:
        return
    sha = git_notes.resolve_commit(repo, revision)
    user = default_user(repo)
    lines = [encode_run(env, run) for run in with_user(runs, user)]
    git_notes.append_note_lines(repo, sha, lines)
    if push and git_notes.has_remote(repo):
        git_notes.push_notes(repo)


def read_task_runs(repo: Path, env: str, *, fetch: bool = False) -> list[TaskRun]:
    """Every task-run fact of ``env`` in the notes, oldest first (``fetch``: from origin first)."""
    return [fact for name, fact in read_all_task_runs(repo, fetch=fetch) if name == env]


def read_all_task_runs(repo: Path, *, fetch: bool = False) -> list[tuple[str, TaskRun]]:
    """(environment, fact) for every task-run fact in the notes, oldest first."""
    if fetch and git_notes.has_remote(repo):
        git_notes.fetch_notes(repo)
    facts: list[tuple[str, TaskRun]] = []
    for text in git_notes.list_notes(repo).values():
        for line in text.splitlines():
            decoded = decode_run(line) if line.strip() else None
            if decoded is not None:
                facts.append(decoded)
    return sorted(facts, key=lambda item: item[1].time)
