"""What a reviewer reads first: field-level changes of one object and the risk summary of a
whole change set. Pure; used by ``diff``/``sync`` (live against git) and ``plan`` (revision
against revision).

Field changes come from ``deepdiff`` on noise-free objects with Secret values masked; list
items that carry a ``name`` (containers, env, ports, volumes) are paired by name, so one inserted
env var is one change, not a shifted list.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from gitops_agent.vocabulary.masking import mask_secrets
from gitops_agent.vocabulary.quantities import parse_quantity

MAX_FIELDS = 200
"""At most this many field changes per object (a rewritten object says so in one line)."""

_REPORTS = (
    "values_changed",
    "type_changes",
    "dictionary_item_added",
    "dictionary_item_removed",
    "iterable_item_added",
    "iterable_item_removed",
)


@dataclass(frozen=True)
class FieldChange:
    """One changed field: ``path`` like ``spec.template.spec.containers[web].image`` (list items
    named by their ``name`` where they have one); ``old``/``new`` absent (``None`` with
    ``added``/``removed``) when the field appears or disappears."""

    path: str
    old: Any = None
    new: Any = None
    added: bool = False
    removed: bool = False

    def to_json(self) -> dict[str, Any]:
        entry: dict[str, Any] = {"path": self.path}
        if not self.added:
            entry["old"] = self.old
        if not self.removed:
            entry["new"] = self.new
        return entry

    def text(self) -> str:
        """One line: ``path: old → new``, ``path: (added) new``, ``path: old → (removed)``."""
        if self.added:
            return f"{self.path}: (added) {_show(self.new)}"
        if self.removed:
            return f"{self.path}: {_show(self.old)} → (removed)"
        return f"{self.path}: {_show(self.old)} → {_show(self.new)}"


def _show(value: Any) -> str:
    """A value on one line: strings as they are unless they hold a line break or are empty."""
    plain = isinstance(value, str) and value and "\n" not in value and "\r" not in value
    text = value if plain else json.dumps(value, sort_keys=True, default=str)
    return text if len(text) <= 80 else text[:77] + "..."


def _by_name(first: Any, second: Any, level: Any = None) -> bool:
    from deepdiff.helper import CannotCompare

    if isinstance(first, Mapping) and isinstance(second, Mapping) and "name" in first and "name" in second:
        return bool(first["name"] == second["name"])
    raise CannotCompare() from None


def _path(parts: Sequence[Any], old_root: Any, new_root: Any) -> str:
    out = ""
    old_node, new_node = old_root, new_root
    for part in parts:
        if isinstance(part, int):
            item = _child(new_node, part) if new_node is not None else None
            item = item if item is not None else _child(old_node, part)
            name = item.get("name") if isinstance(item, Mapping) else None
            out += f"[{name}]" if isinstance(name, str) else f"[{part}]"
        else:
            key = str(part)
            out += (f".{key}" if out else key) if key.replace("_", "").isalnum() else f'["{key}"]'
        old_node, new_node = _child(old_node, part), _child(new_node, part)
    return out


def _child(node: Any, part: Any) -> Any:
    if isinstance(node, Mapping):
        return node.get(part)
    if isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
        return node[part]
    return None


def project(live: Any, shape: Any) -> Any:
    """``live`` cut down to the fields ``shape`` sets (lists paired by item ``name``, else by
    position), so server defaults and controller fields do not read as changes."""
    if isinstance(shape, Mapping) and isinstance(live, Mapping):
        return {key: project(live[key], value) for key, value in shape.items() if key in live}
    if isinstance(shape, list) and isinstance(live, list):
        named = {item.get("name"): item for item in live if isinstance(item, Mapping) and "name" in item}
        result = []
        for index, item in enumerate(shape):
            if isinstance(item, Mapping) and item.get("name") in named:
                result.append(project(named[item["name"]], item))
            elif not named and index < len(live):
                result.append(project(live[index], item))
        return result
    return live


def field_changes(old: Mapping[str, Any] | None, new: Mapping[str, Any] | None) -> tuple[FieldChange, ...]:
    """Changed fields from ``old`` to ``new`` (both noise-free), Secret values masked.

    Empty when either side is absent (a created or deleted object is all fields). At most
    :data:`MAX_FIELDS` changes.
    """
    if old is None or new is None:
        return ()
    # deepdiff (and the numpy it loads) takes most of a command's start-up: imported only
    # when an object did change
    from deepdiff import DeepDiff
    from deepdiff.helper import notpresent

    masked_old, masked_new = mask_secrets(dict(old), dict(new))
    diff = DeepDiff(masked_old, masked_new, view="tree", iterable_compare_func=_by_name, threshold_to_diff_deeper=0)
    found: list[FieldChange] = []
    for report in _REPORTS:
        for level in diff.get(report, ()):
            path = _path(level.path(output_format="list"), masked_old, masked_new)
            before = None if level.t1 is notpresent else level.t1
            after = None if level.t2 is notpresent else level.t2
            if report == "type_changes" and str(before) == str(after):
                continue  # 1 and "1" (a quantity or port written either way) are one value
            found.append(FieldChange(path, before, after, added=level.t1 is notpresent, removed=level.t2 is notpresent))
    found.sort(key=lambda change: change.path)
    return tuple(found[:MAX_FIELDS])


@dataclass(frozen=True)
class Reviewed:
    """One object's change as the risk summary sees it."""

    action: str
    """create, update, delete, re-run (a task's Job replaced by a new revision's)."""
    group: str
    kind: str
    namespace: str
    name: str
    fields: tuple[FieldChange, ...] = ()

    @property
    def label(self) -> str:
        return f"{self.kind}/{self.namespace}/{self.name}" if self.namespace else f"{self.kind}/{self.name}"


SENSITIVE_KINDS = {
    ("", "Namespace"): "Namespace",
    ("apiextensions.k8s.io", "CustomResourceDefinition"): "CRD",
    ("rbac.authorization.k8s.io", "ClusterRole"): "RBAC",
    ("rbac.authorization.k8s.io", "ClusterRoleBinding"): "RBAC",
    ("rbac.authorization.k8s.io", "Role"): "RBAC",
    ("rbac.authorization.k8s.io", "RoleBinding"): "RBAC",
    ("admissionregistration.k8s.io", "ValidatingWebhookConfiguration"): "webhook",
    ("admissionregistration.k8s.io", "MutatingWebhookConfiguration"): "webhook",
}
"""Kinds whose change reaches beyond one workload (the dangerous part of a large change)."""


def _delta(old: Any, new: Any) -> str:
    """``(+3)``, ``(-250m)``-style delta of two numbers or quantities; empty when not numeric."""
    before, after = parse_quantity(old), parse_quantity(new)
    if before is None or after is None:
        return ""
    change = after - before
    if before != 0:
        percent = change / before * Decimal(100)
        return f" ({'+' if change >= 0 else ''}{percent:.0f}%)"
    return f" ({'+' if change >= 0 else ''}{change.normalize()})"


CANARY_WEIGHT_PATH = 'metadata.annotations["nginx.ingress.kubernetes.io/canary-weight"]'


def _traffic_weight(field: FieldChange) -> str:
    """What a changed traffic split is called: ``weight of <backend>`` for an HTTPRoute's
    backendRef, ``canary-weight`` for an ingress-nginx canary Ingress; empty otherwise."""
    if field.added or field.removed:
        return ""
    if field.path == CANARY_WEIGHT_PATH:
        return "canary-weight"
    head, found, rest = field.path.rpartition(".backendRefs[")
    if found and rest.endswith("].weight") and head:
        return f"weight of {rest.removesuffix('].weight')}"
    return ""


def risk_summary(changes: Iterable[Reviewed], *, prune: bool | None = None) -> list[str]:
    """The lines a reviewer reads first, most dangerous first: deletions (and whether prune is
    on), changes to Namespaces, CRDs, RBAC and webhooks, replica and resource changes with their
    deltas, image changes, traffic split changes (HTTPRoute backendRef weights, ingress-nginx
    canary weights), tasks that will run again. Empty when nothing risky changes."""
    items = list(changes)
    lines: list[str] = []
    deleted = [c for c in items if c.action == "delete"]
    if deleted:
        names = ", ".join(c.label for c in deleted[:5]) + (", …" if len(deleted) > 5 else "")
        suffix = "" if prune is None else (" (prune is on)" if prune else " (only with --prune)")
        lines.append(f"{len(deleted)} object(s) deleted{suffix}: {names}")
    for category in ("Namespace", "CRD", "RBAC", "webhook"):
        touched = [c for c in items if SENSITIVE_KINDS.get((c.group, c.kind)) == category]
        if touched:
            listed = ", ".join(f"{c.action} {c.label}" for c in touched[:5]) + (", …" if len(touched) > 5 else "")
            lines.append(f"{category} changes: {listed}")
    for change in items:
        for field in change.fields:
            leaf = field.path.rsplit(".", 1)[-1]
            if leaf in ("replicas", "minReplicas", "maxReplicas") and not (field.added or field.removed):
                lines.append(f"{change.label}: {leaf} {field.old} → {field.new}{_delta(field.old, field.new)}")
            elif ".resources." in f".{field.path}" and not isinstance(field.new, Mapping | list):
                resource = field.path.split(".resources.", 1)[-1]
                lines.append(
                    f"{change.label}: {resource} {field.old} → {field.new}{_delta(field.old, field.new)}"
                )
            elif leaf == "image" and not (field.added or field.removed):
                lines.append(f"{change.label}: image {field.old} → {field.new}")
            elif _traffic_weight(field):
                lines.append(f"{change.label}: {_traffic_weight(field)} {field.old} → {field.new}")
    reruns = [c for c in items if c.action == "re-run" or (c.action == "create" and c.kind == "Job")]
    if reruns:
        lines.append(f"{len(reruns)} task(s) will run: " + ", ".join(c.name for c in reruns[:8])
                     + (", …" if len(reruns) > 8 else ""))
    return lines
