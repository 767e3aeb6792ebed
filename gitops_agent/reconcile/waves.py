"""Apply order: waves by kind (Namespaces and CRDs first, Jobs after workloads, custom last)."""

from __future__ import annotations

from collections.abc import Mapping

from gitops_agent.vocabulary.objects import ObjectRef

NAMESPACES_AND_CRDS = 0
CONFIG_AND_RBAC = 1
SERVICES = 2
WORKLOADS = 3
JOBS = 4
CUSTOM = 5

_KIND_ORDER: tuple[tuple[str, int], ...] = (
    ("Namespace", NAMESPACES_AND_CRDS),
    ("CustomResourceDefinition", NAMESPACES_AND_CRDS),
    ("NetworkPolicy", CONFIG_AND_RBAC),
    ("ResourceQuota", CONFIG_AND_RBAC),
    ("LimitRange", CONFIG_AND_RBAC),
    ("PodDisruptionBudget", CONFIG_AND_RBAC),
    ("ServiceAccount", CONFIG_AND_RBAC),
    ("Secret", CONFIG_AND_RBAC),
    ("ConfigMap", CONFIG_AND_RBAC),
    ("StorageClass", CONFIG_AND_RBAC),
    ("PersistentVolume", CONFIG_AND_RBAC),
    ("PersistentVolumeClaim", CONFIG_AND_RBAC),
    ("ClusterRole", CONFIG_AND_RBAC),
    ("ClusterRoleBinding", CONFIG_AND_RBAC),
    ("Role", CONFIG_AND_RBAC),
    ("RoleBinding", CONFIG_AND_RBAC),
    ("Service", SERVICES),
    ("DaemonSet", WORKLOADS),
    ("Pod", WORKLOADS),
    ("ReplicaSet", WORKLOADS),
    ("Deployment", WORKLOADS),
    ("HorizontalPodAutoscaler", WORKLOADS),
    ("StatefulSet", WORKLOADS),
    ("CronJob", WORKLOADS),
    ("Ingress", WORKLOADS),
    ("Job", JOBS),
    ("APIService", CUSTOM),
)
_WAVE: Mapping[str, int] = dict(_KIND_ORDER)
_RANK: Mapping[str, int] = {kind: index for index, (kind, _) in enumerate(_KIND_ORDER)}
_BUILTIN_GROUPS = frozenset(
    {
        "",
        "apps",
        "batch",
        "autoscaling",
        "policy",
        "rbac.authorization.k8s.io",
        "networking.k8s.io",
        "storage.k8s.io",
        "apiextensions.k8s.io",
        "apiregistration.k8s.io",
    }
)


def wave_of(ref: ObjectRef) -> int:
    """The wave an object is applied in; kinds of other API groups come last."""
    if ref.group not in _BUILTIN_GROUPS:
        return CUSTOM
    return _WAVE.get(ref.kind, CUSTOM)


def apply_order(ref: ObjectRef) -> tuple[int, int, str, str, str]:
    """Sort key: wave, then kind rank, then namespace and name."""
    rank = _RANK.get(ref.kind, len(_RANK)) if ref.group in _BUILTIN_GROUPS else len(_RANK) + 1
    return (wave_of(ref), rank, ref.kind, ref.namespace, ref.name)


def prune_order(ref: ObjectRef) -> tuple[int, int, str, str, str]:
    """Reverse of the apply order (custom resources first, Namespaces last)."""
    wave, rank, kind, namespace, name = apply_order(ref)
    return (-wave, -rank, kind, namespace, name)
