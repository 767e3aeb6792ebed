"""The Pods that Deployment and Job health reads (see ``health``): one list per namespace, of
each Pod only what the rules read (:data:`~gitops_agent.reconcile.transform.POD_HEALTH_FIELDS`)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from gitops_agent.errors import ForbiddenError, NotFoundError
from gitops_agent.reconcile.cluster import Cluster
from gitops_agent.reconcile.health import POD_KINDS, HealthStatus, PodIndex, health_of
from gitops_agent.reconcile.live import parallel
from gitops_agent.reconcile.transform import POD_HEALTH_FIELDS
from gitops_agent.vocabulary.objects import Manifest, ObjectRef

"""Answers to a Pod list that leave health to the objects' own status (no ``list pods`` right)."""


def needs_pods(ref: ObjectRef, live: Mapping[str, object] | None) -> bool:
    """Whether ``ref``'s health could change with its Pods: a Deployment or Job that is
    present and not Healthy by its own status."""
    if live is None or (ref.group, ref.kind) not in POD_KINDS:
        return False
    return health_of(ref.group, ref.kind, live).status is not HealthStatus.HEALTHY


def read_pods(cluster: Cluster, namespaces: Iterable[str], workers: int = 8) -> PodIndex:
    """Every Pod of ``namespaces`` (one list request each, in parallel), indexed for health; of
    each Pod the fields :data:`~gitops_agent.reconcile.transform.POD_HEALTH_FIELDS`.

    A namespace whose Pods the credentials may not list (HTTP 401/403/404) contributes none;
    other refusals and transport failures raise ``ObjectError``/``ClusterError``.
    """
    wanted = sorted({n for n in namespaces if n})
    if not wanted:
        return PodIndex()
    info = cluster.resource("", "v1", "Pod")
    if info is None:
        return PodIndex()

    def list_one(namespace: str) -> list[Manifest]:
        try:
            return cluster.list(info, namespace, "", fields=POD_HEALTH_FIELDS)
        except (ForbiddenError, NotFoundError):
            return []

    return PodIndex(pod for pods in parallel(workers, list_one, wanted) for pod in pods)
