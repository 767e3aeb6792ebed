"""What a list or the loop's watch cache keeps of live objects: the fields their readers read.

Kubernetes objects carry much that no rule here reads: every writer's ``managedFields``, a
Pod's whole spec. The loop keeps thousands of them between rounds, so it keeps less, the way
client-go's informers do with a transform (``SharedInformer.SetTransform``;
``cache.TransformStripManagedFields``) and Argo CD's cluster cache does by keeping whole
manifests only of the objects it manages:

* every object: ``managedFields`` entries of the ``status`` subresource are dropped. The drift
  check reads only gitops-agent's own ``Apply`` entry of the main resource
  (:func:`~gitops_agent.reconcile.fieldset.owned_fields`), and naming who drifted an object
  or releasing fields to their managers skips status writers
  (:func:`~gitops_agent.reconcile.fieldset.manager_entries`): controllers' status reports are
  never drift. Entries of other subresources (``scale``: ``kubectl scale``) are kept.
* the objects of one list: equal ``managedFields`` field sets (``fieldsV1``, and every equal
  part of them) are one object (:func:`share_field_sets`): objects made from one template
  record the same fields, so a list of thousands holds few distinct sets.
* every kept object: strings shorter than :data:`INTERNED_LENGTH` characters (names, label
  values, API versions, reasons, timestamps) are interned (:func:`intern_strings`), so a value
  repeated within and across objects is held once.
* Pods read for health (:func:`~gitops_agent.reconcile.pods.read_pods`, which also serves the
  check of what a pruned Namespace holds): :data:`POD_HEALTH_FIELDS`, what the rules of
  :mod:`~gitops_agent.reconcile.health` and the ownership rule
  (:func:`~gitops_agent.reconcile.objects.is_owned`) read.
* the other objects of a Namespace about to be pruned
  (:func:`~gitops_agent.reconcile.live.foreign_contents`) and the unlabelled list that looks
  for many missing desired objects (:func:`~gitops_agent.reconcile.planning.look_up_unlabelled`):
  :data:`OWNERSHIP_FIELDS`.

A test records every field those readers touch on real Pods and fails when one is not kept.
What is kept is read-only, as every object the watch cache hands out is (the next round gets
the same objects).
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Mapping
from typing import Any

from gitops_agent.reconcile.fieldset import is_status_writer
from gitops_agent.vocabulary.labels import TRACKING_ANNOTATION
from gitops_agent.vocabulary.objects import Manifest

Fields = Mapping[str, "Fields | None"]
"""The fields to keep: name → the fields to keep inside it, or None for the whole value. Inside
a list, the fields apply to each item."""

_CONTAINER_STATUS: Fields = {
    "name": None,
    "restartCount": None,
    "state": None,
    "lastState": {"terminated": {"exitCode": None}},
}
_CONDITION: Fields = {"type": None, "status": None, "reason": None, "message": None}

OWNERSHIP_FIELDS: Fields = {
    "apiVersion": None,
    "kind": None,
    "type": None,
    "metadata": {
        "name": None,
        "namespace": None,
        "resourceVersion": None,
        "labels": None,
        "annotations": {TRACKING_ANNOTATION: None},
        "ownerReferences": None,
    },
}
"""What the ownership rule (:func:`~gitops_agent.reconcile.objects.is_owned`: labels, the
tracking id, the controller owner reference), the check of what a pruned Namespace holds (a
Secret's ``type``) and the search for desired objects that exist unlabelled (identity) read
of any object."""

POD_HEALTH_FIELDS: Fields = {
    "apiVersion": None,
    "kind": None,
    "metadata": {
        "name": None,
        "namespace": None,
        "uid": None,
        "resourceVersion": None,
        "creationTimestamp": None,
        "labels": None,
        "annotations": {TRACKING_ANNOTATION: None},
        "ownerReferences": None,
    },
    "status": {
        "phase": None,
        "reason": None,
        "message": None,
        "conditions": _CONDITION,
        "initContainerStatuses": _CONTAINER_STATUS,
        "containerStatuses": _CONTAINER_STATUS,
    },
}
"""What Deployment and Job health (Pods by owner uid or selector, in creation order; Pod
conditions, phase, reason and message; container states and restart counts, Kubernetes docs
"Pod Lifecycle") and the ownership rule (labels, the tracking id, the controller owner
reference) read of a Pod; ``resourceVersion`` is the watch cache's bookkeeping."""


def keep_fields(value: Any, fields: Fields | None) -> Any:
    """``value`` with only ``fields`` (whole when None); a list keeps each item's ``fields``;
    a scalar where a mapping was expected is kept as it is. Nothing is copied that is kept
    whole: the result shares those values with ``value``."""
    if fields is None:
        return value
    if isinstance(value, list):
        return [keep_fields(item, fields) for item in value]
    if not isinstance(value, Mapping):
        return value
    return {name: keep_fields(value[name], inner) for name, inner in fields.items() if name in value}


def without_status_writers(obj: Manifest) -> Manifest:
    """``obj`` without the ``managedFields`` entries of the ``status`` subresource (changed in
    place; returned). Nothing reads them: see the module docstring."""
    meta = obj.get("metadata")
    entries = meta.get("managedFields") if isinstance(meta, dict) else None
    if isinstance(entries, list) and any(is_status_writer(e) for e in entries):
        meta["managedFields"] = [e for e in entries if not is_status_writer(e)]  # type: ignore[index]
    return obj


def kept(obj: Manifest, fields: Fields | None) -> Manifest:
    """What the watch cache keeps of a watched ``obj``: ``fields`` of it (whole when None), always
    without the status writers' ``managedFields``, short strings interned."""
    result: Manifest = without_status_writers(obj) if fields is None else keep_fields(obj, fields)
    intern_strings(result)
    return result


def kept_list(objects: list[Manifest], fields: Fields | None) -> list[Manifest]:
    """What the watch cache keeps of a list's ``objects`` (already of ``fields``, as the list
    reads them): without the status writers' ``managedFields``, equal field sets shared, short
    strings interned. Changes the objects in place."""
    if fields is None:
        objects = [without_status_writers(obj) for obj in objects]
        share_field_sets(objects)
    for obj in objects:
        intern_strings(obj)
    return objects


INTERNED_LENGTH = 64
"""Strings shorter than this are interned; longer ones (ConfigMap data, messages) rarely repeat."""


def intern_strings(value: Any) -> None:
    """Replace, in place, every string value shorter than :data:`INTERNED_LENGTH` inside
    ``value`` (mappings and lists) by its interned equal (``sys.intern``); keys stay."""
    slots: Iterable[tuple[Any, Any]]
    if isinstance(value, dict):
        slots = value.items()  # assigning to existing keys while iterating is safe
    elif isinstance(value, list):
        slots = enumerate(value)
    else:
        return
    for slot, item in slots:
        if type(item) is str:
            if len(item) < INTERNED_LENGTH:
                value[slot] = sys.intern(item)
        elif isinstance(item, dict | list):
            intern_strings(item)


def share_field_sets(objects: Iterable[Manifest]) -> None:
    """Make equal ``fieldsV1`` parts of the ``managedFields`` of ``objects`` one object (in
    place; equal values, so no reader can tell). The table of parts lives for this call only."""
    table: dict[tuple[Any, ...], dict[str, Any]] = {}
    for obj in objects:
        meta = obj.get("metadata")
        for entry in (meta.get("managedFields") if isinstance(meta, dict) else None) or ():
            if isinstance(entry, dict) and isinstance(entry.get("fieldsV1"), dict):
                entry["fieldsV1"] = _shared(entry["fieldsV1"], table)


def _shared(fields: dict[str, Any], table: dict[tuple[Any, ...], dict[str, Any]]) -> dict[str, Any]:
    """The one object in ``table`` equal to ``fields`` (a field set: names to field sets; a
    part that is not one, which the API server never sends, keeps its set to itself)."""
    parts: list[Any] = []
    for name, child in fields.items():
        if not isinstance(child, dict):
            return fields
        child = fields[name] = _shared(child, table)
        parts += (name, id(child))  # the child lives in the table as long as the table
    return table.setdefault(tuple(parts), fields)
