"""The desired state as the engine applies it: ownership labels ensured, HPA-managed replicas
left out, identities and task dependencies checked."""

from __future__ import annotations

from collections.abc import Sequence

from gitops_agent.errors import InvalidInputError
from gitops_agent.reconcile.dag import find_cycle
from gitops_agent.reconcile.ignore import apply_policy
from gitops_agent.reconcile.objects import tracking_id
from gitops_agent.reconcile.options import Target
from gitops_agent.reconcile.runs import template_hash
from gitops_agent.vocabulary.labels import (
    ENVIRONMENT_LABEL,
    MANAGED_BY_LABEL,
    MANAGED_BY_VALUE,
    TEMPLATE_HASH_ANNOTATION,
    TRACKING_ANNOTATION,
)
from gitops_agent.vocabulary.objects import Manifest, copy_manifest, is_job, ref_of


def prepare_desired(desired: Sequence[Manifest], target: Target, *, share: bool = False) -> list[Manifest]:
    """Copies with ownership labels and tracking ids ensured (Jobs: their template hash; CronJobs:
    ``suspend`` explicit, false unless git says otherwise) and HPA-managed ``replicas`` removed.

    ``share``: each copy shares with its original every value preparing does not change (all
    but the object's own mapping, its ``metadata`` with ``labels`` and ``annotations``, and its
    ``spec`` mapping), so a caller keeping both holds one object set, not two; whoever changes a
    shared copy must change a deep copy of it. Without ``share``: deep copies.

    Raises ``InvalidInputError`` for objects without identity, duplicates, objects labelled
    for another environment, an unknown ``gitops-agent.io/ssa`` policy and task dependency cycles.
    """
    prepared: list[Manifest] = []
    seen: set[tuple[str, str, str, str]] = set()
    for original in desired:
        obj = copy_stamped_parts(original) if share else copy_manifest(original)
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
        stamp_tracking_id(obj, target)
        if is_job(obj):
            obj["metadata"]["annotations"][TEMPLATE_HASH_ANNOTATION] = template_hash(obj)
        elif ref.group == "batch" and ref.kind == "CronJob" and isinstance(obj.get("spec"), dict):
            # git's schedule runs unless git suspends it: a person's suspend is drift
            obj["spec"].setdefault("suspend", False)
        apply_policy(obj)  # an unknown gitops-agent.io/ssa value is refused before anything is sent
        prepared.append(obj)
    strip_hpa_replicas(prepared)
    cycle = find_cycle(prepared)
    if cycle:
        raise InvalidInputError("task dependency cycle: " + " -> ".join(cycle))
    return prepared


def copy_stamped_parts(original: Manifest) -> Manifest:
    """A copy of the mappings preparing changes (the object, ``metadata``, its ``labels`` and
    ``annotations``, ``spec``); every other value is ``original``'s own."""
    obj = dict(original)
    meta = original.get("metadata")
    if isinstance(meta, dict):
        obj["metadata"] = own_meta = dict(meta)
        for name in ("labels", "annotations"):
            if isinstance(meta.get(name), dict):
                own_meta[name] = dict(meta[name])
    if isinstance(original.get("spec"), dict):
        obj["spec"] = dict(original["spec"])
    return obj


def stamp_tracking_id(obj: Manifest, target: Target) -> None:
    """Set ``gitops-agent.io/tracking-id`` to the object's own identity (an object without a
    namespace that the cluster scopes by namespace lands in the environment's namespace)."""
    ref = ref_of(obj)
    annotations = obj["metadata"].get("annotations")
    if not isinstance(annotations, dict):
        annotations = obj["metadata"]["annotations"] = {}
    annotations[TRACKING_ANNOTATION] = tracking_id(target.environment, ref)


def strip_hpa_replicas(objects: list[Manifest]) -> None:
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
