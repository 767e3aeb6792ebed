"""Diff and sync: desired objects and live state → a change set, and the writes that realise it.

The engine takes a plain list of desired objects (rendered manifests), so it does not depend
on how they were produced. Live state comes from one labelled list request per kind (and
namespace), never a GET per object; objects proven unchanged locally cost nothing more, the
rest are confirmed with a server-side apply dry-run.
"""

from __future__ import annotations

import copy
import json
import logging
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Any, TypeVar

from gitops_agent.errors import ClusterError, InvalidInputError
from gitops_agent.reconcile.changeset import CHANGING, Action, Change, ChangeSet, overall_health
from gitops_agent.reconcile.cluster import Cluster, ResourceInfo
from gitops_agent.reconcile.dag import Gate, find_cycle, gate, task_jobs
from gitops_agent.reconcile.diff import DiffResult
from gitops_agent.reconcile.fieldset import ExtraItem, check_locally, extra_items
from gitops_agent.reconcile.health import HealthStatus, health_of
from gitops_agent.reconcile.normalize import strip_noise
from gitops_agent.reconcile.objects import (
    ENVIRONMENT_LABEL,
    MANAGED_BY_LABEL,
    MANAGED_BY_VALUE,
    Manifest,
    ObjectError,
    ObjectRef,
    depends_on,
    is_owned,
    ownership_selector,
    ref_of,
    split_api_version,
)
from gitops_agent.reconcile.prune import check_guards, plan_prune
from gitops_agent.reconcile.schema import UNKNOWN_NODE, NodeKind, SchemaNode
from gitops_agent.reconcile.waves import JOBS, NAMESPACES_AND_CRDS, apply_order, is_job, wave_of

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
    ("monitoring.coreos.com", "v1", "ServiceMonitor"),
    ("monitoring.coreos.com", "v1", "PrometheusRule"),
    ("apiextensions.k8s.io", "v1", "CustomResourceDefinition"),
)
"""Kinds whose owned objects are listed even when git has none (so they can be pruned)."""


@dataclass(frozen=True)
class Target:
    """The environment being reconciled and its sync policy."""

    environment: str
    namespace: str
    revision: str = ""
    prune: bool = False
    force: bool = False
    allow_empty: bool = False
    max_prune_percent: int = 50
    job_history: int = 2


@dataclass(frozen=True)
class SyncOptions:
    """Flags of one ``sync`` (they add to the environment's policy)."""

    prune: bool = False
    dry_run: bool = False
    wait: bool = False
    timeout: float = 300.0
    force_conflicts: bool = False
    allow_mass_prune: bool = False
    workers: int = 16
    poll_interval: float = 1.0


@dataclass
class Planned:
    """One desired object: what to send, what is live, and the change."""

    ref: ObjectRef
    body: Manifest
    info: ResourceInfo | None
    live: Manifest | None
    change: Change
    root: SchemaNode = UNKNOWN_NODE
    live_extras: tuple[ExtraItem, ...] = ()
    live_missing: tuple[ExtraItem, ...] = ()
    replace_job: bool = False


@dataclass(frozen=True)
class Deletion:
    """A live object git no longer has (or an older revision's finished Job)."""

    obj: Manifest
    info: ResourceInfo
    change: Change
    history: bool = False


@dataclass
class Plan:
    """Everything a diff found; a sync executes it."""

    target: Target
    objects: list[Planned]
    deletions: list[Deletion]
    live: dict[Key, Manifest]
    owned_count: int
    notes: list[str] = field(default_factory=list)
    prune_blocked: bool = False

    def change_set(self, changes: Iterable[Change] | None = None) -> ChangeSet:
        all_changes = list(changes) if changes is not None else self.all_changes()
        all_changes.sort(key=lambda c: (apply_order(c.ref), c.action))
        health = overall_health(c.health for c in all_changes if c.action is not Action.DELETE)
        return ChangeSet(
            self.target.environment,
            self.target.revision,
            tuple(all_changes),
            health,
            tuple(self.notes),
        )

    def all_changes(self) -> list[Change]:
        return [p.change for p in self.objects] + [d.change for d in self.deletions]


def _parallel(workers: int, fn: Callable[[T], R], items: Sequence[T]) -> list[R]:
    if len(items) <= 1 or workers <= 1:
        return [fn(item) for item in items]
    with ThreadPoolExecutor(max_workers=min(workers, len(items))) as pool:
        return list(pool.map(fn, items))


def _is_transport_failure(error: ClusterError) -> bool:
    return not isinstance(error, ObjectError) or error.status == 0


# -- desired state --------------------------------------------------------------------------
def prepare_desired(desired: Sequence[Manifest], target: Target) -> list[Manifest]:
    """Copies with ownership labels ensured and HPA-managed ``replicas`` removed.

    Raises ``InvalidInputError`` for objects without identity, duplicates, objects labelled
    for another environment and task dependency cycles.
    """
    prepared: list[Manifest] = []
    seen: set[Key] = set()
    for original in desired:
        obj = copy.deepcopy(dict(original))
        ref = ref_of(obj)
        if not ref.version or not ref.kind or not ref.name:
            raise InvalidInputError(f"desired object without apiVersion, kind or name: {ref}")
        if ref.key in seen:
            raise InvalidInputError(f"duplicate desired object {ref}")
        seen.add(ref.key)
        labels = obj.setdefault("metadata", {}).setdefault("labels", {})
        other = labels.get(ENVIRONMENT_LABEL)
        if other is not None and other != target.environment:
            raise InvalidInputError(f"{ref} is labelled for environment {other!r}, not {target.environment!r}")
        labels[MANAGED_BY_LABEL] = MANAGED_BY_VALUE
        labels[ENVIRONMENT_LABEL] = target.environment
        prepared.append(obj)
    _strip_hpa_replicas(prepared)
    cycle = find_cycle(prepared)
    if cycle:
        raise InvalidInputError("task dependency cycle: " + " -> ".join(cycle))
    return prepared


def _strip_hpa_replicas(objects: list[Manifest]) -> None:
    targets: set[tuple[str, str, str]] = set()
    for obj in objects:
        if obj.get("kind") != "HorizontalPodAutoscaler":
            continue
        target_ref = (obj.get("spec") or {}).get("scaleTargetRef") or {}
        namespace = (obj.get("metadata") or {}).get("namespace") or ""
        targets.add((str(target_ref.get("kind", "")), str(namespace), str(target_ref.get("name", ""))))
    for obj in objects:
        ref = ref_of(obj)
        if (ref.kind, ref.namespace, ref.name) in targets and isinstance(obj.get("spec"), dict):
            obj["spec"].pop("replicas", None)


# -- live state -----------------------------------------------------------------------------
@dataclass
class LiveState:
    """Owned live objects by key, and list failures per kind."""

    objects: dict[Key, Manifest]
    failures: dict[tuple[str, str], ObjectError]
    infos: dict[tuple[str, str, str], ResourceInfo]


def _crd_kinds(desired: Iterable[Manifest]) -> set[tuple[str, str]]:
    kinds: set[tuple[str, str]] = set()
    for obj in desired:
        if obj.get("kind") == "CustomResourceDefinition":
            spec = obj.get("spec") or {}
            kinds.add((str(spec.get("group", "")), str((spec.get("names") or {}).get("kind", ""))))
    return kinds


def read_live(
    cluster: Cluster,
    desired: Sequence[Manifest],
    target: Target,
    *,
    workers: int = 16,
) -> LiveState:
    """List every relevant kind once (per namespace for namespaced kinds) by ownership label."""
    gvks: dict[tuple[str, str], tuple[str, str, str]] = {}
    for group, version, kind in MANAGED_KINDS:
        gvks[(group, kind)] = (group, version, kind)
    for obj in desired:
        group, version = split_api_version(str(obj.get("apiVersion", "")))
        gvks[(group, str(obj.get("kind")))] = (group, version, str(obj.get("kind")))
    infos: dict[tuple[str, str, str], ResourceInfo] = {}
    # discovery: one request per group-version, fetched in parallel (the cluster caches them)
    first_of_group = list({(g, v): (g, v, k) for g, v, k in gvks.values()}.values())
    _parallel(workers, lambda gvk: cluster.resource(*gvk), first_of_group)
    for gvk in gvks.values():
        info = cluster.resource(*gvk)
        if info is not None:
            infos[gvk] = info
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
            if error.status == 0:
                raise
            return error

    objects: dict[Key, Manifest] = {}
    failures: dict[tuple[str, str], ObjectError] = {}
    for (info, namespace), result in zip(requests, _parallel(workers, fetch, requests), strict=True):
        if isinstance(result, ObjectError):
            failures[(info.kind, namespace or "")] = result
            continue
        for item in result:
            objects[ref_of(item).key] = item
    return LiveState(objects, failures, infos)


# -- planning ------------------------------------------------------------------------------
def _with_health(change: Change, live: Manifest | None) -> Change:
    if change.action in (Action.ERROR,):
        return change
    return replace(change, health=health_of(change.ref.group, change.ref.kind, live).status)


def _deepest_first(extra: ExtraItem) -> tuple[int, str, int]:
    return (-extra.pointer.count("/"), extra.pointer, -extra.index)


def merge_locally(live: Any, desired: Any, node: SchemaNode) -> Any:
    """Desired merged onto live the way apply merges (used only to display a prediction)."""
    if (
        isinstance(desired, dict)
        and isinstance(live, dict)
        and node.kind
        in (
            NodeKind.STRUCT,
            NodeKind.MAP,
        )
    ):
        merged = dict(live)
        for name, value in desired.items():
            child = node.field(name) if node.kind is NodeKind.STRUCT else node.element()
            merged[name] = merge_locally(live.get(name), value, child)
        return merged
    if isinstance(desired, list) and isinstance(live, list) and node.kind is NodeKind.ASSOCIATIVE:
        element = node.element()

        def key(item: Any) -> tuple[Any, ...]:
            return (
                tuple(json.dumps(item.get(k, element.default(k)), sort_keys=True) for k in node.keys)
                if isinstance(item, dict)
                else (json.dumps(item),)
            )

        wanted = {key(item): item for item in desired}
        result = [merge_locally(item, wanted.pop(key(item)), element) if key(item) in wanted else item for item in live]
        result.extend(copy.deepcopy(item) for item in desired if key(item) in wanted)
        return result
    return copy.deepcopy(desired)


def _remove_extras(obj: Manifest, extras: Sequence[ExtraItem]) -> Manifest:
    result = copy.deepcopy(obj)
    for extra in sorted(extras, key=_deepest_first):
        container: Any = result
        try:
            for token in extra.pointer.strip("/").split("/"):
                token = token.replace("~1", "/").replace("~0", "~")
                container = container[int(token)] if isinstance(container, list) else container[token]
        except (KeyError, IndexError, ValueError, TypeError):
            continue
        if extra.key is not None and isinstance(container, dict):
            container.pop(extra.key, None)
        elif isinstance(container, list) and 0 <= extra.index < len(container):
            del container[extra.index]
    return result


def _root(cluster: Cluster, ref: ObjectRef) -> SchemaNode:
    document = cluster.schema(ref.group, ref.version)
    return UNKNOWN_NODE if document is None else document.root(ref.group, ref.version, ref.kind)


def _absent_namespaces(cluster: Cluster, live_state: LiveState, namespaces: set[str]) -> set[str]:
    """Namespaces that do not exist (nothing in them needs to be looked up one by one)."""
    info = live_state.infos.get(("", "v1", "Namespace"))
    absent: set[str] = set()
    if info is None:
        return absent
    for ns in sorted(namespaces):
        if ("", "Namespace", "", ns) in live_state.objects:
            continue
        try:
            if cluster.get(info, ObjectRef("", "v1", "Namespace", "", ns)) is None:
                absent.add(ns)
        except ObjectError as error:
            if error.status == 0:
                raise
    return absent


LIST_INSTEAD_OF_GETS = 5
"""More missing objects of one kind in one namespace than this: one list instead of GETs."""


def _look_up_unlabelled(cluster: Cluster, missing: list[Planned], workers: int) -> None:
    """Find desired objects that exist without gitops-agent's labels (so "create" is true).

    Few of a kind: a GET each; many: one list of that kind in that namespace (no selector).
    """
    groups: dict[tuple[ResourceInfo, str], list[Planned]] = {}
    for item in missing:
        assert item.info is not None
        groups.setdefault((item.info, item.ref.namespace), []).append(item)
    singles: list[Planned] = []
    listed: list[tuple[ResourceInfo, str]] = []
    for key, items in groups.items():
        if len(items) > LIST_INSTEAD_OF_GETS:
            listed.append(key)
        else:
            singles.extend(items)

    def look_up(item: Planned) -> None:
        assert item.info is not None
        try:
            item.live = cluster.get(item.info, item.ref)
        except ObjectError as error:
            if error.status == 0:
                raise
            item.change = Change(item.ref, Action.ERROR, item.change.wave, message=str(error))

    def list_all(key: tuple[ResourceInfo, str]) -> None:
        info, namespace = key
        try:
            found = {ref_of(o).key: o for o in cluster.list(info, namespace or None, "")}
        except ObjectError as error:
            if error.status == 0:
                raise
            for item in groups[key]:
                item.change = Change(item.ref, Action.ERROR, item.change.wave, message=str(error))
            return
        for item in groups[key]:
            item.live = found.get(item.ref.key)

    _parallel(workers, look_up, singles)
    _parallel(workers, list_all, listed)


def plan(
    cluster: Cluster,
    desired: Sequence[Manifest],
    target: Target,
    *,
    workers: int = 16,
) -> Plan:
    """Compare desired objects with the cluster; no writes (dry-runs only where needed)."""
    prepared = prepare_desired(desired, target)
    live_state = read_live(cluster, prepared, target, workers=workers)
    pending_kinds = _crd_kinds(prepared)
    planned: list[Planned] = []
    missing: list[Planned] = []
    for obj in prepared:
        ref = ref_of(obj)
        wave = wave_of(ref)
        info = live_state.infos.get((ref.group, ref.version, ref.kind))
        if info is None:
            if (ref.group, ref.kind) in pending_kinds:
                change = Change(
                    ref,
                    Action.CREATE,
                    wave,
                    sides=DiffResult(ref, None, strip_noise(obj)),
                    message="its CustomResourceDefinition is created first",
                    health=HealthStatus.MISSING,
                )
                planned.append(Planned(ref, obj, None, None, change))
            else:
                change = Change(
                    ref,
                    Action.ERROR,
                    wave,
                    message=f"{ref}: the cluster does not serve {ref.api_version} {ref.kind}",
                )
                planned.append(Planned(ref, obj, None, None, change))
            continue
        if info.namespaced and not ref.namespace:
            obj["metadata"]["namespace"] = target.namespace
            ref = ref_of(obj)
        failure = live_state.failures.get((ref.kind, ref.namespace if info.namespaced else ""))
        if failure is not None:
            change = Change(
                ref,
                Action.ERROR,
                wave,
                message=f"{ref}: cannot read live state: HTTP {failure.status}: {failure.detail}",
            )
            planned.append(Planned(ref, obj, info, None, change))
            continue
        live = live_state.objects.get(ref.key)
        item = Planned(ref, obj, info, live, Change(ref, Action.UNCHANGED, wave))
        planned.append(item)
        if live is None and ref.kind != "Namespace":
            missing.append(item)
    absent = _absent_namespaces(cluster, live_state, {m.ref.namespace for m in missing} - {""})
    missing = [m for m in missing if m.ref.namespace not in absent]

    _look_up_unlabelled(cluster, missing, workers)
    present = [(p.ref.group, p.ref.version) for p in planned if p.live is not None and p.info is not None]
    _parallel(workers, lambda gv: cluster.schema(*gv), sorted(set(present)))

    needs_server: list[Planned] = []
    for item in planned:
        if item.change.action is Action.ERROR or item.info is None:
            continue
        if item.live is None:
            item.change = Change(
                item.ref,
                Action.CREATE,
                item.change.wave,
                sides=DiffResult(item.ref, None, strip_noise(item.body)),
            )
            continue
        item.root = _root(cluster, item.ref)
        local = check_locally(item.body, item.live, item.root)
        if local.unchanged:
            continue
        item.live_extras = local.extras
        pointers = {extra.pointer for extra in local.extras}
        item.live_missing = tuple(m for m in local.missing if m.pointer in pointers)
        needs_server.append(item)

    def confirm(item: Planned) -> None:
        assert item.info is not None and item.live is not None
        try:
            result = cluster.apply(item.info, item.body, dry_run=True, force=True)
        except ObjectError as error:
            if error.status == 0:
                raise
            if error.status == 422 and is_job(item.body):
                item.replace_job = True
                live_clean = strip_noise(item.live)
                item.change = Change(
                    item.ref,
                    Action.UPDATE,
                    item.change.wave,
                    sides=DiffResult(item.ref, live_clean, strip_noise(item.body)),
                    message="the Job's template changed; it is deleted and created again",
                )
                return
            if error.status == 422 and item.live_extras:
                # the server judges live + git together; the extra items make that invalid
                # (e.g. a second port named like git's). Sync removes them first.
                base = strip_noise(_remove_extras(item.live, item.live_extras))
                predicted = merge_locally(base, strip_noise(item.body), item.root)
                item.change = Change(
                    item.ref,
                    Action.UPDATE,
                    item.change.wave,
                    sides=DiffResult(item.ref, strip_noise(item.live), predicted),
                    message="predicted locally: items other managers added are removed first",
                )
                return
            item.change = Change(item.ref, Action.ERROR, item.change.wave, message=str(error))
            return
        extras = extra_items(item.body, result, item.root)
        predicted = strip_noise(_remove_extras(result, extras))
        outcome = DiffResult(item.ref, strip_noise(item.live), predicted)
        if outcome.changed:
            item.change = Change(item.ref, Action.UPDATE, item.change.wave, sides=outcome)

    _parallel(workers, confirm, needs_server)
    for item in planned:
        item.change = _with_health(item.change, item.live)

    desired_keys = {ref_of(o).key for o in prepared}
    live_only = [obj for key, obj in live_state.objects.items() if key not in desired_keys]
    plan_result = Plan(target, planned, [], dict(live_state.objects), len(live_state.objects))
    if live_state.failures:
        plan_result.prune_blocked = True
        for (kind, namespace), failure in sorted(live_state.failures.items()):
            where = f" in {namespace}" if namespace else ""
            plan_result.notes.append(f"cannot list {kind}{where} (HTTP {failure.status}); prune skipped")
    pruning = plan_prune(
        live_only,
        prepared,
        live_state.objects,
        environment=target.environment,
        job_history=target.job_history,
    )
    infos_by_kind = {(i.group, i.kind): i for i in live_state.infos.values()}
    for obj, history in [(o, False) for o in pruning.prune] + [(o, True) for o in pruning.job_history]:
        ref = ref_of(obj)
        info = infos_by_kind.get((ref.group, ref.kind))
        if info is None:
            continue
        if ref.kind == "Namespace" and not ref.group:
            foreign = _foreign_contents(cluster, ref.name, target.environment, live_state.infos)
            if foreign:
                plan_result.notes.append(
                    f"Namespace/{ref.name} is not pruned: it holds objects gitops-agent does not own "
                    f"({', '.join(foreign[:3])}{', …' if len(foreign) > 3 else ''})"
                )
                continue
        reason = "finished Job of an older revision" if history else "not in git"
        change = Change(
            ref,
            Action.DELETE,
            wave_of(ref),
            sides=DiffResult(ref, strip_noise(obj), None),
            message=reason,
        )
        plan_result.deletions.append(Deletion(obj, info, change, history))
    return plan_result


_CONTENT_KINDS = (
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


def _foreign_contents(
    cluster: Cluster, namespace: str, environment: str, infos: Mapping[tuple[str, str, str], ResourceInfo]
) -> list[str]:
    """Objects in ``namespace`` that deleting it would take along although gitops-agent does
    not own them (controller-made objects and the namespace's own defaults excepted)."""
    found: list[str] = []
    for gvk in _CONTENT_KINDS:
        info = infos.get(gvk) or cluster.resource(*gvk)
        if info is None:
            continue
        try:
            items = cluster.list(info, namespace, "")
        except ObjectError as error:
            if error.status == 0:
                raise
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


def diff(cluster: Cluster, desired: Sequence[Manifest], target: Target, *, workers: int = 16) -> ChangeSet:
    """What a sync with pruning would change (no writes)."""
    return plan(cluster, desired, target, workers=workers).change_set()


# -- sync -----------------------------------------------------------------------------------
@dataclass
class _SyncRun:
    cluster: Cluster
    plan: Plan
    options: SyncOptions
    force: bool
    progress: Callable[[str], None]
    deadline: float
    failed_wave: int | None = None

    def apply(self, item: Planned) -> None:
        """Apply one object; remove list items other managers added; record the outcome."""
        change = item.change
        if item.info is None:
            item.info = self.cluster.resource(item.ref.group, item.ref.version, item.ref.kind)
            if item.info is None:
                item.change = change.with_action(Action.ERROR, f"{item.ref}: kind still not served")
                return
            if item.info.namespaced and not item.ref.namespace:
                item.body["metadata"]["namespace"] = self.plan.target.namespace
        try:
            if item.live_extras:
                ops = _removal_ops(item.live_extras) + [
                    {"op": "add", "path": f"{m.pointer}/-", "value": m.item} for m in item.live_missing
                ]
                self.cluster.json_patch(item.info, item.ref, ops)
            if item.replace_job:
                self._replace_job(item)
            result = self.cluster.apply(item.info, item.body, dry_run=False, force=self.force)
            if item.live is not None:  # a fresh object holds nothing another manager added
                if item.root.kind == UNKNOWN_NODE.kind:
                    item.root = _root(self.cluster, item.ref)
                extras = extra_items(item.body, result, item.root)
                if extras:
                    result = self.cluster.json_patch(item.info, item.ref, _removal_ops(extras))
        except ObjectError as error:
            if error.status == 0:
                raise
            message = str(error)
            if error.status == 409:
                message += (
                    " (another field manager owns these fields; pass --force-conflicts"
                    " or set sync.force to take them over)"
                )
            item.change = change.with_action(Action.ERROR, message)
            return
        item.live = result
        item.change = _with_health(change, result)

    def _replace_job(self, item: Planned) -> None:
        assert item.info is not None
        self.cluster.delete(item.info, item.ref)
        while self.cluster.get(item.info, item.ref) is not None:
            if time.monotonic() > self.deadline:
                raise ObjectError(item.ref, 504, "timed out waiting for the old Job to be deleted")
            time.sleep(0.2)

    def apply_all(self, items: Sequence[Planned]) -> bool:
        todo = [i for i in items if i.change.action in (Action.CREATE, Action.UPDATE)]
        for item in todo:
            self.progress(f"{item.change.action} {item.ref}")
        _parallel(self.options.workers, self.apply, todo)
        return all(i.change.action is not Action.ERROR for i in todo)

    def wait_established(self, items: Sequence[Planned]) -> None:
        """Wait until created CRDs are Established and Namespaces are Active."""
        pending = [
            i
            for i in items
            if i.ref.kind in ("CustomResourceDefinition", "Namespace")
            and i.info is not None
            and i.change.action is not Action.ERROR
        ]
        while pending:
            still: list[Planned] = []
            for item in pending:
                assert item.info is not None
                live = self.cluster.get(item.info, item.ref)
                status = health_of(item.ref.group, item.ref.kind, live).status
                if status is HealthStatus.HEALTHY:
                    item.live = live
                    item.change = _with_health(item.change, live)
                else:
                    still.append(item)
            if not still:
                break
            if time.monotonic() > self.deadline:
                for item in still:
                    item.change = item.change.with_action(Action.ERROR, f"{item.ref}: not ready before the timeout")
                return
            time.sleep(0.2)
            pending = still
        if any(i.ref.kind == "CustomResourceDefinition" for i in items):
            self.cluster.forget_discovery()

    def run_dag(self, gated: list[Planned]) -> None:
        """Apply Jobs and dependent objects in dependency order (waiting only with --wait)."""
        desired = [p.body for p in self.plan.objects]
        jobs = task_jobs(desired)
        live_by_key: dict[Key, Manifest] = {p.ref.key: p.live for p in self.plan.objects if p.live is not None}
        remaining = [p for p in gated if p.change.action is not Action.ERROR]
        done: set[Key] = set()
        while True:
            blocked_tasks: set[tuple[str, str]] = set()
            ready: list[Planned] = []
            waiting: list[tuple[Planned, str]] = []
            for item in sorted(remaining, key=lambda p: apply_order(p.ref)):
                decision = gate(item.body, jobs, live_by_key, blocked_tasks)
                if decision.gate is Gate.BLOCKED:
                    item.change = item.change.with_action(Action.BLOCKED, decision.message)
                    labels = (item.body.get("metadata") or {}).get("labels") or {}
                    if is_job(item.body) and "gitops-agent.io/task" in labels:
                        blocked_tasks.add(
                            (
                                str(labels.get("app.kubernetes.io/part-of", "")),
                                str(labels["gitops-agent.io/task"]),
                            )
                        )
                elif decision.gate is Gate.WAITING:
                    waiting.append((item, decision.message))
                else:
                    ready.append(item)
            # a blocked task blocks its dependents transitively: re-gate the waiting ones
            for item, message in list(waiting):
                decision = gate(item.body, jobs, live_by_key, blocked_tasks)
                if decision.gate is Gate.BLOCKED:
                    item.change = item.change.with_action(Action.BLOCKED, decision.message)
                    waiting.remove((item, message))
            self.apply_all(ready)
            for item in ready:
                done.add(item.ref.key)
                if item.live is not None:
                    live_by_key[item.ref.key] = item.live
            remaining = [item for item, _ in waiting]
            if not remaining:
                return
            if not self.options.wait or time.monotonic() > self.deadline:
                for item, message in waiting:
                    if self.options.wait:
                        item.change = item.change.with_action(Action.ERROR, f"{item.ref}: timed out, {message}")
                    else:
                        item.change = item.change.with_action(Action.WAITING, message)
                return
            time.sleep(self.options.poll_interval)
            self._refresh_jobs(live_by_key, jobs.values())

    def _refresh_jobs(self, live_by_key: dict[Key, Manifest], jobs: Iterable[Manifest]) -> None:
        selector = ownership_selector(self.plan.target.environment)
        namespaces = {ref_of(j).namespace for j in jobs}
        info = self.cluster.resource("batch", "v1", "Job")
        if info is None:
            return
        for namespace in sorted(namespaces):
            for obj in self.cluster.list(info, namespace, selector):
                live_by_key[ref_of(obj).key] = obj

    def prune(self) -> None:
        """Delete in reverse wave order (one wave at a time, in parallel within a wave)."""
        by_wave: dict[int, list[Deletion]] = {}
        for deletion in self.plan.deletions:
            by_wave.setdefault(deletion.change.wave, []).append(deletion)

        def delete(deletion: Deletion) -> Deletion:
            try:
                self.progress(f"delete {deletion.change.ref}")
                self.cluster.delete(deletion.info, deletion.change.ref)
            except ObjectError as error:
                if error.status == 0:
                    raise
                return replace(deletion, change=deletion.change.with_action(Action.ERROR, str(error)))
            return deletion

        done: list[Deletion] = []
        for wave in sorted(by_wave, reverse=True):
            done.extend(_parallel(self.options.workers, delete, by_wave[wave]))
        self.plan.deletions = done

    def wait_healthy(self) -> None:
        """Poll (one list per kind and namespace) until every object is healthy or failed."""
        selector = ownership_selector(self.plan.target.environment)
        while True:
            watched = [
                p
                for p in self.plan.objects
                if p.info is not None and p.change.action not in (Action.ERROR, Action.BLOCKED, Action.WAITING)
            ]
            pending = [p for p in watched if p.change.health in (HealthStatus.PROGRESSING, HealthStatus.MISSING)]
            if not pending:
                return
            if time.monotonic() > self.deadline:
                for item in pending:
                    item.change = item.change.with_action(
                        Action.ERROR,
                        f"{item.ref}: not healthy before the timeout ({item.change.health})",
                    )
                return
            time.sleep(self.options.poll_interval)
            lists: dict[tuple[str, str, str, str], list[Manifest]] = {}
            for item in pending:
                assert item.info is not None
                key = (item.info.group, item.info.version, item.info.kind, item.ref.namespace)
                if key not in lists:
                    lists[key] = self.cluster.list(item.info, item.ref.namespace or None, selector)
                found = {ref_of(o).key: o for o in lists[key]}
                live = found.get(item.ref.key)
                item.live = live
                item.change = _with_health(item.change, live)


def _removal_ops(extras: Sequence[ExtraItem]) -> list[dict[str, Any]]:
    """A JSON patch removing ``extras`` (each guarded by a ``test`` of its current value)."""
    ops: list[dict[str, Any]] = []
    for extra in sorted(extras, key=_deepest_first):
        ops.append({"op": "test", "path": extra.path, "value": extra.item})
        ops.append({"op": "remove", "path": extra.path})
    return ops


def sync(
    cluster: Cluster,
    desired: Sequence[Manifest],
    target: Target,
    options: SyncOptions,
    *,
    progress: Callable[[str], None] | None = None,
) -> ChangeSet:
    """Apply what differs, in waves and DAG order; prune with guards; optionally wait."""
    say = progress or (lambda _message: None)
    started = time.monotonic()
    the_plan = plan(cluster, desired, target, workers=options.workers)
    prune = options.prune or target.prune
    if not prune:
        the_plan.deletions = [d for d in the_plan.deletions if d.history]
    check_guards(
        desired_count=len(desired),
        owned_count=the_plan.owned_count,
        prune_count=sum(1 for d in the_plan.deletions if not d.history),
        allow_empty=target.allow_empty,
        allow_mass_prune=options.allow_mass_prune,
        max_prune_percent=target.max_prune_percent,
    )
    planning_errors = [p for p in the_plan.objects if p.change.action is Action.ERROR]
    if options.dry_run:
        return the_plan.change_set()
    if planning_errors:
        the_plan.notes.append("nothing was applied: the plan has errors")
        the_plan.deletions = []
        return the_plan.change_set()
    run = _SyncRun(
        cluster,
        the_plan,
        options,
        options.force_conflicts or target.force,
        say,
        started + options.timeout,
    )
    gated = [p for p in the_plan.objects if is_job(p.body) or depends_on(p.body)]
    gated_keys = {p.ref.key for p in gated}
    by_wave: dict[int, list[Planned]] = {}
    for item in the_plan.objects:
        if item.ref.key not in gated_keys:
            by_wave.setdefault(item.change.wave, []).append(item)
    failed = False
    for wave in sorted(set(by_wave) | {JOBS}):
        items = by_wave.get(wave, [])
        if failed:
            for item in items + (gated if wave == JOBS else []):
                if item.change.action in CHANGING:
                    item.change = item.change.with_action(Action.BLOCKED, "not applied: an earlier wave failed")
            continue
        ok = run.apply_all(items)
        if wave == NAMESPACES_AND_CRDS:
            run.wait_established(items)
            ok = ok and all(i.change.action is not Action.ERROR for i in items)
        if wave == JOBS:
            run.run_dag(gated)
            ok = ok and all(i.change.action is not Action.ERROR for i in gated)
        if not ok:
            failed = True
    errors = any(p.change.action in (Action.ERROR,) for p in the_plan.objects)
    if errors or the_plan.prune_blocked:
        if the_plan.deletions:
            the_plan.notes.append("nothing was pruned: the sync had errors")
        the_plan.deletions = []
    else:
        run.prune()
    if options.wait and not errors:
        run.wait_healthy()
    say(f"sync of {target.environment} finished in {time.monotonic() - started:.1f}s")
    return the_plan.change_set()


def read_desired_health(cluster: Cluster, desired: Sequence[Manifest], target: Target) -> Mapping[Key, HealthStatus]:
    """Health of every desired object from one list per kind (used by the loop)."""
    state = read_live(cluster, prepare_desired(desired, target), target)
    return {
        ref_of(o).key: health_of(ref_of(o).group, ref_of(o).kind, state.objects.get(ref_of(o).key)).status
        for o in desired
    }
