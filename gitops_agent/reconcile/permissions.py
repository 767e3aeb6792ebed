"""What the agent needs to be allowed to do in a cluster, and a check of it.

The list is derived from what the reconciler really calls (``adapters/kube.py``): for every
kind it manages (``MANAGED_KINDS``) it reads one object (get), lists and watches owned ones
(list, watch), applies server-side (patch; create when the object is new), and prunes
(delete); it lists and watches Pods (read-only) for the health of Deployments and Jobs; for
leader election it reads, creates and updates one Lease. ``deploy/rbac.yaml``
grants exactly this. The check asks the API server (SelfSubjectAccessReview) for each
permission with the agent's own credentials, so a missing rule is found at start-up rather
than halfway through a sync.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

from gitops_agent.reconcile.cluster import ResourceInfo
from gitops_agent.reconcile.engine import MANAGED_KINDS

OBJECT_VERBS: tuple[tuple[str, str], ...] = (
    ("get", "read the live object to diff it"),
    ("list", "find owned objects by label (drift, prune)"),
    ("watch", "keep the reconcile loop's cache current"),
    ("create", "server-side apply of an object that does not exist yet"),
    ("patch", "server-side apply; Job recreation bookkeeping"),
    ("delete", "prune what git no longer has; recreate immutable Jobs"),
)
LEASE_VERBS: tuple[tuple[str, str], ...] = (
    ("get", "read the leader-election Lease"),
    ("create", "create the Lease the first time"),
    ("update", "acquire and renew the Lease (resourceVersion-guarded)"),
)
LEASE_GROUP = "coordination.k8s.io"
POD_VERBS: tuple[tuple[str, str], ...] = (
    ("list", "read Pods for the health of Deployments and Jobs (scheduling, crash loops, exit codes)"),
    ("watch", "keep the reconcile loop's cache of Pods current"),
)


@dataclass(frozen=True)
class Permission:
    """One verb on one resource (cluster-wide when ``namespace`` is None), and why."""

    verb: str
    group: str
    resource: str
    namespace: str | None
    why: str

    def __str__(self) -> str:
        where = f" in {self.namespace}" if self.namespace else ""
        group = f"{self.group}/" if self.group else ""
        return f"{self.verb} {group}{self.resource}{where}"


@dataclass(frozen=True)
class PermissionResult:
    permission: Permission
    allowed: bool
    reason: str


class AccessReviewer(Protocol):
    """What the check needs of a cluster connection (``KubeCluster`` has it)."""

    def resource(self, group: str, version: str, kind: str) -> ResourceInfo | None: ...

    def review_access(self, verb: str, group: str, resource: str, namespace: str | None) -> tuple[bool, str]: ...


def required_permissions(
    reviewer: AccessReviewer, *, lease_namespace: str | None
) -> tuple[list[Permission], list[str]]:
    """Every permission the agent needs, and the managed kinds this cluster does not serve
    (a CRD that is not installed: nothing to manage, nothing to check)."""
    needed: list[Permission] = []
    not_served: list[str] = []
    for group, version, kind in MANAGED_KINDS:
        info = reviewer.resource(group, version, kind)
        if info is None:
            not_served.append(f"{group}/{version} {kind}" if group else f"{version} {kind}")
            continue
        needed.extend(Permission(verb, group, info.plural, None, why) for verb, why in OBJECT_VERBS)
    needed.extend(Permission(verb, "", "pods", None, why) for verb, why in POD_VERBS)
    if lease_namespace:
        needed.extend(Permission(verb, LEASE_GROUP, "leases", lease_namespace, why) for verb, why in LEASE_VERBS)
    return needed, not_served


def check(reviewer: AccessReviewer, permissions: Iterable[Permission]) -> list[PermissionResult]:
    """Ask the API server about each permission."""
    results = []
    for permission in permissions:
        allowed, reason = reviewer.review_access(
            permission.verb, permission.group, permission.resource, permission.namespace
        )
        results.append(PermissionResult(permission, allowed, reason))
    return results


def check_agent_permissions(
    reviewer: AccessReviewer, *, lease_namespace: str | None, extra: Sequence[Permission] = ()
) -> list[PermissionResult]:
    """Check everything the agent needs (plus ``extra``); see :func:`denied`."""
    needed, _ = required_permissions(reviewer, lease_namespace=lease_namespace)
    return check(reviewer, [*needed, *extra])


def denied(results: Iterable[PermissionResult]) -> list[PermissionResult]:
    return [result for result in results if not result.allowed]
