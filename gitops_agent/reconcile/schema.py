"""The structural schema server-side apply uses, read from the API server's OpenAPI v3 documents.

Only what the local drift check needs: is a field a scalar, a quantity, a struct, a granular
or atomic map, an atomic list, a set, or an associative list (and its keys)? Anything else is
``UNKNOWN``, and the local check then refuses to decide (the server is asked instead).
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

QUANTITY_SCHEMA = "io.k8s.apimachinery.pkg.api.resource.Quantity"
_STRING_SCHEMAS = {
    "io.k8s.apimachinery.pkg.apis.meta.v1.Time",
    "io.k8s.apimachinery.pkg.apis.meta.v1.MicroTime",
    "io.k8s.apimachinery.pkg.util.intstr.IntOrString",
}


class NodeKind(StrEnum):
    SCALAR = "scalar"
    QUANTITY = "quantity"
    STRUCT = "struct"
    MAP = "map"
    ATOMIC = "atomic"
    SET = "set"
    ASSOCIATIVE = "associative"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class SchemaNode:
    """One schema position; children are resolved lazily through ``document``."""

    kind: NodeKind
    document: OpenAPIDocument | None = None
    raw: Mapping[str, Any] = field(default_factory=dict)
    keys: tuple[str, ...] = ()

    def field(self, name: str) -> SchemaNode:
        """Schema of a struct field (``UNKNOWN`` when the field is not declared)."""
        if self.document is None or self.kind is not NodeKind.STRUCT:
            return UNKNOWN_NODE
        props = self.raw.get("properties") or {}
        if name not in props:
            return UNKNOWN_NODE
        return self.document.node(props[name])

    def default(self, name: str) -> Any:
        """The schema default of a struct field (None when it has none)."""
        props = self.raw.get("properties") or {}
        schema = props.get(name)
        if not isinstance(schema, Mapping):
            return None
        if "default" in schema:
            return schema["default"]
        for part in schema.get("allOf") or ():
            if isinstance(part, Mapping) and "default" in part:
                return part["default"]
        return None

    def element(self) -> SchemaNode:
        """Schema of a map value or list item."""
        if self.document is None:
            return UNKNOWN_NODE
        if self.kind is NodeKind.MAP:
            extra = self.raw.get("additionalProperties")
            return self.document.node(extra) if isinstance(extra, Mapping) else UNKNOWN_NODE
        if self.kind in (NodeKind.SET, NodeKind.ASSOCIATIVE, NodeKind.ATOMIC):
            items = self.raw.get("items")
            return self.document.node(items) if isinstance(items, Mapping) else UNKNOWN_NODE
        return UNKNOWN_NODE


UNKNOWN_NODE = SchemaNode(NodeKind.UNKNOWN)


class OpenAPIDocument:
    """One OpenAPI v3 document (one group-version) with ``$ref`` resolution."""

    def __init__(self, document: Mapping[str, Any]) -> None:
        self._document = document
        self._schemas: Mapping[str, Any] = (document.get("components") or {}).get("schemas") or {}
        self._kinds: dict[tuple[str, str, str], str] = {}
        for name, schema in self._schemas.items():
            for gvk in schema.get("x-kubernetes-group-version-kind") or ():
                self._kinds[(gvk.get("group", ""), gvk.get("version", ""), gvk.get("kind", ""))] = name

    @functools.cached_property
    def digest(self) -> str:
        """SHA-256 (hex) of the document's canonical JSON: equal digests, equal schemas."""
        canonical = json.dumps(self._document, sort_keys=True, separators=(",", ":"), default=str)
        return hashlib.sha256(canonical.encode()).hexdigest()

    def root(self, group: str, version: str, kind: str) -> SchemaNode:
        """The schema of a whole object of this kind (``UNKNOWN`` if the document lacks it)."""
        name = self._kinds.get((group, version, kind))
        if name is None:
            return UNKNOWN_NODE
        return self.node({"$ref": f"#/components/schemas/{name}"})

    def node(self, schema: Mapping[str, Any]) -> SchemaNode:
        """Classify one schema position the way structured-merge-diff does."""
        schema, ref_name = self._resolve(schema)
        if ref_name == QUANTITY_SCHEMA:
            return SchemaNode(NodeKind.QUANTITY)
        if ref_name in _STRING_SCHEMAS or schema.get("x-kubernetes-int-or-string"):
            return SchemaNode(NodeKind.SCALAR)
        kind = schema.get("type")
        if kind in ("string", "integer", "number", "boolean"):
            return SchemaNode(NodeKind.SCALAR)
        if kind == "array":
            return self._list(schema)
        if kind == "object" or "properties" in schema or "additionalProperties" in schema:
            if schema.get("x-kubernetes-preserve-unknown-fields"):
                return UNKNOWN_NODE
            if schema.get("x-kubernetes-map-type") == "atomic":
                return SchemaNode(NodeKind.ATOMIC)
            if "properties" in schema:
                return SchemaNode(NodeKind.STRUCT, self, schema)
            if isinstance(schema.get("additionalProperties"), Mapping):
                return SchemaNode(NodeKind.MAP, self, schema)
        return UNKNOWN_NODE

    def _list(self, schema: Mapping[str, Any]) -> SchemaNode:
        list_type = schema.get("x-kubernetes-list-type")
        strategy = str(schema.get("x-kubernetes-patch-strategy") or "")
        merge_key = schema.get("x-kubernetes-patch-merge-key")
        if list_type == "map":
            keys = tuple(schema.get("x-kubernetes-list-map-keys") or ())
            if not keys:
                return UNKNOWN_NODE
            return SchemaNode(NodeKind.ASSOCIATIVE, self, schema, keys)
        if list_type == "set":
            return SchemaNode(NodeKind.SET, self, schema)
        if list_type == "atomic":
            return SchemaNode(NodeKind.ATOMIC, self, schema)
        if "merge" in strategy.split(","):
            if merge_key:
                return SchemaNode(NodeKind.ASSOCIATIVE, self, schema, (str(merge_key),))
            return SchemaNode(NodeKind.SET, self, schema)
        return SchemaNode(NodeKind.ATOMIC, self, schema)

    def _resolve(self, schema: Mapping[str, Any]) -> tuple[Mapping[str, Any], str | None]:
        ref_name: str | None = None
        for _ in range(32):
            ref = schema.get("$ref")
            if ref is None:
                all_of = schema.get("allOf")
                if isinstance(all_of, list) and len(all_of) == 1 and "$ref" in all_of[0]:
                    ref = all_of[0]["$ref"]
            if not isinstance(ref, str):
                return schema, ref_name
            ref_name = ref.rsplit("/", 1)[-1]
            target = self._schemas.get(ref_name)
            if target is None:
                return {}, ref_name
            schema = target
        return {}, ref_name
