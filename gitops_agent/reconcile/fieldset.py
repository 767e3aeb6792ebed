"""The local drift check: decide "unchanged" without asking the server, only when provable.

Server-side apply makes ``gitops-agent`` own exactly the fields of the applied configuration
(recorded in ``metadata.managedFields``). An object is provably unchanged when

* the set of fields the desired object sets equals the set ``gitops-agent`` owns (nothing
  owned that git dropped; nothing git sets that another manager took or that was removed),
* every one of those fields has the desired value in live (quantities compared by value),
* no associative list git sets (containers, env, ports, volumes…) holds items git does not
  have (an extra container or env var added by ``kubectl edit`` is drift), in git's order.

Anything the schema does not describe makes the check answer ``provable=False``; the
caller then asks the server (a server-side apply dry-run).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from gitops_agent.reconcile.normalize import scalars_equal
from gitops_agent.reconcile.schema import NodeKind, SchemaNode
from gitops_agent.vocabulary.labels import FIELD_MANAGER
from gitops_agent.vocabulary.quantities import quantities_equal

FieldPath = tuple[str, ...]
_SKIPPED_TOP = ("apiVersion", "kind", "status")
_SKIPPED_META = ("name", "namespace")
_WHOLE_MAPS: dict[tuple[str, str], tuple[str, ...]] = {
    ("v1", "ConfigMap"): ("data", "binaryData"),
    ("v1", "Secret"): ("data",),
}
"""Maps git sets wholly: a key another manager added is drift (config must match git)."""


@dataclass(frozen=True)
class ExtraItem:
    """A live list item (or whole-map entry) that git does not have.

    ``pointer`` is the JSON pointer of the list (or map); ``index`` the item's position, or
    ``key`` the map entry's name (then ``index`` is -1).
    """

    pointer: str
    index: int
    item: Any
    key: str | None = None
    field: FieldPath = ()
    """The item's managedFields path (empty when unknown): who added it is read from there."""

    @property
    def path(self) -> str:
        """The JSON pointer of the item itself."""
        if self.key is not None:
            return f"{self.pointer}/{_pointer_token(self.key)}"
        return f"{self.pointer}/{self.index}"


@dataclass(frozen=True)
class LocalCheck:
    """Outcome of the local comparison."""

    provable: bool
    unchanged: bool
    extras: tuple[ExtraItem, ...] = ()
    reason: str = ""
    missing: tuple[ExtraItem, ...] = ()
    """Desired items absent from an existing live list (added with the extras' removal)."""


class _Unprovable(Exception):
    """The local check cannot prove the object unchanged; the server's dry-run decides."""


@dataclass
class _Walk:
    live_present: bool = True
    values_match: bool = True
    order_match: bool = True
    paths: set[FieldPath] = field(default_factory=set)
    extras: list[ExtraItem] = field(default_factory=list)
    missing: list[ExtraItem] = field(default_factory=list)


def _key_element(item: Mapping[str, Any], keys: tuple[str, ...], element: SchemaNode | None = None) -> str | None:
    """The managedFields key of a list item; missing key fields take their schema default
    (the API server defaults them before it records ownership, e.g. ``protocol: TCP``)."""
    values: dict[str, Any] = {}
    for key in keys:
        if key in item:
            values[key] = item[key]
            continue
        default = element.default(key) if element is not None else None
        if default is None:
            return None
        values[key] = default
    return "k:" + json.dumps(values, sort_keys=True, separators=(",", ":"))


def _value_element(value: Any) -> str:
    return "v:" + json.dumps(value, sort_keys=True, separators=(",", ":"))


def _pointer_token(name: str) -> str:
    return name.replace("~", "~0").replace("/", "~1")


def _deep_equal(a: Any, b: Any) -> bool:
    if isinstance(a, Mapping) and isinstance(b, Mapping):
        return a.keys() == b.keys() and all(_deep_equal(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_deep_equal(x, y) for x, y in zip(a, b, strict=True))
    return scalars_equal(a, b)


def _walk(desired: Any, live: Any, node: SchemaNode, path: FieldPath, pointer: str, state: _Walk) -> None:
    """Record the fields ``desired`` sets at ``path`` and whether ``live`` matches them (the
    structured-merge-diff walk, one function per schema node kind)."""
    if desired is None:
        raise _Unprovable(f"null value at {'.'.join(path)}")
    kind = node.kind
    if kind is NodeKind.UNKNOWN:
        raise _Unprovable(f"no schema for {'.'.join(path) or 'object'}")
    if kind is NodeKind.SCALAR or kind is NodeKind.QUANTITY:
        _walk_scalar(desired, live, kind, path, state)
    elif kind is NodeKind.ATOMIC:
        state.paths.add(path)
        if live is None or not _deep_equal(desired, live):
            state.values_match = False
    elif kind in (NodeKind.STRUCT, NodeKind.MAP):
        _walk_mapping(desired, live, node, path, pointer, state)
    else:
        _walk_list(desired, live, node, path, pointer, state)


def _walk_scalar(desired: Any, live: Any, kind: NodeKind, path: FieldPath, state: _Walk) -> None:
    if isinstance(desired, Mapping | list):
        raise _Unprovable(f"structured value at scalar {'.'.join(path)}")
    state.paths.add(path)
    equal = quantities_equal if kind is NodeKind.QUANTITY else scalars_equal
    if live is None or not equal(desired, live):
        state.values_match = False


def _walk_mapping(desired: Any, live: Any, node: SchemaNode, path: FieldPath, pointer: str, state: _Walk) -> None:
    """A struct (named fields) or a map (one element schema for every key)."""
    if not isinstance(desired, Mapping):
        raise _Unprovable(f"expected an object at {'.'.join(path)}")
    if live is not None and not isinstance(live, Mapping):
        state.values_match = False
        live = None
    if not desired:
        state.paths.add(path)
        if live is None:
            state.values_match = False
        return
    for name, value in desired.items():
        child = node.field(name) if node.kind is NodeKind.STRUCT else node.element()
        child_live = None if live is None else live.get(name)
        _walk(value, child_live, child, (*path, f"f:{name}"), f"{pointer}/{_pointer_token(name)}", state)


def _walk_list(desired: Any, live: Any, node: SchemaNode, path: FieldPath, pointer: str, state: _Walk) -> None:
    """A set (items are their own keys) or an associative list (items keyed by fields)."""
    if not isinstance(desired, list):
        raise _Unprovable(f"expected a list at {'.'.join(path)}")
    live_list = live if isinstance(live, list) else None
    if live is not None and live_list is None:
        state.values_match = False
    if not desired:
        state.paths.add(path)
        if live_list is None or live_list:
            state.values_match = False
        return
    if node.kind is NodeKind.SET:
        _walk_set(desired, live_list, path, pointer, state)
    else:
        _walk_associative(desired, live_list, node, path, pointer, state)


def _walk_set(desired: list[Any], live_list: list[Any] | None, path: FieldPath, pointer: str, state: _Walk) -> None:
    desired_values = [_value_element(v) for v in desired]
    if len(set(desired_values)) != len(desired_values):
        raise _Unprovable(f"duplicate set items at {'.'.join(path)}")
    live_values = [_value_element(v) for v in live_list or ()]
    for value in desired_values:
        state.paths.add((*path, value))
        if value not in live_values:
            state.values_match = False
    for index, value in enumerate(live_values):
        if value not in desired_values and live_list is not None:
            state.extras.append(ExtraItem(pointer, index, live_list[index], field=(*path, value)))


def _walk_associative(
    desired: list[Any], live_list: list[Any] | None, node: SchemaNode, path: FieldPath, pointer: str, state: _Walk
) -> None:
    element = node.element()
    live_index = _live_item_index(live_list, node.keys, element)
    seen: set[str] = set()
    last_position = -1
    for item in desired:
        element_key = _desired_item_key(item, node.keys, element, path, seen)
        item_path = (*path, element_key)
        state.paths.add(item_path)
        position = live_index.get(element_key)
        if position is None:
            state.values_match = False
            live_item = None
            if live_list is not None:
                state.missing.append(ExtraItem(pointer, -1, item))
        else:
            if position < last_position:
                state.order_match = False
            last_position = position
            live_item = (live_list or [])[position]
        _walk(item, live_item, element, item_path, f"{pointer}/{position}", state)
    _record_live_only_items(live_list, live_index, seen, node.keys, element, path, pointer, state)


def _live_item_index(live_list: list[Any] | None, keys: tuple[str, ...], element: SchemaNode) -> dict[str, int]:
    """Key element → position of each keyed live item."""
    live_index: dict[str, int] = {}
    for index, item in enumerate(live_list or ()):
        element_key = _key_element(item, keys, element) if isinstance(item, Mapping) else None
        if element_key is not None:
            live_index[element_key] = index
    return live_index


def _desired_item_key(item: Any, keys: tuple[str, ...], element: SchemaNode, path: FieldPath, seen: set[str]) -> str:
    """The key element of a desired list item (added to ``seen``); unprovable when missing or repeated."""
    if not isinstance(item, Mapping):
        raise _Unprovable(f"expected objects in {'.'.join(path)}")
    element_key = _key_element(item, keys, element)
    if element_key is None:
        raise _Unprovable(f"list item without its keys {keys} at {'.'.join(path)}")
    if element_key in seen:
        raise _Unprovable(f"duplicate list item {element_key} at {'.'.join(path)}")
    seen.add(element_key)
    return element_key


def _record_live_only_items(
    live_list: list[Any] | None,
    live_index: dict[str, int],
    seen: set[str],
    keys: tuple[str, ...],
    element: SchemaNode,
    path: FieldPath,
    pointer: str,
    state: _Walk,
) -> None:
    """Live items git does not set: keyed ones, and ones without their keys."""
    if live_list is None:
        return
    for element_key, index in live_index.items():
        if element_key not in seen:
            state.extras.append(ExtraItem(pointer, index, live_list[index], field=(*path, element_key)))
    for index, item in enumerate(live_list):
        if not isinstance(item, Mapping) or _key_element(item, keys, element) is None:
            state.extras.append(ExtraItem(pointer, index, item))


def desired_fields(desired: Mapping[str, Any], live: Mapping[str, Any] | None, root: SchemaNode) -> _Walk:
    """Walk the desired object against live; raises ``_Unprovable`` where the schema is unclear."""
    state = _Walk()
    for name, value in desired.items():
        if name in _SKIPPED_TOP:
            if name == "status":
                raise _Unprovable("desired object has a status")
            continue
        live_value = None if live is None else live.get(name)
        if name == "metadata":
            if not isinstance(value, Mapping):
                raise _Unprovable("metadata is not an object")
            trimmed = {k: v for k, v in value.items() if k not in _SKIPPED_META}
            meta_node = root.field("metadata")
            if not trimmed:
                continue
            _walk(trimmed, live_value, meta_node, ("f:metadata",), "/metadata", state)
            continue
        _walk(value, live_value, root.field(name), (f"f:{name}",), f"/{_pointer_token(name)}", state)
    return state


def whole_map_extras(desired: Mapping[str, Any], live: Mapping[str, Any] | None) -> list[ExtraItem]:
    """Entries of maps git sets wholly (ConfigMap and Secret data) that git does not have."""
    found: list[ExtraItem] = []
    whole = _WHOLE_MAPS.get((str(desired.get("apiVersion")), str(desired.get("kind"))), ())
    for name in whole:
        wanted = desired.get(name) or {}
        present = (live or {}).get(name) or {}
        if isinstance(wanted, Mapping) and isinstance(present, Mapping):
            found.extend(
                ExtraItem(f"/{name}", -1, value, key, field=(f"f:{name}", f"f:{key}"))
                for key, value in present.items()
                if key not in wanted
            )
    return found


def _canonical_element(element: str) -> str:
    prefix, _, rest = element.partition(":")
    if prefix in ("k", "v"):
        try:
            return f"{prefix}:" + json.dumps(json.loads(rest), sort_keys=True, separators=(",", ":"))
        except json.JSONDecodeError:
            return element
    return element


def _collect_owned(fields: Mapping[str, Any], path: FieldPath, out: set[FieldPath]) -> None:
    for element, child in fields.items():
        if element == ".":
            continue
        child_path = (*path, _canonical_element(element))
        if not isinstance(child, Mapping) or not child:
            out.add(child_path)
            continue
        if "." in child:
            out.add(child_path)
        _collect_owned(child, child_path, out)


def owned_fields(live: Mapping[str, Any], manager: str = FIELD_MANAGER) -> set[FieldPath] | None:
    """Fields ``manager`` owns through Apply on the main resource; None when it owns nothing."""
    entries = (live.get("metadata") or {}).get("managedFields") or []
    found = False
    out: set[FieldPath] = set()
    for entry in entries:
        if entry.get("manager") != manager or entry.get("operation") != "Apply":
            continue
        if entry.get("subresource"):
            continue
        found = True
        _collect_owned(entry.get("fieldsV1") or {}, (), out)
    return out if found else None


ExtraFilter = Callable[[ExtraItem], bool]
"""True for an extra item git leaves alone (an ignore rule or another manager's field covers it)."""


def _enforced(extras: Iterable[ExtraItem], left_alone: ExtraFilter | None) -> tuple[ExtraItem, ...]:
    return tuple(extras) if left_alone is None else tuple(e for e in extras if not left_alone(e))


def extra_items(
    desired: Mapping[str, Any], live: Mapping[str, Any], root: SchemaNode, left_alone: ExtraFilter | None = None
) -> tuple[ExtraItem, ...]:
    """Live items inside lists (and maps) that git sets wholly but does not contain."""
    whole = whole_map_extras(desired, live)
    try:
        return _enforced((*desired_fields(desired, live, root).extras, *whole), left_alone)
    except _Unprovable:
        return _enforced(whole, left_alone)


def check_locally(
    desired: Mapping[str, Any], live: Mapping[str, Any], root: SchemaNode, left_alone: ExtraFilter | None = None
) -> LocalCheck:
    """Compare desired with live the way the server would, or say it cannot (``left_alone``:
    extra items that are not drift)."""
    whole = _enforced(whole_map_extras(desired, live), left_alone)
    owned = owned_fields(live)
    if owned is None:
        return LocalCheck(provable=False, unchanged=False, extras=whole, reason="gitops-agent owns no fields")
    try:
        walk = desired_fields(desired, live, root)
    except _Unprovable as why:
        return LocalCheck(provable=False, unchanged=False, extras=whole, reason=str(why))
    extras = (*_enforced(walk.extras, left_alone), *whole)
    missing = tuple(walk.missing)
    if walk.paths != owned:
        return LocalCheck(
            provable=False,
            unchanged=False,
            extras=extras,
            reason="owned fields differ from desired",
            missing=missing,
        )
    unchanged = walk.values_match and walk.order_match and not extras
    return LocalCheck(provable=True, unchanged=unchanged, extras=extras, missing=missing)


@dataclass(frozen=True)
class ManagerEntry:
    """One ``metadata.managedFields`` entry: who wrote which fields, how and when.

    ``time`` is the entry's RFC 3339 timestamp (the last change by that manager), ``fields``
    the paths it owns in the notation of :data:`FieldPath`.
    """

    manager: str
    operation: str
    subresource: str
    time: str
    fields: frozenset[FieldPath]

    def to_json(self) -> dict[str, str]:
        entry = {"manager": self.manager, "operation": self.operation, "time": self.time}
        if self.subresource:
            entry["subresource"] = self.subresource
        return entry


def is_status_writer(entry: Any) -> bool:
    """Whether a ``managedFields`` entry was written to the ``status`` subresource (a
    controller's report: never drift, never read by the drift check)."""
    return isinstance(entry, Mapping) and entry.get("subresource") == "status"


def manager_entries(live: Mapping[str, Any]) -> list[ManagerEntry]:
    """Every managedFields entry of ``live`` except status writers (controllers' reports)."""
    entries: list[ManagerEntry] = []
    for raw in (live.get("metadata") or {}).get("managedFields") or []:
        if not isinstance(raw, Mapping) or is_status_writer(raw):
            continue
        fields: set[FieldPath] = set()
        _collect_owned(raw.get("fieldsV1") or {}, (), fields)
        entries.append(
            ManagerEntry(
                manager=str(raw.get("manager", "")),
                operation=str(raw.get("operation", "")),
                subresource=str(raw.get("subresource") or ""),
                time=str(raw.get("time") or ""),
                fields=frozenset(fields),
            )
        )
    return entries


def _touches(owned: frozenset[FieldPath], paths: set[FieldPath]) -> bool:
    """Does a manager own one of ``paths`` or something inside one of them?"""
    if owned & paths:
        return True
    return any(path[:n] in paths for path in owned for n in range(1, len(path)))


def drift_authors(
    desired: Mapping[str, Any], live: Mapping[str, Any], root: SchemaNode, exempt: Sequence[str] = ()
) -> tuple[ManagerEntry, ...]:
    """The field managers whose edits made ``live`` differ from git, newest first.

    A manager other than gitops-agent is named when it owns a field git sets, or an item it
    added to a list or map git sets wholly (read from ``managedFields``, where the API server
    records the last writer of every field). When no field tells (a field was removed, or the
    schema is unknown), the managers that wrote after gitops-agent's last apply are named.
    Status writers and the ``exempt`` managers (whose fields git leaves alone) are never named.
    """
    others = [e for e in manager_entries(live) if e.manager != FIELD_MANAGER and e.manager not in exempt]
    if not others:
        return ()
    try:
        walk = desired_fields(desired, live, root)
        touched = set(walk.paths) | {extra.field for extra in walk.extras if extra.field}
    except _Unprovable:
        touched = set()
    touched |= {extra.field for extra in whole_map_extras(desired, live)}
    named = [e for e in others if touched and _touches(e.fields, touched)]
    if not named:
        applied = max((e.time for e in manager_entries(live) if e.manager == FIELD_MANAGER), default="")
        named = [e for e in others if e.operation == "Update" and e.time >= applied]
    return tuple(sorted(named, key=lambda e: e.time, reverse=True))


def owned_by(live: Mapping[str, Any], managers: Sequence[str], *, all_others: bool = False) -> frozenset[FieldPath]:
    """The fields ``managers`` own in ``live`` (with ``all_others``: every manager but gitops-agent)."""
    fields: set[FieldPath] = set()
    for entry in manager_entries(live):
        if (all_others and entry.manager != FIELD_MANAGER) or entry.manager in managers:
            fields |= entry.fields
    return frozenset(fields)


def release_fields(desired: Any, node: SchemaNode, owned: frozenset[FieldPath], path: FieldPath = ()) -> Any:
    """``desired`` without the leaf fields in ``owned``, so an apply leaves them to their owner.

    Keys of associative list items stay (git still declares the item); containers emptied by
    the release are dropped. Parts the schema does not describe are kept as they are.
    """
    if not owned:
        return desired
    if isinstance(desired, Mapping) and node.kind in (NodeKind.STRUCT, NodeKind.MAP):
        return _release_in_mapping(desired, node, owned, path)
    if isinstance(desired, list) and node.kind is NodeKind.ASSOCIATIVE:
        return _release_in_associative_list(desired, node, owned, path)
    if isinstance(desired, list) and node.kind is NodeKind.SET:
        return [v for v in desired if (*path, _value_element(v)) not in owned]
    return desired


def _release_in_mapping(
    desired: Mapping[str, Any], node: SchemaNode, owned: frozenset[FieldPath], path: FieldPath
) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for name, value in desired.items():
        child_path = (*path, f"f:{name}")
        if child_path in owned and not isinstance(value, Mapping | list):
            continue
        if child_path in owned and node.kind is NodeKind.STRUCT and node.field(name).kind is NodeKind.ATOMIC:
            continue
        child = node.field(name) if node.kind is NodeKind.STRUCT else node.element()
        kept = release_fields(value, child, owned, child_path)
        if isinstance(kept, Mapping | list) and not kept and value:
            continue
        result[name] = kept
    return result


def _release_in_associative_list(
    desired: list[Any], node: SchemaNode, owned: frozenset[FieldPath], path: FieldPath
) -> list[Any]:
    element = node.element()
    items: list[Any] = []
    for item in desired:
        key = _key_element(item, node.keys, element) if isinstance(item, Mapping) else None
        if key is None:
            items.append(item)
            continue
        kept = release_fields(item, element, owned, (*path, key))
        items.append({**{k: item[k] for k in node.keys if k in item}, **kept})
    return items
