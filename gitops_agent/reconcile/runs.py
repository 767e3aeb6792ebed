"""Task runs as facts: a Job that finished is remembered (in git, by the caller), so a Job that
git still declares and that disappeared after finishing — TTL cleanup, a person's delete, history
pruning, a rebuilt cluster — is not created again for the same identity.

A run's identity is ``(namespace, Job name, template hash)``: the hash is of the Job's pod
template as git holds it (stamped as ``gitops-agent.io/template-hash``), so a changed spec is a
new identity and runs. Pure functions; reading and writing the facts is the caller's job.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from gitops_agent.reconcile.health import HealthStatus, health_of
from gitops_agent.vocabulary.labels import PART_OF_LABEL, TASK_LABEL, TEMPLATE_HASH_ANNOTATION
from gitops_agent.vocabulary.objects import Manifest, annotations_of, labels_of, ref_of

RunKey = tuple[str, str, str]
"""(namespace, Job name, template hash)."""


class RunOutcome(StrEnum):
    STARTED = "started"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    RERUN = "rerun-requested"
    """A person asked for the run to happen again (``gitops-agent rerun``)."""


FINISHED = frozenset({RunOutcome.SUCCEEDED, RunOutcome.FAILED})


@dataclass(frozen=True)
class TaskRun:
    """One fact about one run. Times are RFC 3339 UTC strings (empty when unknown)."""

    namespace: str
    job: str
    template_hash: str
    outcome: RunOutcome
    time: str
    """When the fact was observed."""
    task: str = ""
    workflow: str = ""
    started: str = ""
    finished: str = ""
    reason: str = ""
    revision: str = ""
    """The environment commit that was deployed when the fact was observed."""
    user: str = ""

    @property
    def key(self) -> RunKey:
        return (self.namespace, self.job, self.template_hash)

    @property
    def duration_seconds(self) -> float | None:
        """Seconds from start to finish, when both are known."""
        if not (self.started and self.finished):
            return None
        return (_parse(self.finished) - _parse(self.started)).total_seconds()

    def to_json(self) -> dict[str, Any]:
        document = {
            "namespace": self.namespace,
            "job": self.job,
            "templateHash": self.template_hash,
            "outcome": self.outcome.value,
            "observed": self.time,
            "task": self.task,
            "workflow": self.workflow,
            "started": self.started,
            "finished": self.finished,
            "reason": self.reason,
            "revision": self.revision,
            "user": self.user,
        }
        return {k: v for k, v in document.items() if v != ""}

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> TaskRun:
        """Raises ``KeyError``/``ValueError`` for a record that is not a run."""
        return cls(
            namespace=str(raw["namespace"]),
            job=str(raw["job"]),
            template_hash=str(raw["templateHash"]),
            outcome=RunOutcome(raw["outcome"]),
            time=str(raw.get("observed", "")),
            task=str(raw.get("task", "")),
            workflow=str(raw.get("workflow", "")),
            started=str(raw.get("started", "")),
            finished=str(raw.get("finished", "")),
            reason=str(raw.get("reason", "")),
            revision=str(raw.get("revision", "")),
            user=str(raw.get("user", "")),
        )


def _parse(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def now() -> str:
    """RFC 3339 UTC with microseconds (facts of one run are ordered by it)."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def template_hash(job: Mapping[str, Any]) -> str:
    """12 hex digits of SHA-256 over the canonical JSON of ``spec.template`` as git holds it."""
    template = (job.get("spec") or {}).get("template") or {}
    canonical = json.dumps(template, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:12]


def run_key(job: Mapping[str, Any]) -> RunKey:
    """The identity of a Job's run (its stamped hash, else the hash of its template)."""
    ref = ref_of(job)
    stamped = annotations_of(job).get(TEMPLATE_HASH_ANNOTATION)
    return (ref.namespace, ref.name, str(stamped) if stamped else template_hash(job))


def latest_runs(facts: Iterable[TaskRun]) -> dict[RunKey, TaskRun]:
    """The newest fact per identity (by observation time; later facts win ties)."""
    latest: dict[RunKey, TaskRun] = {}
    for fact in sorted(facts, key=lambda f: f.time):
        latest[fact.key] = fact
    return latest


def _describe(job: Mapping[str, Any]) -> tuple[str, str]:
    labels = labels_of(job)
    return str(labels.get(TASK_LABEL, "")), str(labels.get(PART_OF_LABEL, ""))


def observe(live: Mapping[str, Any], known: Mapping[RunKey, TaskRun], revision: str) -> TaskRun | None:
    """A new fact when a live Job finished and that is not recorded yet; else None (also while
    a re-run is requested: the Job still there is the run being replaced)."""
    health = health_of("batch", "Job", live).status
    if health is HealthStatus.HEALTHY:
        outcome = RunOutcome.SUCCEEDED
    elif health is HealthStatus.DEGRADED:
        outcome = RunOutcome.FAILED
    else:
        return None
    key = run_key(live)
    previous = known.get(key)
    if previous is not None and previous.outcome in (outcome, RunOutcome.RERUN):
        return None  # known, or the finished run that a re-run request replaces
    status = live.get("status") or {}
    conditions = {str(c.get("type")): c for c in status.get("conditions") or () if isinstance(c, Mapping)}
    failed = conditions.get("Failed") or {}
    finished = status.get("completionTime") or failed.get("lastTransitionTime") or ""
    reason = "" if outcome is RunOutcome.SUCCEEDED else ": ".join(
        str(part) for part in (failed.get("reason"), failed.get("message")) if part
    )
    task, workflow = _describe(live)
    return TaskRun(
        namespace=key[0],
        job=key[1],
        template_hash=key[2],
        outcome=outcome,
        time=now(),
        task=task,
        workflow=workflow,
        started=str(status.get("startTime") or ""),
        finished=str(finished),
        reason=reason,
        revision=revision,
    )


def started(job: Mapping[str, Any], revision: str) -> TaskRun:
    """The fact that gitops-agent created ``job`` now."""
    key = run_key(job)
    task, workflow = _describe(job)
    return TaskRun(key[0], key[1], key[2], RunOutcome.STARTED, now(), task, workflow, now(), revision=revision)


def stand_in(desired: Manifest, run: TaskRun) -> Manifest:
    """What a finished Job's status said, for gating and health once the Job is gone.

    A run seen starting whose Job its TTL removed counts as failed: it finished, but its
    outcome is unknown, so its dependents do not proceed on a guess.
    """
    succeeded = run.outcome is RunOutcome.SUCCEEDED
    condition = {"type": "Complete" if succeeded else "Failed", "status": "True"}
    if not succeeded:
        condition["reason"] = run.reason or "OutcomeUnknown"
    return {**desired, "status": {"conditions": [condition]}}


def recorded_end(run: TaskRun) -> str:
    """The message a diff shows for a Job that finished and is gone."""
    if run.outcome is RunOutcome.SUCCEEDED:
        when = f" at {run.finished}" if run.finished else ""
        return f"succeeded{when} (recorded; the Job was removed after it finished)"
    if run.outcome is RunOutcome.FAILED:
        return f"failed{': ' + run.reason if run.reason else ''} (recorded); `gitops-agent rerun` runs it again"
    return (
        f"started {run.started or run.time} and removed by its TTL before its outcome was seen; "
        "`gitops-agent rerun` runs it again"
    )


def with_user(facts: Iterable[TaskRun], user: str) -> list[TaskRun]:
    """Facts with ``user`` filled in where it is empty."""
    return [fact if fact.user else replace(fact, user=user) for fact in facts]
