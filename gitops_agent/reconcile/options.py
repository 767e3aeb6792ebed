"""What one reconcile of an environment is told: the target and its policy, the sync flags."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from gitops_agent.reconcile.ignore import IgnoreRule
from gitops_agent.reconcile.runs import RunKey, TaskRun


@dataclass(frozen=True)
class Target:
    """The environment being reconciled and its sync policy."""

    environment: str
    namespace: str
    revision: str = ""
    prune: bool = False
    force: bool = True
    """Take over fields other managers changed (git wins); ``False`` reports them as conflicts."""
    allow_empty: bool = False
    max_prune_percent: int = 50
    job_history: int = 2
    ignore_rules: tuple[IgnoreRule, ...] = ()
    """The environment's ``sync.ignoreDifferences``: fields git does not enforce."""
    runs: Mapping[RunKey, TaskRun] = field(default_factory=dict)
    """The newest recorded fact per task run (see :mod:`gitops_agent.reconcile.runs`)."""


@dataclass(frozen=True)
class SyncOptions:
    """Flags of one ``sync`` (they add to the environment's policy)."""

    prune: bool = False
    dry_run: bool = False
    wait: bool = False
    timeout: float = 300.0
    force_conflicts: bool | None = None
    """``True``/``False`` overrides the environment's ``sync.force``; ``None`` follows it."""
    allow_mass_prune: bool = False
    workers: int = 16
    poll_interval: float = 1.0
