"""Generate docs/spec.md, the field reference, from the JSON Schemas in schemas/.

python -m tools.spec_docs            rewrite docs/spec.md
python -m tools.spec_docs --check    exit 1 when docs/spec.md is out of date
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SCHEMAS = (("Workflow", "workflow.schema.json"), ("Environment", "environment.schema.json"))
TARGET = ROOT / "docs" / "spec.md"
MAX_DEPTH = 8


def _resolve(schema: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    """Follow a local ``$ref``, keeping the referring node's own description."""
    seen = 0
    while "$ref" in node and seen < 10:
        name = node["$ref"].rsplit("/", 1)[-1]
        target = dict(schema["$defs"][name])
        if "description" in node:
            target["description"] = node["description"]
        node = {**target, **{k: v for k, v in node.items() if k not in ("$ref",)}}
        node.pop("$ref", None) if "$ref" not in target else None
        seen += 1
    return node


def _type(node: dict[str, Any]) -> str:
    if "const" in node:
        return f"`{node['const']}`"
    if "enum" in node:
        return " \\| ".join(f"`{v}`" for v in node["enum"])
    kind = node.get("type")
    if isinstance(kind, list):
        return " or ".join(kind)
    if kind:
        return str(kind)
    for key in ("oneOf", "anyOf"):
        if key in node:
            return " or ".join(sorted({_type(n) for n in node[key]}))
    return "any"


def _rows(schema: dict[str, Any], node: dict[str, Any], path: str, depth: int, out: list[str]) -> None:
    node = _resolve(schema, node)
    if depth > MAX_DEPTH:
        return
    props = node.get("properties", {})
    required = set(node.get("required", []))
    for name, child in props.items():
        child = _resolve(schema, child)
        field = f"{path}.{name}" if path else name
        description = " ".join(str(child.get("description", "")).split()).replace("|", "\\|")
        mark = " (required)" if name in required else ""
        out.append(f"| `{field}`{mark} | {_type(child)} | {description} |")
        _rows(schema, child, field, depth + 1, out)
        extra = child.get("additionalProperties")
        if isinstance(extra, dict):
            extra = _resolve(schema, extra)
            if extra.get("properties"):
                _rows(schema, extra, f"{field}.<name>", depth + 1, out)
        items = child.get("items")
        if isinstance(items, dict):
            items = _resolve(schema, items)
            if items.get("properties"):
                _rows(schema, items, f"{field}[]", depth + 1, out)


def render() -> str:
    lines = [
        "# Spec reference",
        "",
        "Generated from the JSON Schemas in `schemas/` by `python -m tools.spec_docs`; a test",
        "keeps it in step. The contract, with examples, is in the README and `examples/`.",
        "`<name>` stands for a user-chosen key (a task, service, variant or port name).",
    ]
    for title, file_name in SCHEMAS:
        schema = json.loads((ROOT / "schemas" / file_name).read_text())
        lines += ["", f"## {title}", "", " ".join(str(schema.get("description", "")).split()), ""]
        lines += ["| field | type | meaning |", "| --- | --- | --- |"]
        rows: list[str] = []
        _rows(schema, schema, "", 0, rows)
        lines += rows
    return "\n".join(lines) + "\n"


def main() -> int:
    text = render()
    if "--check" in sys.argv:
        return 0 if TARGET.exists() and TARGET.read_text() == text else 1
    TARGET.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
