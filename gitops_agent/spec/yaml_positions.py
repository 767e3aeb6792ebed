"""Parse YAML into plain Python values while remembering where every key and value is.

The parser works on a YAML event stream (never a recursive composer), so that
every problem becomes a located :class:`Diagnostic` instead of an exception:

- syntax errors, invalid characters and non-UTF-8 bytes, with their position;
- duplicate mapping keys (the position of the second one);
- anchors, aliases and merge keys are refused in spec files (this rules out "billion
  laughs" expansion bombs and keeps each value's position unique); in manifests, where
  kustomize expands them, they are expanded, each alias counting the nodes it repeats
  against the node bound (values reached through an alias have the alias's position);
- explicit tags other than the YAML core ones (``!!str``, ``!!int`` …) are refused;
- bounds against hostile input, chosen by the caller as :class:`Limits`: spec files
  (``workflows/``, ``environments/``) get :data:`SPEC_LIMITS` (256 KiB, 64 levels, 20 000
  nodes); manifests listed by an environment's ``resources:`` get :data:`MANIFEST_LIMITS`,
  sized for published install files (16 MiB, 128 levels, 2 000 000 nodes; see there).
  Manifests are parsed by libyaml (through PyYAML, when its wheel carries it), the C
  parser Go's yaml.v3, kustomize's parser, is a port of, and keep libyaml's diagnostics.
  Spec files are parsed by libyaml too (about ten times faster than ruamel.yaml's
  pure-Python parser), but a spec file libyaml does not take as it stands — any syntax
  error or refusal, or a shape the two parsers read differently (see
  :func:`fast_documents`) — is parsed again by ruamel.yaml, the reference, whose documents
  and diagnostics spec files always had (:func:`load_yaml_reference`; a differential test
  over the repository's specs, the tests' specs and generated hostile YAML keeps the two
  equal).

Tabs follow the rule of libyaml and Go's yaml.v3, the parser behind kustomize and kubectl:
a tab is whitespace between tokens and inside plain scalars, and refused only where it
would count as indentation (at the start of a line, right after a ``-`` entry). So
``apiVersion: v1<TAB>`` loads, as ``kubectl kustomize`` accepts it, and a line indented
with a tab is a syntax error, as it is for kustomize.

Scalars follow the YAML 1.2 core schema (``yes`` is a string, ``0x1F`` an int); timestamps
stay strings. Mapping keys are always strings (their source text).
"""

from __future__ import annotations

import functools
import math
import re
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.nodes import ScalarNode
from ruamel.yaml.reader import ReaderError
from ruamel.yaml.scanner import Scanner, ScannerError

from gitops_agent.errors import Diagnostic

try:  # PyYAML with libyaml, the C parser Go's yaml.v3 (kustomize's parser) is a port of
    import yaml as _pyyaml
except ImportError:  # pragma: no cover - a dependency of the kubernetes client
    _pyyaml = None  # type: ignore[assignment]

_LIBYAML_PARSE: Callable[[str], Iterator[Any]] | None = None
_MARKED_ERRORS: tuple[type[Exception], ...] = (MarkedYAMLError,)
_READER_ERRORS: tuple[type[Exception], ...] = (ReaderError,)
_YAML_ERRORS: tuple[type[Exception], ...] = (YAMLError,)
if _pyyaml is not None and _pyyaml.__with_libyaml__:
    _LIBYAML_PARSE = functools.partial(_pyyaml.parse, Loader=_pyyaml.CSafeLoader)
    _MARKED_ERRORS += (_pyyaml.MarkedYAMLError,)
    _READER_ERRORS += (_pyyaml.reader.ReaderError,)
    _YAML_ERRORS += (_pyyaml.YAMLError,)


@dataclass(frozen=True)
class Limits:
    """Bounds on one file: its size in bytes, its nesting depth, its number of YAML nodes
    (every key, value and list item counts as one node)."""

    max_bytes: int
    max_depth: int
    max_nodes: int
    aliases: bool = False
    """Expand anchors, aliases and merge keys (``<<``), each alias counting the nodes it
    repeats; when False they are refused."""


SPEC_LIMITS = Limits(max_bytes=256 * 1024, max_depth=64, max_nodes=20_000)
"""A workflow or environment file: far above any real spec, low enough that a hostile one
is refused in milliseconds."""

MANIFEST_LIMITS = Limits(max_bytes=16 * 1024 * 1024, max_depth=128, max_nodes=2_000_000, aliases=True)
"""A manifest file under an environment's ``resources:``. Published install files run to
a few MB (Argo CD's ``install.yaml``: 1.9 MB, 63 548 nodes, 35 levels, a 1.4 MB CRD;
cert-manager's: 1.0 MB, 38 levels); dense manifests (Deployments, ConfigMaps) hold about
one node per 15 bytes, so 16 MiB of them is about 1.1 million nodes.

Budget, measured by ``bench/manifests_bench.py`` on a shared 2-vCPU machine (load 7):
the Argo CD install parses in 0.6 s and ``validate`` takes 0.9 s; a 16 MiB file parses in
14 s (+430 MiB peak memory) and ``validate`` or ``compile`` takes about 22 s. Larger,
deeper or denser files are refused before that cost is paid."""

MAX_FILE_BYTES = SPEC_LIMITS.max_bytes
MAX_DEPTH = SPEC_LIMITS.max_depth
MAX_NODES = SPEC_LIMITS.max_nodes

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


def _pos(event: Any) -> Position:
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


def load_yaml(
    raw: bytes, file: str, limits: Limits = SPEC_LIMITS
) -> tuple[list[Document], list[Diagnostic]]:
    """Parse every document of a file; return the documents and any diagnostics.

    ``limits`` bound the file (:data:`SPEC_LIMITS` for specs, :data:`MANIFEST_LIMITS` for
    manifests under ``resources:``). On a diagnostic the documents parsed before the
    problem are still returned. Never raises for bad input.
    """
    if len(raw) > limits.max_bytes:
        return [], [Diagnostic(file, 1, 1, "<root>", f"file is larger than {limits.max_bytes} bytes")]
    text, problem = decode_utf8(raw, file)
    if text is None:
        return [], [problem] if problem else []
    if limits is not SPEC_LIMITS:
        return _parse(text, file, limits, _LIBYAML_PARSE)
    documents = fast_documents(text, file, limits)
    if documents is not None:
        return documents, []
    return _parse(text, file, limits, None)


def load_yaml_reference(
    raw: bytes, file: str, limits: Limits = SPEC_LIMITS
) -> tuple[list[Document], list[Diagnostic]]:
    """:func:`load_yaml` with ruamel.yaml's parser alone: the reference the fast path of
    spec files must equal (documents, positions and diagnostics)."""
    if len(raw) > limits.max_bytes:
        return [], [Diagnostic(file, 1, 1, "<root>", f"file is larger than {limits.max_bytes} bytes")]
    text, problem = decode_utf8(raw, file)
    if text is None:
        return [], [problem] if problem else []
    return _parse(text, file, limits, None)


def fast_documents(text: str, file: str, limits: Limits = SPEC_LIMITS) -> list[Document] | None:
    """The documents of ``text`` parsed by libyaml, or None when libyaml is missing or the
    text is not for it: any problem (the reference parser then gives its own diagnostic),
    or a shape on which libyaml and ruamel.yaml disagree — a ``%YAML``/``%TAG`` directive
    (it changes how ruamel resolves scalars), an explicit tag (they split ``!!str,`` in
    flow context differently), an empty node (they place it differently), a YAML 1.1
    line break (NEL, LS, PS: ordinary characters in YAML 1.2), a byte order mark after
    the start (they count its column differently), text ruamel refuses and libyaml takes
    (see :data:`_DISAGREEING`)."""
    if _LIBYAML_PARSE is None or _DISAGREEING.search(text):
        return None
    builder = _Builder(file, limits, reference_only=_ForReference)
    try:
        builder.run(text, _LIBYAML_PARSE)
    except _NOT_FOR_FAST_PATH:
        return None
    return builder.documents


_DISAGREEING = re.compile(
    "[\x85\u2028\u2029\ufeff]"  # NEL, LS, PS; a byte order mark after the start
    "|[|>][-+0-9]*#"  # a comment touching a block scalar header: libyaml takes it, ruamel refuses
    "|[\"']:[^\\s]"  # a value touching a quoted key's colon (YAML 1.2 flow): libyaml takes it, ruamel refuses
)
"""Text on which libyaml and ruamel.yaml may disagree (found by the differential test):
any match leaves the file to the reference parser."""


def _empty(scalar: Any) -> bool:
    """A scalar with no text in the source (``key:`` with nothing after it)."""
    return bool(scalar.start_mark.index == scalar.end_mark.index)


class _ForReference(Exception):
    """A shape the fast parser leaves to the reference parser (see :func:`fast_documents`)."""


_NOT_FOR_FAST_PATH: tuple[type[Exception], ...] = (_Refused, _ForReference, RecursionError, *_YAML_ERRORS)


def _parse(
    text: str, file: str, limits: Limits, parse: Callable[[str], Iterator[Any]] | None
) -> tuple[list[Document], list[Diagnostic]]:
    """Documents and diagnostics of ``text`` from ``parse``'s events (ruamel's when None)."""
    builder = _Builder(file, limits)
    try:
        builder.run(text, parse)
    except _Refused as err:
        return builder.documents, [
            Diagnostic(file, err.line, err.col, format_path(err.path), err.message)
        ]
    except _MARKED_ERRORS as marked:
        syntax: Any = marked
        mark = syntax.problem_mark or syntax.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark is not None else (1, 1)
        parts = [p for p in (syntax.context, syntax.problem) if p]
        message = _one_line("; ".join(parts)) or "invalid YAML"
        return builder.documents, [
            Diagnostic(file, line, col, "<root>", f"YAML syntax error: {message}")
        ]
    except _READER_ERRORS as reader:
        bad: Any = reader
        offset = bad.position if isinstance(bad, ReaderError) else _char_offset(text, bad.position)
        line, col = _offset_to_position(text, offset)
        return builder.documents, [
            Diagnostic(
                file, line, col, "<root>", f"invalid character in YAML: {_one_line(bad.reason)}"
            )
        ]
    except _YAML_ERRORS as err:
        return builder.documents, [
            Diagnostic(file, 1, 1, "<root>", f"YAML error: {_one_line(str(err))}")
        ]
    except RecursionError:
        return builder.documents, [Diagnostic(file, 1, 1, "<root>", "YAML nesting is too deep")]
    return builder.documents, []


def _char_offset(text: str, byte_offset: int) -> int:
    """libyaml reports reader problems at a byte offset of the UTF-8 text."""
    return len(text.encode()[:byte_offset].decode(errors="ignore"))


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
        self.merging = False  # the pending key is a merge key (<<)
        self.merge: Any = None  # the value of its merge key, merged in when it ends
        self.merge_pos: Position = (0, 0)


_MERGE = "<<"


def _size(value: Any, budget: int) -> int:
    """Nodes in ``value`` (keys count), counting no further than ``budget`` + 1."""
    count, todo = 0, [value]
    while todo and count <= budget:
        item = todo.pop()
        count += 1
        if isinstance(item, dict):
            count += len(item)
            todo.extend(item.values())
        elif isinstance(item, list):
            todo.extend(item)
    return count


def _merged(container: _Container) -> None:
    """Apply a mapping's merge key: entries of the merged mapping(s) it lacks are added,
    the first mapping of a list winning (YAML merge key type, yaml.org/type/merge)."""
    sources = container.merge if isinstance(container.merge, list) else [container.merge]
    assert isinstance(container.value, dict)
    for source in sources:
        if not isinstance(source, dict):
            raise _Refused(*container.merge_pos, "a merge key (<<) takes a mapping or a list of mappings")
        for key, value in source.items():
            container.value.setdefault(key, value)


_BOOLS = {"true": True, "True": True, "TRUE": True, "false": False, "False": False, "FALSE": False}
_NULLS = frozenset({"null", "Null", "NULL"})
_RESOLVED_FIRST = frozenset("0123456789-+.~tTfFnN!&*<=")  # first characters of ruamel's implicit resolvers
_DECIMAL = re.compile(r"-?(0|[1-9][0-9]{0,17})")


def _plain_core_value(text: str) -> tuple[bool, Any]:
    """The YAML 1.2 core value of a common plain scalar without the resolver's cost:
    (True, value) for a word no implicit resolver starts with, ``true``/``false``,
    ``null`` or a decimal int; (False, None) leaves the rest to the resolver."""
    if not text:
        return False, None
    if text[0] not in _RESOLVED_FIRST:
        return True, text
    if text in _BOOLS:
        return True, _BOOLS[text]
    if text in _NULLS:
        return True, None
    if text[0] in "tTfFnN":
        return True, text
    if _DECIMAL.fullmatch(text):
        return True, int(text)
    return False, None


_CACHED_SCALAR_CHARS = 64
_CACHED_SCALARS = 100_000
_FAST_SCALARS: dict[tuple[str | None, str], Any] = {}
"""Scalars resolved on the fast path, for every file of the process (YAML 1.2 core schema)."""
_THREAD = threading.local()


def _ruamel_yaml() -> YAML:
    """A ruamel.yaml instance of its own (its parser holds the state of one stream)."""
    yaml = YAML(typ="safe", pure=True)
    yaml.Scanner = _GoYamlTabsScanner
    return yaml


def _resolver_yaml() -> YAML:
    """This thread's ruamel.yaml instance for resolving and constructing plain scalars
    only (never parsing): building one costs more than parsing a small file with libyaml."""
    yaml: YAML | None = getattr(_THREAD, "yaml", None)
    if yaml is None:
        yaml = _THREAD.yaml = _ruamel_yaml()
    return yaml


_BREAKS = "\r\n\x85\u2028\u2029"
_END = "\0" + _BREAKS


class _GoYamlTabsScanner(Scanner):
    """ruamel's scanner with the tab rule of libyaml / Go yaml.v3 (``scannerc.go``,
    ``yaml_parser_scan_to_next_token`` and ``yaml_parser_scan_plain_scalar``): tabs
    separate tokens in flow context and wherever a simple key cannot start; inside a plain
    scalar they are whitespace unless they indent a continuation line."""

    def scan_to_next_token(self) -> None:
        peek, forward = self.reader.peek, self.reader.forward
        if self.reader.index == 0 and peek() == "\ufeff":
            forward()
        while True:
            while peek() == " " or (peek() == "\t" and (self.flow_level > 0 or not self.allow_simple_key)):
                forward()
            if peek() == "#":
                while peek() not in _END:
                    forward()
            if not self.scan_line_break():
                return
            if not self.flow_level:
                self.allow_simple_key = True

    def scan_plain_spaces(self, indent: int, start_mark: Any) -> list[str] | None:
        peek, forward = self.reader.peek, self.reader.forward
        length = 0
        while peek(length) in " \t":
            length += 1
        whitespaces = self.reader.prefix(length)
        forward(length)
        chunks: list[str] = []
        if peek() not in _BREAKS:
            if whitespaces:
                chunks.append(whitespaces)
            return chunks
        line_break = self.scan_line_break()
        self.allow_simple_key = True
        if self._at_document_marker():
            return None
        breaks = self._following_breaks(indent, start_mark)
        if breaks is None:
            return None
        if line_break != "\n":
            chunks.append(line_break)
        elif not breaks:
            chunks.append(" ")
        chunks.extend(breaks)
        return chunks

    def _following_breaks(self, indent: int, start_mark: Any) -> list[str] | None:
        """The line breaks of the blank lines that follow (spaces and allowed tabs skipped);
        None at a document marker. A tab left of the scalar's indentation is refused, as go-yaml does."""
        peek, forward = self.reader.peek, self.reader.forward
        breaks: list[str] = []
        while peek() in " \t" + _BREAKS:
            if peek() == " ":
                forward()
            elif peek() == "\t":
                if not self.flow_level and self.reader.column < indent:
                    raise ScannerError(
                        "while scanning a plain scalar",
                        start_mark,
                        "found a tab character that violates indentation",
                        self.reader.get_mark(),
                    )
                forward()
            else:
                breaks.append(self.scan_line_break())
                if self._at_document_marker():
                    return None
        return breaks

    def _at_document_marker(self) -> bool:
        prefix = self.reader.prefix(3)
        return prefix in ("---", "...") and self.reader.peek(3) in _END + " \t"


@dataclass
class _DocumentState:
    """One document under construction: open collections, positions, anchors and its root."""

    stack: list[_Container] = field(default_factory=list)
    values: dict[YamlPath, Position] = field(default_factory=dict)
    keys: dict[YamlPath, Position] = field(default_factory=dict)
    anchors: dict[str, Any] = field(default_factory=dict)
    root: Any = None


def _attach(parent: _Container | None, value: Any, event: Any, doc: _DocumentState) -> None:
    """``value`` becomes the root, the pending key's value (or merge value), or a list item."""
    if parent is None:
        doc.root = value
    elif isinstance(parent.value, dict):
        assert parent.pending_key is not None
        if parent.merging:
            parent.merge, parent.merge_pos, parent.merging = value, _pos(event), False
        else:
            parent.value[parent.pending_key] = value
        parent.pending_key = None
    else:
        parent.value.append(value)


class _Builder:
    def __init__(self, file: str, limits: Limits, reference_only: type[Exception] | None = None) -> None:
        self.file = file
        self.limits = limits
        self._reference_only = reference_only  # raised at shapes left to the reference parser
        self.documents: list[Document] = []
        # The fast path (no directives, so YAML 1.2 throughout) shares resolved scalars and
        # a resolver across files; the reference parser has its own (a %YAML 1.1 directive
        # changes how its scalars resolve).
        self._yaml = _resolver_yaml() if reference_only else _ruamel_yaml()
        self._scalars: dict[tuple[str | None, str], Any] = _FAST_SCALARS if reference_only else {}
        self._nodes = 0

    def run(self, text: str, parse: Callable[[str], Iterator[Any]] | None) -> None:
        """Build documents from the event stream of ``text``: ``parse``'s (libyaml's, the C
        parser Go's yaml.v3 is a port of), else ruamel's."""
        events: Iterator[Any] = iter(parse(text) if parse is not None else self._yaml.parse(text))
        doc = _DocumentState()
        for event in events:
            kind = type(event).__name__
            if kind in ("StreamStartEvent", "StreamEndEvent"):
                continue
            if kind == "DocumentStartEvent":
                if self._reference_only and (event.version is not None or event.tags):
                    raise self._reference_only
                doc = _DocumentState()
            elif kind == "DocumentEndEvent":
                self.documents.append(Document(self.file, doc.root, doc.values, doc.keys))
            elif kind in ("MappingEndEvent", "SequenceEndEvent"):
                done = doc.stack.pop()
                if done.merging or done.merge is not None:
                    _merged(done)
                if not doc.stack:
                    doc.root = done.value
            else:
                self._node(event, kind, doc)

    def _node(self, event: Any, kind: str, doc: _DocumentState) -> None:
        """A scalar, alias or collection start: a pending key, or a value attached to its parent."""
        self._count(event, 1)
        anchor = getattr(event, "anchor", None)
        if (kind == "AliasEvent" or anchor) and not self.limits.aliases:
            what = "aliases (*name)" if kind == "AliasEvent" else "anchors (&name)"
            raise _Refused(*_pos(event), f"YAML {what} are not supported")
        tag = getattr(event, "tag", None)
        tag_text = str(tag) if tag is not None else None
        if self._reference_only and (tag is not None or (kind == "ScalarEvent" and _empty(event))):
            raise self._reference_only
        # A scalar in key position of a mapping: remember it as the pending key.
        parent = doc.stack[-1] if doc.stack else None
        if parent is not None and isinstance(parent.value, dict) and parent.pending_key is None:
            self._key(event, kind, tag_text, parent, doc.keys)
            return
        path = self._value_path(parent, doc)
        doc.values[path] = _pos(event)
        value = self._value(event, kind, tag_text, doc)
        if anchor:
            doc.anchors[str(anchor)] = value
        _attach(parent, value, event, doc)
        if isinstance(value, dict | list) and kind in ("MappingStartEvent", "SequenceStartEvent"):
            doc.stack.append(_Container(path, value))

    @staticmethod
    def _value_path(parent: _Container | None, doc: _DocumentState) -> YamlPath:
        if parent is None:
            return ()
        if isinstance(parent.value, dict):
            assert parent.pending_key is not None
            path = (*parent.path, parent.pending_key)
            doc.keys[path] = parent.pending_key_pos
            return path
        return (*parent.path, len(parent.value))

    def _value(self, event: Any, kind: str, tag_text: str | None, doc: _DocumentState) -> Any:
        if kind == "AliasEvent":
            return self._alias(event, doc.anchors, doc.stack)
        if kind == "ScalarEvent":
            return self._scalar(event, tag_text)
        if kind in ("MappingStartEvent", "SequenceStartEvent"):
            if tag_text is not None and tag_text not in (f"{_CORE}map", f"{_CORE}seq"):
                raise _Refused(*_pos(event), f"unsupported YAML tag {tag_text!r}")
            if len(doc.stack) >= self.limits.max_depth:
                raise _Refused(*_pos(event), f"YAML is nested deeper than {self.limits.max_depth} levels")
            return {} if kind == "MappingStartEvent" else []
        raise _Refused(*_pos(event), f"unexpected YAML event {type(event).__name__}")  # pragma: no cover

    def _count(self, event: Any, nodes: int) -> None:
        self._nodes += nodes
        if self._nodes > self.limits.max_nodes:
            raise _Refused(*_pos(event), f"file has more than {self.limits.max_nodes} YAML nodes")

    def _key(
        self, event: Any, kind: str, tag_text: str | None, parent: _Container, keys: dict[YamlPath, Position]
    ) -> None:
        """A mapping key: it becomes the parent's pending key (or its merge key)."""
        if kind != "ScalarEvent":
            raise _Refused(*_pos(event), "complex mapping keys are not supported")
        if tag_text is not None and tag_text not in _SCALAR_TAGS:
            raise _Refused(*_pos(event), f"unsupported YAML tag {tag_text!r}")
        key = str(event.value)
        if key == _MERGE and event.implicit[0]:
            if not self.limits.aliases:
                raise _Refused(*_pos(event), "YAML merge keys (<<) are not supported")
            if parent.merge is not None:
                raise _Refused(*_pos(event), "duplicate merge key (<<)", (*parent.path, key))
            parent.merging = True
        elif key in parent.value:
            first = keys[(*parent.path, key)]
            raise _Refused(
                *_pos(event),
                f"duplicate key {_short(key)!r} (first defined at line {first[0]})",
                (*parent.path, key),
            )
        parent.pending_key = key
        parent.pending_key_pos = _pos(event)

    def _alias(self, event: Any, anchors: Mapping[str, Any], stack: list[_Container]) -> Any:
        """The anchored value an alias repeats; its nodes count again (no expansion bomb)."""
        name = str(event.anchor)
        if name not in anchors:
            raise _Refused(*_pos(event), f"unknown YAML anchor {_short(name)!r}")
        value = anchors[name]
        if any(container.value is value for container in stack):
            raise _Refused(*_pos(event), f"YAML alias {_short(name)!r} refers to a value that contains it")
        self._count(event, _size(value, self.limits.max_nodes) - 1)
        return value

    def _scalar(self, event: Any, tag: str | None) -> Any:
        text = str(event.value)
        if (tag is None or tag == "!") and not event.implicit[0]:
            return text  # quoted (or tagged with the non-specific "!") → string
        if tag is None:
            known, value = _plain_core_value(text)
            if known:
                return value
        key = (tag, text)
        if key in self._scalars:
            return self._scalars[key]
        value = self._construct(event, tag, text)
        if len(text) <= _CACHED_SCALAR_CHARS and len(self._scalars) < _CACHED_SCALARS:
            self._scalars[key] = value  # scalars repeat (ports, booleans, names); values are immutable
        return value

    def _construct(self, event: Any, tag: str | None, text: str) -> Any:
        if tag is None or tag == "!":
            tag = str(self._yaml.resolver.resolve(ScalarNode, text, event.implicit))
        if tag not in _SCALAR_TAGS:
            raise _Refused(*_pos(event), f"unsupported YAML tag {tag!r}")
        if tag in (f"{_CORE}str", f"{_CORE}timestamp"):
            return text
        try:
            value = self._yaml.constructor.construct_object(ScalarNode(tag, text))
            self._yaml.constructor.constructed_objects.clear()  # shared on the fast path: keep nothing
            # ``609e4400`` overflows a float64: go-yaml (kustomize, kubectl) keeps it a string.
            overflowed = isinstance(value, float) and math.isinf(value) and "inf" not in text.lower()
            return text if overflowed else value
        except (YAMLError, ValueError, LookupError, TypeError, ArithmeticError) as err:  # ruamel's constructors
            raise _Refused(
                *_pos(event), f"value cannot be read as {tag.removeprefix(_CORE)}"
            ) from err


def _short(text: str, limit: int = 40) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
