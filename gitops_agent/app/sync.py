"""Diff and sync one environment as the commands run them: render → connect → reconcile → record."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from gitops_agent.app.environment import connect
from gitops_agent.app.records import Warn, record, record_observed_runs, recorded_runs
from gitops_agent.app.targets import target_for
from gitops_agent.history.notes import SyncEvent
from gitops_agent.reconcile.changeset import ChangeSet
from gitops_agent.reconcile.engine import SyncOptions
from gitops_agent.reconcile.engine import diff as diff_objects
from gitops_agent.reconcile.engine import sync as sync_objects
from gitops_agent.reconcile.memo import PlanMemo
from gitops_agent.render.overlay import Rendered, cache_for, render_ref
from gitops_agent.spec.model import Environment


@dataclass(frozen=True)
class ClusterAccess:
    """How to reach the environment's cluster: a kubeconfig file (None: the default) and a
    context overriding the environment's."""

    kubeconfig: Path | None = None
    context: str | None = None


@dataclass(frozen=True)
class SyncOutcome:
    """A finished sync: what was rendered, what changed, and how many requests the API
    server throttled (HTTP 429, all retried)."""

    rendered: Rendered
    change_set: ChangeSet
    throttled: int


def render_desired(repo: Path, env: Environment, ref: str | None) -> Rendered:
    """The environment's objects at ``ref`` (default: its branch head), rendered once per commit."""
    return render_ref(repo, env, ref)


def diff_environment(repo: Path, env: Environment, ref: str | None, access: ClusterAccess) -> ChangeSet:
    """What a sync of ``ref`` would change in the live cluster (nothing is written).

    Raises InvalidInputError (exit 2) for a bad ref or render, ClusterError (exit 3) when the
    cluster cannot be reached.
    """
    rendered = render_desired(repo, env, ref)
    cluster = connect(access.kubeconfig, access.context, env)
    try:
        target = target_for(env, rendered.revision, recorded_runs(repo, env))
        memo = load_verdicts(repo, env)
        found = diff_objects(cluster, list(rendered.objects), target, memo=memo)
        store_verdicts(repo, env, memo)
        return found
    finally:
        cluster.close()


def _verdicts_note(env: Environment) -> str:
    return "verdicts-" + hashlib.sha256(env.name.encode()).hexdigest()[:16]


def load_verdicts(repo: Path, env: Environment) -> PlanMemo:
    """The "unchanged" proofs the last ``diff`` of ``env`` made (see
    :mod:`gitops_agent.reconcile.memo`), kept next to the render cache; an empty memo when
    there are none or they cannot be read."""
    cache = cache_for(repo)
    text = cache.load_note(_verdicts_note(env)) if cache is not None else None
    return PlanMemo.of(text.split() if text else ())


def store_verdicts(repo: Path, env: Environment, memo: PlanMemo) -> None:
    """Keep this diff's proofs for the next one (hashes only; a failure to write is ignored)."""
    cache = cache_for(repo)
    if cache is not None:
        cache.store_note(_verdicts_note(env), "\n".join(sorted(memo.proven())))


def sync_environment(
    repo: Path,
    env: Environment,
    ref: str | None,
    options: SyncOptions,
    access: ClusterAccess,
    *,
    event: SyncEvent = SyncEvent.SYNC,
    progress: Callable[[str], None] | None = None,
    warn: Warn,
) -> SyncOutcome:
    """Sync the environment to ``ref`` and keep the record in git notes.

    A plain sync is recorded when it changed or failed something; a rollback sync always
    (it is an act a person asked for). Observed task runs are recorded unless ``dry_run``.
    Raises like :func:`diff_environment`; per-object failures are in the change set.
    """
    rendered = render_desired(repo, env, ref)
    cluster = connect(access.kubeconfig, access.context, env)
    try:
        target = target_for(env, rendered.revision, recorded_runs(repo, env))
        change_set = sync_objects(cluster, list(rendered.objects), target, options, progress=progress)
    finally:
        cluster.close()
    if not options.dry_run:
        changed = change_set.has_changes or bool(change_set.errors)
        if rendered.revision and (changed or event is SyncEvent.ROLLBACK):
            record(repo, env, change_set, context=access.context, event=event, warn=warn, with_runs=True)
        else:
            record_observed_runs(repo, env, change_set, warn=warn)
    return SyncOutcome(rendered, change_set, cluster.requests["throttled"])
