"""``plan --live``: head's rendered objects against the live cluster, via the reconciler's diff.

The reconciler pairs desired with live objects and confirms differences with a server-side
apply dry-run, so server defaults never show up as changes; its diffs have Secret values
masked. Its change set maps onto a plan: create → added, update → changed, delete → removed.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from gitops_agent.adapters.kube import KubeCluster
from gitops_agent.app.targets import target_for
from gitops_agent.errors import ClusterError
from gitops_agent.plan.build import ChangeKind, EnvironmentPlan, ObjectDiff, RenderedEnvironment
from gitops_agent.reconcile.changeset import Action, ChangeSet
from gitops_agent.reconcile.engine import diff as diff_objects
from gitops_agent.vocabulary.objects import ObjectKey

_CHANGE = {
    Action.CREATE: ChangeKind.ADDED,
    Action.WAITING: ChangeKind.ADDED,
    Action.UPDATE: ChangeKind.CHANGED,
    Action.DELETE: ChangeKind.REMOVED,
}
_ORDER = {ChangeKind.REMOVED: 0, ChangeKind.CHANGED: 1, ChangeKind.ADDED: 2}


def to_environment_plan(change_set: ChangeSet) -> EnvironmentPlan:
    """A reconciler change set as plan entries (errors raise ``ClusterError``)."""
    if change_set.errors:
        first = change_set.errors[0]
        raise ClusterError(f"live diff of {change_set.environment}: {first.message or first.ref}")
    entries = []
    unchanged = 0
    for change in change_set.changes:
        kind = _CHANGE.get(change.action)
        if kind is None:
            unchanged += change.action is Action.UNCHANGED
            continue
        ref = change.ref
        key = ObjectKey(ref.group, ref.kind, ref.namespace, ref.name)
        entries.append(ObjectDiff(kind, key, ref.api_version, change.diff))
    entries.sort(key=lambda d: (_ORDER[d.change], d.key))
    return EnvironmentPlan(change_set.environment, tuple(entries), unchanged)


def live_differ(kubeconfig: Path | None, context: str | None) -> Callable[[RenderedEnvironment, str], EnvironmentPlan]:
    """A ``LiveDiff`` that connects to each environment's cluster (``context`` overrides)."""

    def differ(rendered: RenderedEnvironment, revision: str) -> EnvironmentPlan:
        env = rendered.environment
        target = target_for(env, revision)
        cluster = KubeCluster(kubeconfig, context or env.context)
        try:
            return to_environment_plan(diff_objects(cluster, list(rendered.objects), target))
        finally:
            cluster.close()

    return differ
