"""Live state: owned objects from one labelled list per kind (and namespace), never a GET per
object; plus the few extra looks pruning and creation need."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TypeVar

from gitops_agent.errors import ClusterError, ObjectError
from gitops_agent.reconcile.cluster import Cluster, ResourceInfo
from gitops_agent.reconcile.objects import is_owned
from gitops_agent.reconcile.options import Target
from gitops_agent.reconcile.transform import OWNERSHIP_FIELDS, POD_HEALTH_FIELDS
from gitops_agent.vocabulary.labels import ownership_selector
from gitops_agent.vocabulary.objects import Manifest, ObjectRef, ref_of, split_api_version, task_of

log = logging.getLogger(__name__)

Key = tuple[str, str, str, str]
T = TypeVar("T")
R = TypeVar("R")

MANAGED_KINDS: tuple[tuple[str, str, str], ...] = (
    ("", "v1", "Namespace"),
    ("", "v1", "ConfigMap"),
    ("", "v1", "Secret"),
    ("", "v1", "Service"),
    ("", "v1", "ServiceAccount"),
    ("", "v1", "PersistentVolumeClaim"),
    ("apps", "v1", "Deployment"),
    ("apps", "v1", "StatefulSet"),
    ("apps", "v1", "DaemonSet"),
    ("batch", "v1", "Job"),
    ("batch", "v1", "CronJob"),
    ("autoscaling", "v2", "HorizontalPodAutoscaler"),
    ("policy", "v1", "PodDisruptionBudget"),
    ("rbac.authorization.k8s.io", "v1", "Role"),
    ("rbac.authorization.k8s.io", "v1", "RoleBinding"),
    ("rbac.authorization.k8s.io", "v1", "ClusterRole"),
    ("rbac.authorization.k8s.io", "v1", "ClusterRoleBinding"),
    ("networking.k8s.io", "v1", "NetworkPolicy"),
    ("networking.k8s.io", "v1", "Ingress"),
    ("gateway.networking.k8s.io", "v1", "HTTPRoute"),
    ("monitoring.coreos.com", "v1", "ServiceMonitor"),
    ("monitoring.coreos.com", "v1", "PrometheusRule"),
    ("apiextensions.k8s.io", "v1", "CustomResourceDefinition"),
)
"""Kinds whose owned objects are listed even when git has none (so they can be pruned):
every kind the compiler emits, and the usual kinds of extra manifests. A kind the cluster
does not serve (a CRD not installed) is skipped."""


def parallel(workers: int, fn: Callable[[T], R], items: Sequence[T]) -> list[R]:
    if len(items) <= 1 or workers <= 1:
        return [fn(item) for item in items]
    with ThreadPoolExecutor(max_workers=min(workers, len(items))) as pool:
        return list(pool.map(fn, items))


def is_transport_failure(error: ClusterError) -> bool:
    return not isinstance(error, ObjectError)


@dataclass
class LiveState:
    """Owned live objects by key, and list failures per kind."""

    objects: dict[Key, Manifest]
    failures: dict[tuple[str, str], ObjectError]
    infos: dict[tuple[str, str, str], ResourceInfo]
    _by_task: dict[tuple[str, str], list[Manifest]] | None = field(default=None, repr=False, compare=False)

    def task_jobs(self, task: tuple[str, str]) -> list[Manifest]:
        """The live Jobs of ``task`` (workflow, task), from an index built on first use (so
        looking up the Jobs of N tasks costs N lookups, not N scans of every live object)."""
        if self._by_task is None:
            self._by_task = {}
            for obj in self.objects.values():
                key = task_of(obj)
                if key is not None:
                    self._by_task.setdefault(key, []).append(obj)
        return self._by_task.get(task, [])


def crd_kinds(desired: Iterable[Manifest]) -> set[tuple[str, str]]:
    kinds: set[tuple[str, str]] = set()
    for obj in desired:
        if obj.get("kind") == "CustomResourceDefinition":
            spec = obj.get("spec") or {}
            kinds.add((str(spec.get("group", "")), str((spec.get("names") or {}).get("kind", ""))))
    return kinds


def discover_kinds(
    cluster: Cluster, desired: Sequence[Manifest], workers: int
) -> dict[tuple[str, str, str], ResourceInfo]:
    """The served kinds of the desired objects and of every kind gitops-agent manages:
    (group, version, kind) → its resource."""
    gvks: dict[tuple[str, str], tuple[str, str, str]] = {}
    for group, version, kind in MANAGED_KINDS:
        gvks[(group, kind)] = (group, version, kind)
    for obj in desired:
        group, version = split_api_version(str(obj.get("apiVersion", "")))
        gvks[(group, str(obj.get("kind")))] = (group, version, str(obj.get("kind")))
    infos: dict[tuple[str, str, str], ResourceInfo] = {}
    # discovery: one request per group-version, fetched in parallel (the cluster caches them)
    first_of_group = list({(g, v): (g, v, k) for g, v, k in gvks.values()}.values())
    parallel(workers, lambda gvk: cluster.resource(*gvk), first_of_group)
    for gvk in gvks.values():
        info = cluster.resource(*gvk)
        if info is not None:
            infos[gvk] = info
    return infos


def read_live(
    cluster: Cluster,
    desired: Sequence[Manifest],
    target: Target,
    *,
    workers: int = 16,
) -> LiveState:
    """List every relevant kind once (per namespace for namespaced kinds) by ownership label."""
    infos = discover_kinds(cluster, desired, workers)
    namespaces = sorted(
        ({str((o.get("metadata") or {}).get("namespace") or "") for o in desired} | {target.namespace}) - {""}
    )
    selector = ownership_selector(target.environment)
    requests: list[tuple[ResourceInfo, str | None]] = []
    for info in infos.values():
        if info.namespaced:
            requests.extend((info, namespace) for namespace in namespaces)
        else:
            requests.append((info, None))

    def fetch(request: tuple[ResourceInfo, str | None]) -> list[Manifest] | ObjectError:
        try:
            return cluster.list(request[0], request[1], selector)
        except ObjectError as error:
            return error

    objects: dict[Key, Manifest] = {}
    failures: dict[tuple[str, str], ObjectError] = {}
    for (info, namespace), result in zip(requests, parallel(workers, fetch, requests), strict=True):
        if isinstance(result, ObjectError):
            failures[(info.kind, namespace or "")] = result
            continue
        for item in result:
            objects[ref_of(item).key] = item
    return LiveState(objects, failures, infos)


def absent_namespaces(cluster: Cluster, live_state: LiveState, namespaces: set[str]) -> set[str]:
    """Namespaces that do not exist (nothing in them needs to be looked up one by one)."""
    info = live_state.infos.get(("", "v1", "Namespace"))
    absent: set[str] = set()
    if info is None:
        return absent
    for ns in sorted(namespaces):
        if ("", "Namespace", "", ns) in live_state.objects:
            continue
        with contextlib.suppress(ObjectError):  # unknown: not counted as absent
            if cluster.get(info, ObjectRef("", "v1", "Namespace", "", ns)) is None:
                absent.add(ns)
    return absent


CONTENT_KINDS = (
    ("", "v1", "ConfigMap"),
    ("", "v1", "Secret"),
    ("", "v1", "Service"),
    ("", "v1", "PersistentVolumeClaim"),
    ("", "v1", "Pod"),
    ("apps", "v1", "Deployment"),
    ("apps", "v1", "StatefulSet"),
    ("apps", "v1", "DaemonSet"),
    ("batch", "v1", "Job"),
    ("batch", "v1", "CronJob"),
)


def foreign_contents(
    cluster: Cluster, namespace: str, environment: str, infos: Mapping[tuple[str, str, str], ResourceInfo]
) -> list[str]:
    """Objects in ``namespace`` that deleting it would take along although gitops-agent does
    not own them (controller-made objects and the namespace's own defaults excepted)."""
    found: list[str] = []
    for gvk in CONTENT_KINDS:
        info = infos.get(gvk) or cluster.resource(*gvk)
        if info is None:
            continue
        # what ownership reads; of Pods what health reads too (one list with health's in the loop's cache)
        fields = POD_HEALTH_FIELDS if gvk == ("", "v1", "Pod") else OWNERSHIP_FIELDS
        try:
            items = cluster.list(info, namespace, "", fields=fields)
        except ObjectError as error:
            return [f"{gvk[2]} (cannot list: HTTP {error.status})"]
        for obj in items:
            meta = obj.get("metadata") or {}
            if is_owned(obj, environment) or meta.get("ownerReferences"):
                continue
            if gvk[2] == "ConfigMap" and meta.get("name") == "kube-root-ca.crt":
                continue
            if gvk[2] == "Secret" and obj.get("type") == "kubernetes.io/service-account-token":
                continue
            found.append(str(ref_of(obj)))
    return found
