"""Diff and sync: desired objects and live state -> a change set, and the writes that realise it.

The engine takes a plain list of desired objects (rendered manifests), so it does not depend
on how they were produced. Live state comes from one labelled list request per kind (and
namespace), never a GET per object; objects proven unchanged locally cost nothing more, the
rest are confirmed with a server-side apply dry-run. The stages live in their own modules:
``desired`` (what is applied), ``live`` (what is there), ``planning`` (diff), ``apply`` (sync).
"""

from __future__ import annotations

from gitops_agent.reconcile.apply import sync
from gitops_agent.reconcile.desired import prepare_desired
from gitops_agent.reconcile.live import MANAGED_KINDS, LiveState, read_live
from gitops_agent.reconcile.options import SyncOptions, Target
from gitops_agent.reconcile.planning import SyncPlan, diff, plan

__all__ = [
    "MANAGED_KINDS",
    "LiveState",
    "SyncOptions",
    "SyncPlan",
    "Target",
    "diff",
    "plan",
    "prepare_desired",
    "read_live",
    "sync",
]
