"""An environment (spec) as the reconciler's target: its sync policy and ignore rules."""

from __future__ import annotations

from collections.abc import Mapping

from gitops_agent.reconcile.ignore import IgnoreRule
from gitops_agent.reconcile.options import Target
from gitops_agent.reconcile.runs import RunKey, TaskRun
from gitops_agent.spec.model import Environment, IgnoreDifference


def ignore_rule(entry: IgnoreDifference) -> IgnoreRule:
    """One ``sync.ignoreDifferences`` entry as a reconciler rule."""
    return IgnoreRule(
        group=entry.group,
        kind=entry.kind,
        name=entry.name,
        namespace=entry.namespace,
        json_pointers=entry.json_pointers,
        managers=entry.managers,
        reason="sync.ignoreDifferences",
    )


def target_for(env: Environment, revision: str | None, runs: Mapping[RunKey, TaskRun] | None = None) -> Target:
    """The engine's view of ``env`` at ``revision`` (an environment-branch commit, or none),
    with the newest recorded fact per task run (``runs``)."""
    return Target(
        environment=env.name,
        namespace=env.namespace,
        revision=revision or "",
        prune=env.sync.prune,
        force=env.sync.force,
        allow_empty=env.sync.allow_empty,
        max_prune_percent=env.sync.max_prune_percent,
        job_history=env.sync.job_history,
        ignore_rules=tuple(ignore_rule(entry) for entry in env.sync.ignore_differences),
        runs=dict(runs or {}),
    )
