"""What a sync leaves in git: its record and the task runs it observed (git notes)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from gitops_agent.errors import GitOpsAgentError
from gitops_agent.history.notes import SyncEvent, SyncRecord, read_task_runs, record_runs, record_sync
from gitops_agent.reconcile.changeset import CHANGING, Action, ChangeSet
from gitops_agent.reconcile.runs import RunKey, TaskRun, latest_runs
from gitops_agent.spec.model import Environment

Warn = Callable[[str], None]


def sync_record(change_set: ChangeSet, *, event: SyncEvent, context: str | None) -> SyncRecord:
    """The one format of a sync record, whatever started the sync (sync, loop, rollback)."""
    changes = tuple(
        f"{c.action} {c.ref.api_version} {c.ref.kind} {c.ref.namespace + '/' if c.ref.namespace else ''}{c.ref.name}"
        + (f" (changed out of band by {c.authors()})" if c.changed_by else "")
        for c in change_set.changes
        if c.action in CHANGING or c.action is Action.ERROR
    )
    drift = tuple(
        {"object": str(c.ref), "changedBy": [author.to_json() for author in c.changed_by]}
        for c in change_set.changes
        if c.changed_by and c.action in CHANGING
    )
    return SyncRecord(
        summary=change_set.summary(),
        result="failed" if change_set.errors else "succeeded",
        event=event,
        context=context,
        changes=changes,
        health=str(change_set.health),
        drift=drift,
    )


def record(
    repo: Path,
    env: Environment,
    change_set: ChangeSet,
    *,
    context: str | None,
    event: SyncEvent = SyncEvent.SYNC,
    warn: Warn,
    with_runs: bool = False,
) -> None:
    """Append the sync record to the environment commit's note (with ``with_runs``, followed
    by the task runs the sync observed: one note write, one push); ``warn`` when git refuses."""
    if not change_set.revision:
        return
    entry = sync_record(change_set, event=event, context=context or env.context)
    runs = change_set.runs if with_runs else ()
    try:
        record_sync(repo, env.name, change_set.revision, entry, runs=runs)
    except GitOpsAgentError as error:
        warn(f"warning: the sync record was not written: {error}")
        if runs:
            warn(f"warning: {len(runs)} task-run record(s) were not written: {error}")


def recorded_runs(repo: Path, env: Environment) -> dict[RunKey, TaskRun]:
    """The newest recorded fact per task run of ``env`` (notes fetched from origin first)."""
    return latest_runs(read_task_runs(repo, env.name, fetch=True))


def record_observed_runs(repo: Path, env: Environment, change_set: ChangeSet, *, warn: Warn) -> None:
    """Keep the task-run facts a sync observed in git; ``warn`` when git refuses."""
    if not change_set.revision or not change_set.runs:
        return
    try:
        record_runs(repo, env.name, change_set.revision, change_set.runs)
    except GitOpsAgentError as error:
        warn(f"warning: {len(change_set.runs)} task-run record(s) were not written: {error}")
