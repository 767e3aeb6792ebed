"""Differences between a base object and its environment variant as a JSON Patch (RFC 6902).

JSON Patch is exact (it can remove fields, which a strategic merge patch cannot express
simply) and kustomize applies it natively.
"""

from __future__ import annotations

from typing import Any


def _escape(token: str) -> str:
    return token.replace("~", "~0").replace("/", "~1")


def json_patch(before: Any, after: Any, path: str = "") -> list[dict[str, Any]]:
    """The operations turning ``before`` into ``after`` (empty when equal).

    Maps are compared key by key; lists of equal length item by item; anything else that
    differs is replaced whole.
    """
    if isinstance(before, dict) and isinstance(after, dict):
        ops: list[dict[str, Any]] = []
        for key in sorted(before.keys() - after.keys()):
            ops.append({"op": "remove", "path": f"{path}/{_escape(key)}"})
        for key in sorted(after.keys() - before.keys()):
            ops.append({"op": "add", "path": f"{path}/{_escape(key)}", "value": after[key]})
        for key in sorted(before.keys() & after.keys()):
            ops.extend(json_patch(before[key], after[key], f"{path}/{_escape(key)}"))
        return ops
    if isinstance(before, list) and isinstance(after, list) and len(before) == len(after):
        ops = []
        for index, (old, new) in enumerate(zip(before, after, strict=True)):
            ops.extend(json_patch(old, new, f"{path}/{index}"))
        return ops
    if before == after and type(before) is type(after):
        return []
    return [{"op": "replace", "path": path, "value": after}]


def apply_json_patch(document: Any, ops: list[dict[str, Any]]) -> Any:
    """Apply the operations produced by :func:`json_patch` (used to check round trips)."""
    import copy

    result = copy.deepcopy(document)
    for op in ops:
        tokens = [t.replace("~1", "/").replace("~0", "~") for t in op["path"].split("/")[1:]]
        if not tokens:
            result = copy.deepcopy(op["value"])
            continue
        parent = result
        for token in tokens[:-1]:
            parent = parent[int(token)] if isinstance(parent, list) else parent[token]
        last: Any = int(tokens[-1]) if isinstance(parent, list) else tokens[-1]
        if op["op"] == "remove":
            del parent[last]
        else:
            parent[last] = copy.deepcopy(op["value"])
    return result
