"""One result type for diff, sync and prune: the change set (the JSON of ``diff``/``sync -o json``).

Compatible extensions of the documented format:

- ``fields``: an update's changed fields as paths with old and new values (Secrets masked);
  a task's new Job lists its fields against the task's previous Job;
- ``risks``: the risk summary lines (see ``review.risk_summary``);
- ``changedBy`` on drifted objects: the field managers whose out-of-band edits the sync
  undoes, with operation and time;
- ``runs``: task-run facts observed;
- the actions ``completed`` (a Job git declares, finished as recorded, and gone: not created
  again), ``waiting`` (a task's dependencies have not succeeded yet), ``blocked`` (a dependency
  failed) and ``error`` (the API server refused this object, e.g. HTTP 403 or a field-manager
  conflict); entries with these actions, and every entry where there is something to say,
  carry a ``message``; each entry may carry its object's ``health``; the ``health`` section may
  list ``objects`` that are not Healthy.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum
from functools import cached_property
from typing import Any

from gitops_agent.reconcile.diff import DiffResult
from gitops_agent.reconcile.fieldset import ManagerEntry
from gitops_agent.reconcile.health import HealthStatus, worst
from gitops_agent.reconcile.review import FieldChange, Reviewed, field_changes, project, risk_summary
from gitops_agent.reconcile.runs import TaskRun
from gitops_agent.vocabulary.objects import Manifest, ObjectRef


class Action(StrEnum):
    CREATE = "create"
    UPDATE = "update"
    DELETE = "delete"
    UNCHANGED = "unchanged"
    WAITING = "waiting"
    BLOCKED = "blocked"
    ERROR = "error"
    COMPLETED = "completed"
    """A Job git declares that finished (a recorded fact) and is gone: not created again."""


CHANGING = frozenset({Action.CREATE, Action.UPDATE, Action.DELETE})


@dataclass(frozen=True)
class Change:
    """What happens (or would happen) to one object."""

    ref: ObjectRef
    action: Action
    wave: int
    text: str = ""
    message: str = ""
    health: HealthStatus | None = None
    sides: DiffResult | None = field(default=None, compare=False, repr=False)
    """Both sides of the difference; the unified diff is made from them when first asked."""
    changed_by: tuple[ManagerEntry, ...] = ()
    """For drift: the field managers whose out-of-band edits git undoes, newest first."""
    previous: Manifest | None = field(default=None, compare=False, repr=False)
    """For a task's new Job: the live Job of an earlier revision of that task (noise-free); for
    a re-run, the finished Job it replaces."""
    rerun: bool = False
    """The Job is deleted and created again (a re-run request or a changed immutable template)."""

    @cached_property
    def fields(self) -> tuple[FieldChange, ...]:
        """Changed fields (updates; a task's re-run against its previous Job), Secrets masked."""
        if self.previous is not None and self.sides is not None and self.sides.predicted is not None:
            # only what git sets, without the identity that differs by design
            new = {k: v for k, v in self.sides.predicted.items() if k != "metadata"}
            return field_changes(project(self.previous, new), new)
        if self.action is Action.UPDATE and self.sides is not None:
            return field_changes(self.sides.live, self.sides.predicted)
        return ()

    def reviewed(self) -> Reviewed:
        action = "re-run" if self.previous is not None or self.rerun else str(self.action)
        ref = self.ref
        return Reviewed(action, ref.group, ref.kind, ref.namespace, ref.name, self.fields)

    @cached_property
    def diff(self) -> str:
        """The unified diff (Secret values masked)."""
        if self.text or self.sides is None:
            return self.text
        return self.sides.unified()

    def with_action(self, action: Action, message: str = "") -> Change:
        return replace(self, action=action, message=message or self.message)

    def to_json(self) -> dict[str, Any]:
        entry: dict[str, Any] = {
            "action": str(self.action),
            "group": self.ref.group,
            "version": self.ref.version,
            "kind": self.ref.kind,
            "namespace": self.ref.namespace,
            "name": self.ref.name,
            "diff": self.diff,
            "wave": self.wave,
        }
        if self.message:
            entry["message"] = self.message
        if self.health is not None:
            entry["health"] = str(self.health)
        if self.changed_by:
            entry["changedBy"] = [author.to_json() for author in self.changed_by]
        if self.fields:
            entry["fields"] = [change.to_json() for change in self.fields]
        return entry

    def authors(self) -> str:
        """``kubectl-edit (Update, 2026-11-30T10:00:00Z)``, comma-separated; empty when unknown."""
        return ", ".join(f"{a.manager} ({a.operation}, {a.time or 'time unknown'})" for a in self.changed_by)


@dataclass(frozen=True)
class ChangeSet:
    """Every object's change in one environment at one revision."""

    environment: str
    revision: str
    changes: tuple[Change, ...]
    health: HealthStatus = HealthStatus.HEALTHY
    notes: tuple[str, ...] = field(default=())
    runs: tuple[TaskRun, ...] = field(default=())
    """Task-run facts this run observed (Jobs started, succeeded or failed) for the caller to record."""

    @property
    def has_changes(self) -> bool:
        return any(change.action in CHANGING for change in self.changes)

    @property
    def errors(self) -> tuple[Change, ...]:
        return tuple(c for c in self.changes if c.action in (Action.ERROR, Action.BLOCKED))

    def risks(self, *, prune: bool | None = None) -> list[str]:
        """The risk summary of what this change set changes (see ``review.risk_summary``)."""
        return risk_summary((c.reviewed() for c in self.changes if c.action in CHANGING), prune=prune)

    def summary(self) -> dict[str, int]:
        counts = {str(action): 0 for action in (Action.CREATE, Action.UPDATE, Action.DELETE, Action.UNCHANGED)}
        for change in self.changes:
            counts[str(change.action)] = counts.get(str(change.action), 0) + 1
        return counts

    def to_json(self) -> dict[str, Any]:
        unhealthy = [
            {
                "kind": c.ref.kind,
                "namespace": c.ref.namespace,
                "name": c.ref.name,
                "status": str(c.health),
            }
            for c in self.changes
            if c.health is not None and c.health is not HealthStatus.HEALTHY
        ]
        health: dict[str, Any] = {"status": str(self.health)}
        if unhealthy:
            health["objects"] = unhealthy
        document: dict[str, Any] = {
            "environment": self.environment,
            "revision": self.revision,
            "changes": [change.to_json() for change in self.changes],
            "summary": self.summary(),
            "health": health,
        }
        if self.notes:
            document["notes"] = list(self.notes)
        if self.runs:
            document["runs"] = [run.to_json() for run in self.runs]
        risks = self.risks()
        if risks:
            document["risks"] = risks
        return document


def overall_health(statuses: Iterable[HealthStatus | None]) -> HealthStatus:
    """The worst status, leaving out objects of kinds without a health rule (Unknown), as
    Argo CD leaves resources without a health check out of an application's health."""
    return worst(status for status in statuses if status is not None and status is not HealthStatus.UNKNOWN)


def by_ref(changes: Iterable[Change]) -> Mapping[tuple[str, str, str, str], Change]:
    return {change.ref.key: change for change in changes}
