"""What may be deleted (pure): owned, absent from git, not protected; and the guards."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from gitops_agent.errors import InvalidInputError
from gitops_agent.reconcile.health import HealthStatus, health_of
from gitops_agent.reconcile.objects import is_owned
from gitops_agent.reconcile.waves import prune_order
from gitops_agent.vocabulary.labels import ADOPTED_ANNOTATION, PRUNE_ANNOTATION
from gitops_agent.vocabulary.objects import Manifest, annotations_of, ref_of, task_of


class PruneRefusedError(InvalidInputError):
    """A prune guard held: nothing was changed (exit 2; the message names the override)."""


@dataclass(frozen=True)
class PrunePlan:
    """Objects to delete because git dropped them, and finished Jobs of older revisions."""

    prune: tuple[Manifest, ...]
    job_history: tuple[Manifest, ...]
    kept: tuple[Manifest, ...]


def _protected(obj: Mapping[str, object]) -> bool:
    annotations = annotations_of(obj)
    if obj.get("kind") == "Namespace" and str(annotations.get(ADOPTED_ANNOTATION, "")).lower() == "true":
        return True  # gitops-agent did not create it
    return str(annotations.get(PRUNE_ANNOTATION, "")).lower() == "false"


def _created(obj: Manifest) -> str:
    return str((obj.get("metadata") or {}).get("creationTimestamp") or "")


def plan_prune(
    live_only: Iterable[Manifest],
    desired: Sequence[Manifest],
    live_by_key: Mapping[tuple[str, str, str, str], Manifest],
    *,
    environment: str,
    job_history: int,
) -> PrunePlan:
    """Split live-only objects into prune candidates, Job history to drop, and kept ones.

    Only objects with the ownership labels of ``environment`` are ever candidates (this also
    protects every Namespace gitops-agent did not create). ``gitops-agent.io/prune: "false"``
    keeps an object. A Job of a task that git still has is an older revision: the newest
    ``job_history`` of them are kept, the rest deleted, and only after the current revision's
    Job succeeded.
    """
    current_jobs = {task: obj for obj in desired if (task := task_of(obj)) is not None}
    prune: list[Manifest] = []
    kept: list[Manifest] = []
    old_jobs: dict[tuple[str, str], list[Manifest]] = {}
    for obj in live_only:
        if not is_owned(obj, environment) or _protected(obj):
            kept.append(obj)
            continue
        task_key = task_of(obj)
        if task_key is not None and task_key in current_jobs:
            old_jobs.setdefault(task_key, []).append(obj)
            continue
        prune.append(obj)
    history: list[Manifest] = []
    for task_key, jobs in old_jobs.items():
        current = ref_of(current_jobs[task_key])
        status = health_of(current.group, current.kind, live_by_key.get(current.key)).status
        newest_first = sorted(jobs, key=_created, reverse=True)
        if status is not HealthStatus.HEALTHY:
            kept.extend(newest_first)
            continue
        kept.extend(newest_first[: max(job_history, 0)])
        history.extend(newest_first[max(job_history, 0) :])
    prune.sort(key=lambda o: prune_order(ref_of(o)))
    history.sort(key=lambda o: prune_order(ref_of(o)))
    return PrunePlan(tuple(prune), tuple(history), tuple(kept))


def check_guards(
    *,
    desired_count: int,
    owned_count: int,
    prune_count: int,
    allow_empty: bool,
    allow_mass_prune: bool,
    max_prune_percent: int,
) -> None:
    """Refuse an empty desired set and mass deletion (raise ``PruneRefusedError``)."""
    if desired_count == 0 and not allow_empty:
        raise PruneRefusedError(
            "refusing to sync an empty desired state (it would delete everything this "
            "environment owns); set sync.allowEmpty in the environment if that is intended"
        )
    if prune_count == 0 or allow_mass_prune or owned_count == 0:
        return
    percent = 100.0 * prune_count / owned_count
    if percent > max_prune_percent:
        raise PruneRefusedError(
            f"refusing to prune {prune_count} of {owned_count} owned objects "
            f"({percent:.0f}% > sync.maxPrunePercent {max_prune_percent}%); "
            "pass --allow-mass-prune if that is intended"
        )
