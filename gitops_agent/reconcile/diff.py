"""The difference of one object: normalized live, predicted result and a unified diff."""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from gitops_agent.vocabulary.masking import mask_secrets
from gitops_agent.vocabulary.objects import Manifest, ObjectRef
from gitops_agent.yamlscalars import double_quoted, needs_escapes, needs_quotes


@dataclass(frozen=True)
class DiffResult:
    """``live`` and ``predicted`` are noise-free (None when the object is absent on that side)."""

    ref: ObjectRef
    live: Manifest | None
    predicted: Manifest | None

    @property
    def changed(self) -> bool:
        return self.live != self.predicted

    def unified(self) -> str:
        """A unified diff of the two sides as YAML, Secret values masked."""
        return unified_diff(self.ref, self.live, self.predicted)


_PLAIN = re.compile(r"^[A-Za-z_./][A-Za-z0-9_ ./:@=+-]*$")


def _scalar(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return json.dumps(value)
    text = str(value)
    if (
        _PLAIN.fullmatch(text)
        and not needs_quotes(text)
        and text.lower() not in ("yes", "no", "on", "off", "y", "n", "true", "false", "null")
        and not text.endswith((" ", ":"))
        and ": " not in text
        and " #" not in text
    ):
        return text
    return double_quoted(text)


def _emit(value: Any, indent: int, out: list[str]) -> None:
    pad = "  " * indent
    if isinstance(value, Mapping):
        for key in sorted(value):
            item = value[key]
            name = _scalar(key)
            if isinstance(item, Mapping) and item:
                out.append(f"{pad}{name}:")
                _emit(item, indent + 1, out)
            elif isinstance(item, list) and item:
                out.append(f"{pad}{name}:")
                _emit(item, indent, out)
            elif _literal(item):
                out.append(f"{pad}{name}: |" + ("" if item.endswith("\n") else "-"))
                out.extend(f"{pad}  {line}" if line else "" for line in item.rstrip("\n").split("\n"))
            else:
                out.append(f"{pad}{name}: {_flow(item)}")
        return
    for item in value:
        if isinstance(item, Mapping) and item:
            nested: list[str] = []
            _emit(item, indent + 1, nested)
            first = nested[0][len(pad) + 2 :]
            out.append(f"{pad}- {first}")
            out.extend(nested[1:])
        elif isinstance(item, list) and item:
            out.append(f"{pad}-")
            _emit(item, indent + 1, out)
        else:
            out.append(f"{pad}- {_flow(item)}")


def _literal(value: Any) -> bool:
    """A multi-line string that a ``|`` block keeps exactly."""
    return (
        isinstance(value, str)
        and "\n" in value.rstrip("\n")
        and not value.endswith("\n\n")
        and not value.startswith((" ", "\n"))
        and not needs_escapes(value)
        and not any(line.startswith("\t") for line in value.split("\n"))  # libyaml: a tab is not indentation
        and all(line == line.rstrip() for line in value.split("\n"))
    )


def _flow(value: Any) -> str:
    if isinstance(value, Mapping):
        return "{}"
    if isinstance(value, list):
        return "[]"
    return _scalar(value)


def to_yaml(obj: Manifest | None) -> str:
    """Block-style YAML with sorted keys (a small, fast emitter for JSON-shaped data)."""
    if obj is None:
        return ""
    out: list[str] = []
    _emit(obj, 0, out)
    return "\n".join(out) + "\n"


def unified_diff(ref: ObjectRef, live: Manifest | None, predicted: Manifest | None) -> str:
    before, after = mask_secrets(live, predicted)
    name = str(ref)
    lines = difflib.unified_diff(
        to_yaml(before).splitlines(keepends=True),
        to_yaml(after).splitlines(keepends=True),
        fromfile=f"live/{name}" if live is not None else "/dev/null",
        tofile=f"git/{name}" if predicted is not None else "/dev/null",
    )
    return "".join(lines)
