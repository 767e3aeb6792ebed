"""Health per kind: a table from kind to a small function, and an order of severity."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any


class HealthStatus(StrEnum):
    HEALTHY = "Healthy"
    PROGRESSING = "Progressing"
    UNKNOWN = "Unknown"
    MISSING = "Missing"
    DEGRADED = "Degraded"


_SEVERITY = {status: index for index, status in enumerate(HealthStatus)}


@dataclass(frozen=True)
class Health:
    status: HealthStatus
    message: str = ""


def worst(statuses: Iterable[HealthStatus]) -> HealthStatus:
    """The most severe status (Healthy when there is none)."""
    return max(statuses, key=lambda s: _SEVERITY[s], default=HealthStatus.HEALTHY)


def _conditions(obj: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    found = (obj.get("status") or {}).get("conditions") or []
    return {str(c.get("type")): c for c in found if isinstance(c, Mapping)}


def _is_true(conditions: Mapping[str, Mapping[str, Any]], name: str) -> bool:
    return str((conditions.get(name) or {}).get("status")) == "True"


def _deployment(obj: Mapping[str, Any]) -> Health:
    spec = obj.get("spec") or {}
    status = obj.get("status") or {}
    conditions = _conditions(obj)
    progressing = conditions.get("Progressing") or {}
    if progressing.get("reason") == "ProgressDeadlineExceeded":
        return Health(HealthStatus.DEGRADED, "progress deadline exceeded")
    generation = int((obj.get("metadata") or {}).get("generation") or 0)
    if int(status.get("observedGeneration") or 0) < generation:
        return Health(HealthStatus.PROGRESSING, "waiting for the controller to observe the spec")
    wanted = int(spec.get("replicas", 1))
    updated = int(status.get("updatedReplicas") or 0)
    available = int(status.get("availableReplicas") or 0)
    total = int(status.get("replicas") or 0)
    if updated < wanted:
        return Health(HealthStatus.PROGRESSING, f"{updated} of {wanted} replicas updated")
    if total > updated:
        return Health(HealthStatus.PROGRESSING, f"{total - updated} old replicas pending termination")
    if available < updated:
        return Health(HealthStatus.PROGRESSING, f"{available} of {updated} updated replicas available")
    return Health(HealthStatus.HEALTHY)


def _job(obj: Mapping[str, Any]) -> Health:
    conditions = _conditions(obj)
    if _is_true(conditions, "Failed"):
        reason = (conditions.get("Failed") or {}).get("reason") or "failed"
        return Health(HealthStatus.DEGRADED, f"job failed: {reason}")
    if _is_true(conditions, "Complete"):
        return Health(HealthStatus.HEALTHY)
    if (obj.get("spec") or {}).get("suspend"):
        return Health(HealthStatus.PROGRESSING, "suspended")
    return Health(HealthStatus.PROGRESSING, "running")


def _cronjob(obj: Mapping[str, Any]) -> Health:
    if (obj.get("spec") or {}).get("suspend"):
        return Health(HealthStatus.HEALTHY, "suspended")
    return Health(HealthStatus.HEALTHY)


def _hpa(obj: Mapping[str, Any]) -> Health:
    conditions = _conditions(obj)
    for name in ("AbleToScale", "ScalingActive"):
        condition = conditions.get(name)
        if condition is not None and str(condition.get("status")) == "False":
            reason = condition.get("reason") or name
            return Health(HealthStatus.DEGRADED, f"{name}: {reason}")
    return Health(HealthStatus.HEALTHY)


def _pdb(obj: Mapping[str, Any]) -> Health:
    status = obj.get("status") or {}
    generation = int((obj.get("metadata") or {}).get("generation") or 0)
    if int(status.get("observedGeneration") or 0) < generation:
        return Health(HealthStatus.PROGRESSING, "waiting for the controller to observe the spec")
    if int(status.get("currentHealthy") or 0) < int(status.get("desiredHealthy") or 0):
        return Health(HealthStatus.DEGRADED, "fewer healthy pods than the budget requires")
    return Health(HealthStatus.HEALTHY)


def _service(obj: Mapping[str, Any]) -> Health:
    spec = obj.get("spec") or {}
    if spec.get("type") == "LoadBalancer":
        ingress = ((obj.get("status") or {}).get("loadBalancer") or {}).get("ingress")
        if not ingress:
            return Health(HealthStatus.PROGRESSING, "waiting for a load balancer address")
    return Health(HealthStatus.HEALTHY)


def _present(obj: Mapping[str, Any]) -> Health:
    return Health(HealthStatus.HEALTHY)


def _crd(obj: Mapping[str, Any]) -> Health:
    if _is_true(_conditions(obj), "Established"):
        return Health(HealthStatus.HEALTHY)
    return Health(HealthStatus.PROGRESSING, "not established yet")


def _namespace(obj: Mapping[str, Any]) -> Health:
    phase = (obj.get("status") or {}).get("phase")
    if phase == "Terminating":
        return Health(HealthStatus.DEGRADED, "terminating")
    return Health(HealthStatus.HEALTHY)


_BY_KIND: Mapping[tuple[str, str], Callable[[Mapping[str, Any]], Health]] = {
    ("apps", "Deployment"): _deployment,
    ("batch", "Job"): _job,
    ("batch", "CronJob"): _cronjob,
    ("autoscaling", "HorizontalPodAutoscaler"): _hpa,
    ("policy", "PodDisruptionBudget"): _pdb,
    ("", "Service"): _service,
    ("", "ConfigMap"): _present,
    ("", "Secret"): _present,
    ("", "ServiceAccount"): _present,
    ("", "Namespace"): _namespace,
    ("rbac.authorization.k8s.io", "Role"): _present,
    ("rbac.authorization.k8s.io", "RoleBinding"): _present,
    ("rbac.authorization.k8s.io", "ClusterRole"): _present,
    ("rbac.authorization.k8s.io", "ClusterRoleBinding"): _present,
    ("networking.k8s.io", "NetworkPolicy"): _present,
    ("apiextensions.k8s.io", "CustomResourceDefinition"): _crd,
}


def health_of(group: str, kind: str, live: Mapping[str, Any] | None) -> Health:
    """Health of one object; Missing when absent, Unknown for kinds without a rule."""
    if live is None:
        return Health(HealthStatus.MISSING, "not found in the cluster")
    if (live.get("metadata") or {}).get("deletionTimestamp"):
        return Health(HealthStatus.PROGRESSING, "being deleted")
    check = _BY_KIND.get((group, kind))
    if check is None:
        return Health(HealthStatus.UNKNOWN, "present; no health rule for this kind")
    return check(live)
