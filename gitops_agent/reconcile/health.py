"""Health per kind: a table from kind to a small function, and an order of severity.

Controllers summarise their Pods only in counts (a Deployment's ``availableReplicas``, a
Job's ``active``), so a Job whose Pod cannot be scheduled, or a Deployment whose containers
crash, would look merely Progressing until a deadline. When such an object is not Healthy
by its own status, the rules also look at its Pods (``pods``: any Pods of its namespace;
the rule picks its own by owner reference or selector) and report what the scheduler and
the kubelet said:

- a Pod the scheduler could not place (condition ``PodScheduled`` False, reason
  ``Unschedulable``) makes a Job or Deployment Degraded with the scheduler's message;
- a container waiting with a reason that does not resolve without a change
  (:data:`STUCK_WAITING_REASONS`: ``CrashLoopBackOff``, ``ImagePullBackOff``, ...) makes a
  Deployment Degraded, and a Job Degraded;
- a failed Job (condition ``Failed``) is Degraded with the condition's reason and its last
  failed Pod's container exit code, reason and message.

Pod status fields: https://kubernetes.io/docs/concepts/workloads/pods/pod-lifecycle/ (Pod
conditions, container states); Job conditions:
https://kubernetes.io/docs/concepts/workloads/controllers/job/#terminal-job-conditions.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
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


Pods = Sequence[Mapping[str, Any]]

STUCK_WAITING_REASONS = frozenset(
    {
        "CrashLoopBackOff",
        "ImagePullBackOff",
        "ErrImagePull",
        "InvalidImageName",
        "CreateContainerConfigError",
        "CreateContainerError",
        "RunContainerError",
    }
)
"""Container ``state.waiting.reason`` values a kubelet reports for a container that will not
start without a change (to the image, the config it references, or the program)."""


def _meta(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    meta = obj.get("metadata")
    return meta if isinstance(meta, Mapping) else {}


class PodIndex(list[dict[str, Any]]):
    """Pods (a list), indexed once by owner uid and by (namespace, label, value), so that the
    health of N objects over P Pods costs about N + P lookups instead of N x P label checks.
    Build it from a list of Pods and treat it as read-only."""

    def __init__(self, pods: Iterable[dict[str, Any]] = ()) -> None:
        super().__init__(pods)
        self.by_owner: dict[str, list[dict[str, Any]]] = {}
        self.by_label: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
        self.unplaced = False
        """Some Pod has no namespace (it would match any): selections scan every Pod."""
        for pod in self:
            meta = _meta(pod)
            self.unplaced = self.unplaced or not meta.get("namespace")
            for ref in meta.get("ownerReferences") or []:
                if isinstance(ref, Mapping) and ref.get("uid"):
                    self.by_owner.setdefault(str(ref["uid"]), []).append(pod)
            namespace = str(meta.get("namespace") or "")
            for key, value in (meta.get("labels") or {}).items():
                self.by_label.setdefault((namespace, str(key), str(value)), []).append(pod)

    def with_labels(self, namespace: str, labels: Mapping[str, Any]) -> Pods:
        """A superset of the Pods of ``namespace`` carrying every one of ``labels`` (not empty)."""
        lists = [self.by_label.get((namespace, str(k), str(v)), []) for k, v in labels.items()]
        return min(lists, key=len)


def pods_owned_by(owner: Mapping[str, Any], pods: Pods) -> list[Mapping[str, Any]]:
    """The Pods whose owner references name ``owner``'s uid, in creation order."""
    uid = _meta(owner).get("uid")
    if not uid:
        return []
    candidates = pods.by_owner.get(str(uid), []) if isinstance(pods, PodIndex) else pods
    owned = [p for p in candidates if any(ref.get("uid") == uid for ref in _meta(p).get("ownerReferences") or [])]
    return sorted(owned, key=lambda p: (str(_meta(p).get("creationTimestamp", "")), str(_meta(p).get("name", ""))))


def _expression_matches(labels: Mapping[str, Any], expression: Mapping[str, Any]) -> bool:
    key, operator = str(expression.get("key")), expression.get("operator")
    values = [str(v) for v in expression.get("values") or []]
    if operator == "In":
        return key in labels and str(labels[key]) in values
    if operator == "NotIn":
        return key not in labels or str(labels[key]) not in values
    if operator == "Exists":
        return key in labels
    if operator == "DoesNotExist":
        return key not in labels
    return False


def pods_selected_by(obj: Mapping[str, Any], pods: Pods) -> list[Mapping[str, Any]]:
    """The Pods of ``obj``'s namespace its ``spec.selector`` (a LabelSelector) matches; none
    for an empty or missing selector. Rule: the LabelSelector semantics of
    https://kubernetes.io/docs/concepts/overview/working-with-objects/labels/#resources-that-support-set-based-requirements."""
    selector = (obj.get("spec") or {}).get("selector") or {}
    match_labels = selector.get("matchLabels") or {}
    expressions = selector.get("matchExpressions") or []
    if not match_labels and not expressions:
        return []
    namespace = _meta(obj).get("namespace")
    if isinstance(pods, PodIndex) and namespace and match_labels and not pods.unplaced:
        pods = pods.with_labels(str(namespace), match_labels)
    found = []
    for pod in pods:
        meta = _meta(pod)
        labels = meta.get("labels") or {}
        if namespace and meta.get("namespace") not in (None, namespace):
            continue
        if all(str(labels.get(k)) == str(v) and k in labels for k, v in match_labels.items()) and all(
            _expression_matches(labels, e) for e in expressions
        ):
            found.append(pod)
    return found


def unschedulable(pod: Mapping[str, Any]) -> str | None:
    """The scheduler's message when it could not place ``pod`` (``PodScheduled`` False,
    reason ``Unschedulable``), else None."""
    if (pod.get("status") or {}).get("phase") not in (None, "Pending"):
        return None
    condition = _conditions(pod).get("PodScheduled") or {}
    if str(condition.get("status")) == "False" and condition.get("reason") == "Unschedulable":
        return str(condition.get("message") or "Unschedulable")
    return None


def _container_statuses(pod: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    status = pod.get("status") or {}
    return [*(status.get("initContainerStatuses") or []), *(status.get("containerStatuses") or [])]


def stuck_container(pod: Mapping[str, Any]) -> str | None:
    """``container NAME: REASON (restarted N times): message`` for the first container
    waiting with one of :data:`STUCK_WAITING_REASONS`, else None."""
    for container in _container_statuses(pod):
        waiting = (container.get("state") or {}).get("waiting") or {}
        reason = waiting.get("reason")
        if reason in STUCK_WAITING_REASONS:
            text = f"container {container.get('name')}: {reason}"
            restarts = int(container.get("restartCount") or 0)
            if restarts:
                text += f" (restarted {restarts} times)"
            last = ((container.get("lastState") or {}).get("terminated")) or {}
            if last.get("exitCode") is not None:
                text += f", last exit code {last.get('exitCode')}"
            return text
    return None


def failed_container(pod: Mapping[str, Any]) -> str | None:
    """How a failed Pod failed: ``container NAME exited with code N (REASON): message`` for
    the first container that terminated with a non-zero code, else the Pod's own reason."""
    status = pod.get("status") or {}
    for container in _container_statuses(pod):
        terminated = (container.get("state") or {}).get("terminated") or {}
        code = terminated.get("exitCode")
        if code not in (None, 0):
            text = f"container {container.get('name')} exited with code {code}"
            if terminated.get("reason"):
                text += f" ({terminated['reason']})"
            if terminated.get("message"):
                text += f": {str(terminated['message']).strip()}"
            return text
    if status.get("reason") or status.get("message"):
        return ": ".join(str(x) for x in (status.get("reason"), status.get("message")) if x)
    return None


def pod_problem(pods: Iterable[Mapping[str, Any]]) -> str | None:
    """``pod NAME: ...`` for the first Pod that cannot be scheduled or has a stuck container."""
    for pod in pods:
        name = _meta(pod).get("name")
        reason = unschedulable(pod)
        if reason is not None:
            return f"pod {name} cannot be scheduled: {reason}"
        stuck = stuck_container(pod)
        if stuck is not None:
            return f"pod {name}: {stuck}"
    return None


def _deployment(obj: Mapping[str, Any], pods: Pods = ()) -> Health:
    health = _deployment_status(obj)
    if health.status is HealthStatus.PROGRESSING:
        problem = pod_problem(pods_selected_by(obj, pods))
        if problem is not None:
            return Health(HealthStatus.DEGRADED, problem)
    return health


def _deployment_status(obj: Mapping[str, Any]) -> Health:
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


def _job(obj: Mapping[str, Any], pods: Pods = ()) -> Health:
    conditions = _conditions(obj)
    owned = pods_owned_by(obj, pods)
    if _is_true(conditions, "Failed"):
        reason = (conditions.get("Failed") or {}).get("reason") or "failed"
        failed = [p for p in owned if (p.get("status") or {}).get("phase") == "Failed"]
        how = failed_container(failed[-1]) if failed else None
        detail = f" (pod {_meta(failed[-1]).get('name')}: {how})" if failed and how else ""
        return Health(HealthStatus.DEGRADED, f"job failed: {reason}{detail}")
    if _is_true(conditions, "Complete"):
        return Health(HealthStatus.HEALTHY)
    if (obj.get("spec") or {}).get("suspend"):
        return Health(HealthStatus.PROGRESSING, "suspended")
    live_pods = [p for p in owned if (p.get("status") or {}).get("phase") not in ("Succeeded", "Failed")]
    problem = pod_problem(live_pods)
    if problem is not None:
        return Health(HealthStatus.DEGRADED, problem)
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


def _http_route(obj: Mapping[str, Any]) -> Health:
    """Gateway API route status: each Gateway (parent) the route attaches to reports
    ``Accepted`` and ``ResolvedRefs`` (source: Gateway API ``RouteParentStatus``). Degraded
    when a parent rejects the route or cannot resolve a backendRef (say a missing Service);
    Unknown while no Gateway controller has reported (none may be installed)."""
    parents = [p for p in (obj.get("status") or {}).get("parents") or () if isinstance(p, Mapping)]
    if not parents:
        return Health(HealthStatus.UNKNOWN, "no Gateway has reported on the route yet")
    generation = int((obj.get("metadata") or {}).get("generation") or 0)
    stale = False
    for parent in parents:
        name = (parent.get("parentRef") or {}).get("name", "?")
        conditions = {str(c.get("type")): c for c in parent.get("conditions") or () if isinstance(c, Mapping)}
        for kind in ("Accepted", "ResolvedRefs"):
            condition = conditions.get(kind)
            if condition is None:
                stale = True
                continue
            if str(condition.get("status")) == "False":
                reason = condition.get("message") or condition.get("reason") or kind
                return Health(HealthStatus.DEGRADED, f"Gateway {name}: {kind} is False: {reason}")
            stale = stale or int(condition.get("observedGeneration") or generation) < generation
    if stale:
        return Health(HealthStatus.PROGRESSING, "waiting for the Gateway to report on the current spec")
    return Health(HealthStatus.HEALTHY)


def _ingress(obj: Mapping[str, Any]) -> Health:
    """Healthy once an ingress controller published an address (as Argo CD judges it);
    Unknown before (some controllers never publish one)."""
    if ((obj.get("status") or {}).get("loadBalancer") or {}).get("ingress"):
        return Health(HealthStatus.HEALTHY)
    return Health(HealthStatus.UNKNOWN, "no ingress controller has published an address")


def _claim(obj: Mapping[str, Any]) -> Health:
    """A PersistentVolumeClaim: Healthy when Bound, Degraded when Lost (its volume is gone);
    Unknown while Pending (a WaitForFirstConsumer claim binds only with its first Pod)."""
    phase = (obj.get("status") or {}).get("phase")
    if phase == "Bound":
        return Health(HealthStatus.HEALTHY)
    if phase == "Lost":
        return Health(HealthStatus.DEGRADED, "the claim lost its volume")
    return Health(HealthStatus.UNKNOWN, f"not bound yet ({phase or 'no phase'})")


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
    ("networking.k8s.io", "Ingress"): _ingress,
    ("gateway.networking.k8s.io", "HTTPRoute"): _http_route,
    ("", "PersistentVolumeClaim"): _claim,
    ("apiextensions.k8s.io", "CustomResourceDefinition"): _crd,
}


_WITH_PODS: Mapping[tuple[str, str], Callable[[Mapping[str, Any], Pods], Health]] = {
    ("apps", "Deployment"): _deployment,
    ("batch", "Job"): _job,
}
POD_KINDS = frozenset(_WITH_PODS)
"""Kinds whose health also reads their Pods (callers list Pods only for these)."""


def health_of(group: str, kind: str, live: Mapping[str, Any] | None, pods: Pods = ()) -> Health:
    """Health of one object; Missing when absent, Unknown for kinds without a rule.

    ``pods``: Pods of the object's namespace (any superset of its own; empty when not read),
    used for Deployments and Jobs as the module docstring describes.
    """
    if live is None:
        return Health(HealthStatus.MISSING, "not found in the cluster")
    if (live.get("metadata") or {}).get("deletionTimestamp"):
        return Health(HealthStatus.PROGRESSING, "being deleted")
    with_pods = _WITH_PODS.get((group, kind))
    if with_pods is not None:
        return with_pods(live, pods)
    check = _BY_KIND.get((group, kind))
    if check is None:
        return Health(HealthStatus.UNKNOWN, "present; no health rule for this kind")
    return check(live)
