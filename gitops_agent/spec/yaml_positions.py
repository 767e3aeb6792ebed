"""Parse YAML into plain Python values while remembering where every key and value is.

The parser works on ruamel.yaml's event stream (never its recursive composer), so that
every problem becomes a located :class:`Diagnostic` instead of an exception:

- syntax errors, invalid characters and non-UTF-8 bytes, with their position;
- duplicate mapping keys (the position of the second one);
- anchors, aliases and merge keys are refused outright (this rules out "billion laughs"
  expansion bombs and keeps each value's position unique);
- explicit tags other than the YAML core ones (``!!str``, ``!!int`` …) are refused;
- files larger than :data:`MAX_FILE_BYTES`, nesting deeper than :data:`MAX_DEPTH` and
  more than :data:`MAX_NODES` nodes per file are refused.

Scalars follow the YAML 1.2 core schema (``yes`` is a string, ``0x1F`` an int); timestamps
stay strings. Mapping keys are always strings (their source text).
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.events import (
    AliasEvent,
    DocumentEndEvent,
    DocumentStartEvent,
    Event,
    MappingEndEvent,
    MappingStartEvent,
    ScalarEvent,
    SequenceEndEvent,
    SequenceStartEvent,
    StreamEndEvent,
    StreamStartEvent,
)
from ruamel.yaml.nodes import ScalarNode
from ruamel.yaml.reader import ReaderError

from gitops_agent.errors import Diagnostic

MAX_FILE_BYTES = 256 * 1024
MAX_DEPTH = 64
MAX_NODES = 20_000

PathKey = str | int
YamlPath = tuple[PathKey, ...]
Position = tuple[int, int]

_CORE = "tag:yaml.org,2002:"
_SCALAR_TAGS = {f"{_CORE}{t}" for t in ("str", "int", "float", "bool", "null", "timestamp")}


def format_path(path: YamlPath) -> str:
    """``("spec", "tasks", "train", "dependsOn", 0)`` → ``spec.tasks.train.dependsOn[0]``.

    Keys that are not plain words are quoted (``config["a b"]``) with whitespace escaped,
    so a field never contains a space.
    """
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part and all(c.isalnum() or c in "-_./" for c in part) and part.isascii():
            out += f".{part}" if out else part
        else:
            quoted = (
                '"'
                + "".join(
                    c if c.isprintable() and not c.isspace() and c != '"' else f"\\u{ord(c):04x}"
                    for c in part
                )
                + '"'
            )
            out += f"[{quoted}]"
    return out or "<root>"


@dataclass(frozen=True)
class Document:
    """One YAML document: its plain value plus the 1-based positions of keys and values."""

    file: str
    data: Any
    values: Mapping[YamlPath, Position]
    keys: Mapping[YamlPath, Position]

    def position(self, path: YamlPath, *, key: bool = False) -> Position:
        """Where ``path`` is: its key (``key=True``, when it has one) or its value.

        A path that does not exist resolves to its nearest existing ancestor.
        """
        probe = tuple(path)
        while True:
            if key and probe in self.keys:
                return self.keys[probe]
            if probe in self.values:
                return self.values[probe]
            if probe in self.keys:
                return self.keys[probe]
            if not probe:
                return (1, 1)
            probe = probe[:-1]
            key = True

    def diagnostic(self, path: YamlPath, message: str, *, key: bool = False) -> Diagnostic:
        line, col = self.position(path, key=key)
        return Diagnostic(self.file, line, col, format_path(path), message)


class _Refused(Exception):
    """Stop parsing this file with one located diagnostic."""

    def __init__(self, line: int, col: int, message: str, path: YamlPath = ()) -> None:
        super().__init__(message)
        self.line = line
        self.col = col
        self.message = message
        self.path = path


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def _pos(event: Event) -> Position:
    mark = event.start_mark
    return (mark.line + 1, mark.column + 1)


def decode_utf8(raw: bytes, file: str) -> tuple[str | None, Diagnostic | None]:
    """Decode ``raw`` as UTF-8 (a BOM is allowed); a bad byte becomes a located diagnostic."""
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        before = raw[: err.start]
        line = before.count(b"\n") + 1
        col = len(before) - (before.rfind(b"\n") + 1) + 1
        return None, Diagnostic(
            file, line, col, "<root>", f"file is not valid UTF-8 (byte 0x{raw[err.start]:02x})"
        )
    return text, None


def load_yaml(raw: bytes, file: str) -> tuple[list[Document], list[Diagnostic]]:
    """Parse every document of a file; return the documents and any diagnostics.

    On a diagnostic the documents parsed before the problem are still returned.
    """
    if len(raw) > MAX_FILE_BYTES:
        return [], [Diagnostic(file, 1, 1, "<root>", f"file is larger than {MAX_FILE_BYTES} bytes")]
    text, problem = decode_utf8(raw, file)
    if text is None:
        return [], [problem] if problem else []
    builder = _Builder(file)
    try:
        builder.run(text)
    except _Refused as err:
        return builder.documents, [
            Diagnostic(file, err.line, err.col, format_path(err.path), err.message)
        ]
    except MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark is not None else (1, 1)
        parts = [p for p in (err.context, err.problem) if p]
        message = _one_line("; ".join(parts)) or "invalid YAML"
        return builder.documents, [
            Diagnostic(file, line, col, "<root>", f"YAML syntax error: {message}")
        ]
    except ReaderError as err:
        line, col = _offset_to_position(text, err.position)
        return builder.documents, [
            Diagnostic(
                file, line, col, "<root>", f"invalid character in YAML: {_one_line(err.reason)}"
            )
        ]
    except YAMLError as err:
        return builder.documents, [
            Diagnostic(file, 1, 1, "<root>", f"YAML error: {_one_line(str(err))}")
        ]
    except RecursionError:
        return builder.documents, [Diagnostic(file, 1, 1, "<root>", "YAML nesting is too deep")]
    return builder.documents, []


def _offset_to_position(text: str, offset: int) -> Position:
    before = text[:offset]
    return (before.count("\n") + 1, offset - (before.rfind("\n") + 1) + 1)


class _Container:
    """A mapping or sequence under construction."""

    def __init__(self, path: YamlPath, value: dict[str, Any] | list[Any]) -> None:
        self.path = path
        self.value = value
        self.pending_key: str | None = None
        self.pending_key_pos: Position = (0, 0)


class _Builder:
    def __init__(self, file: str) -> None:
        self.file = file
        self.documents: list[Document] = []
        self._yaml = YAML(typ="safe", pure=True)

    def run(self, text: str) -> None:
        events: Iterator[Event] = iter(self._yaml.parse(text))
        nodes = 0
        stack: list[_Container] = []
        values: dict[YamlPath, Position] = {}
        keys: dict[YamlPath, Position] = {}
        root: Any = None
        for event in events:
            if isinstance(event, StreamStartEvent | StreamEndEvent):
                continue
            if isinstance(event, DocumentStartEvent):
                stack, values, keys, root = [], {}, {}, None
                continue
            if isinstance(event, DocumentEndEvent):
                self.documents.append(Document(self.file, root, values, keys))
                continue
            if isinstance(event, MappingEndEvent | SequenceEndEvent):
                done = stack.pop()
                if not stack:
                    root = done.value
                continue
            nodes += 1
            if nodes > MAX_NODES:
                raise _Refused(*_pos(event), f"file has more than {MAX_NODES} YAML nodes")
            if isinstance(event, AliasEvent):
                raise _Refused(*_pos(event), "YAML aliases (*name) are not supported")
            anchor = getattr(event, "anchor", None)
            if anchor:
                raise _Refused(*_pos(event), "YAML anchors (&name) are not supported")
            tag = getattr(event, "tag", None)
            tag_text = str(tag) if tag is not None else None
            # A scalar in key position of a mapping: remember it as the pending key.
            parent = stack[-1] if stack else None
            if parent is not None and isinstance(parent.value, dict) and parent.pending_key is None:
                if not isinstance(event, ScalarEvent):
                    raise _Refused(*_pos(event), "complex mapping keys are not supported")
                if tag_text is not None and tag_text not in _SCALAR_TAGS:
                    raise _Refused(*_pos(event), f"unsupported YAML tag {tag_text!r}")
                key = str(event.value)
                if key == "<<" and event.implicit[0]:
                    raise _Refused(*_pos(event), "YAML merge keys (<<) are not supported")
                if key in parent.value:
                    first = keys[(*parent.path, key)]
                    raise _Refused(
                        *_pos(event),
                        f"duplicate key {_short(key)!r} (first defined at line {first[0]})",
                        (*parent.path, key),
                    )
                parent.pending_key = key
                parent.pending_key_pos = _pos(event)
                continue
            # A value: work out its path and attach it to its parent.
            if parent is None:
                path: YamlPath = ()
            elif isinstance(parent.value, dict):
                assert parent.pending_key is not None
                path = (*parent.path, parent.pending_key)
                keys[path] = parent.pending_key_pos
            else:
                path = (*parent.path, len(parent.value))
            values[path] = _pos(event)
            if isinstance(event, ScalarEvent):
                value = self._scalar(event, tag_text)
            elif isinstance(event, MappingStartEvent | SequenceStartEvent):
                if tag_text is not None and tag_text not in (f"{_CORE}map", f"{_CORE}seq"):
                    raise _Refused(*_pos(event), f"unsupported YAML tag {tag_text!r}")
                if len(stack) >= MAX_DEPTH:
                    raise _Refused(*_pos(event), f"YAML is nested deeper than {MAX_DEPTH} levels")
                value = {} if isinstance(event, MappingStartEvent) else []
            else:  # pragma: no cover - the event stream has no other kinds
                raise _Refused(*_pos(event), f"unexpected YAML event {type(event).__name__}")
            if parent is None:
                root = value
            elif isinstance(parent.value, dict):
                assert parent.pending_key is not None
                parent.value[parent.pending_key] = value
                parent.pending_key = None
            else:
                parent.value.append(value)
            if isinstance(value, dict | list) and isinstance(
                event, MappingStartEvent | SequenceStartEvent
            ):
                stack.append(_Container(path, value))

    def _scalar(self, event: ScalarEvent, tag: str | None) -> Any:
        text = str(event.value)
        if tag is None or tag == "!":
            if not event.implicit[0]:
                return text  # quoted (or tagged with the non-specific "!") → string
            tag = str(self._yaml.resolver.resolve(ScalarNode, text, event.implicit))
        if tag not in _SCALAR_TAGS:
            raise _Refused(*_pos(event), f"unsupported YAML tag {tag!r}")
        if tag in (f"{_CORE}str", f"{_CORE}timestamp"):
            return text
        try:
            value = self._yaml.constructor.construct_object(ScalarNode(tag, text))
            # ``609e4400`` overflows a float64: go-yaml (kustomize, kubectl) keeps it a string.
            overflowed = isinstance(value, float) and math.isinf(value) and "inf" not in text.lower()
            return text if overflowed else value
        except (YAMLError, ValueError) as err:
            raise _Refused(
                *_pos(event), f"value cannot be read as {tag.removeprefix(_CORE)}"
            ) from err


def _short(text: str, limit: int = 40) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
