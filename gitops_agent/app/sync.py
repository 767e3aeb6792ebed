"""Diff and sync one environment as the commands run them: render → connect → reconcile → record."""

from __future__ import annotations

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
from gitops_agent.render.overlay import Rendered, render_ref
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
        return diff_objects(cluster, list(rendered.objects), target)
    finally:
        cluster.close()


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
            record(repo, env, change_set, context=access.context, event=event, warn=warn)
        record_observed_runs(repo, env, change_set, warn=warn)
    return SyncOutcome(rendered, change_set, cluster.requests["throttled"])
