"""YAML: what a plain scalar means, the one file writer and reader, and the one diff text writer.

Scalars. kustomize (kyaml, built on go-yaml v3) decides what a plain scalar in its output is by
go-yaml v3's resolver, and quotes a string only when that resolver would take it for
something else. ``609e4400`` overflows a float64, so go-yaml v3 resolves it as a string
and kustomize prints it plain, while a YAML 1.2 reader (ruamel.yaml) reads ``inf``. So
kustomize's output is read with :func:`resolve_plain`, a transcription of go-yaml v3's
``resolve`` (``gopkg.in/yaml.v3`` ``resolve.go``, v3.0.1, untagged scalars), and every
string this project writes as YAML is quoted when *any* common reader could take it for a
non-string (:func:`needs_quotes`): go-yaml v3 and v2 (kubectl), YAML 1.1 (PyYAML) and
YAML 1.2 (ruamel.yaml).

Files. :func:`dump` / :func:`dump_all` write deterministic YAML (the same objects always give
the same bytes) for the files kustomize reads; :func:`load_all` reads kustomize's output the way
kustomize itself resolves plain scalars.

Diffs. :func:`manifest_lines` writes an object as block-style YAML lines for a unified diff
(``plan`` keeps the keys in their order, a sync diff sorts them): fast, display only, and
read back by any of those readers as the same values.
"""

from __future__ import annotations

import functools
import io
import json
import math
import re
from collections.abc import Iterable, Mapping
from typing import Any, Final

import yaml
import yaml.resolver
from ruamel.yaml import YAML
from ruamel.yaml import resolver as ruamel_resolver
from ruamel.yaml.representer import SafeRepresenter

Scalar = str | int | float | bool | None

_V3_MAP: Final[dict[str, Scalar]] = {
    **dict.fromkeys(("true", "True", "TRUE"), True),
    **dict.fromkeys(("false", "False", "FALSE"), False),
    **dict.fromkeys(("", "~", "null", "Null", "NULL"), None),
    **dict.fromkeys((".nan", ".NaN", ".NAN"), math.nan),
    **dict.fromkeys((".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF"), math.inf),
    **dict.fromkeys(("-.inf", "-.Inf", "-.INF"), -math.inf),
}
_V3_MAP_HINTS: Final = frozenset("yYnNtTfFoO~")
_V3_NUMBER_HINTS: Final = frozenset("+-0123456789")
_YAML_STYLE_FLOAT: Final = re.compile(r"[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?")
# Go's ParseFloat on text starting with ".": digits with "_" only between digits (underscoreOK).
_GO_DOT_FLOAT: Final = re.compile(r"\.[0-9]+(_[0-9]+)*([eE][-+]?[0-9]+(_[0-9]+)*)?")
_INT64: Final = 1 << 63
_UINT64: Final = 1 << 64

# go-yaml v2 (kubectl's YAML → JSON) and YAML 1.1 also read these as booleans.
_YAML11_BOOLS: Final = frozenset(
    spelling
    for word in ("y", "yes", "n", "no", "true", "false", "on", "off")
    for spelling in (word, word.capitalize(), word.upper())
)
# go-yaml v3 (kyaml) quotes timestamps on output; YAML 1.1 readers return dates.
_TIMESTAMP: Final = re.compile(
    r"[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}"
    r"([Tt ][ \t]*[0-9]{1,2}:[0-9]{1,2}:[0-9]{1,2}(\.[0-9]*)?[ \t]*(Z|[-+][0-9]{1,2}(:?[0-9]{2})?)?)?"
)
_RISKY_FIRST: Final = frozenset("0123456789+-.~yYnNtTfFoO<=!&*")
_STR_TAG: Final = "tag:yaml.org,2002:str"


def _go_parse_uint(text: str, base: int) -> int | None:
    """Go's ``strconv.ParseUint(text, base, 64)`` for base 0, 2 or 8 (None on any error)."""
    if not text:
        return None
    if base == 0:
        base = 10
        if text[0] == "0":
            prefix = text[1:2].lower()
            if len(text) >= 3 and prefix in ("b", "o", "x"):
                base, text = {"b": 2, "o": 8, "x": 16}[prefix], text[2:]
            else:
                base, text = 8, text[1:]
    value = 0
    for char in text:
        digit = int(char, 36) if char.isascii() and char.isalnum() else base
        if digit >= base:
            return None
        value = value * base + digit
        if value >= _UINT64:
            return None
    return value


def _go_parse_int(text: str, base: int) -> int | None:
    """Go's ``strconv.ParseInt(text, base, 64)``: an optional sign, then ParseUint, in int64 range."""
    if not text:
        return None
    negative = text[0] == "-"
    magnitude = _go_parse_uint(text[1:] if text[0] in "+-" else text, base)
    if magnitude is None or magnitude > _INT64 or (magnitude == _INT64 and not negative):
        return None
    return -magnitude if negative else magnitude


def _finite_float(text: str) -> float | None:
    """Go's ``strconv.ParseFloat`` of a decimal: None where Go reports a range error (overflow)."""
    value = float(text.replace("_", ""))
    return None if math.isinf(value) else value


def _resolve_number(text: str) -> Scalar:
    """go-yaml v3's 'D' and 'S' branch: int (base 0, then uint64), float, then 0b/0o forms."""
    plain = text.replace("_", "")
    for number in (_go_parse_int(plain, 0), _go_parse_uint(plain, 0)):
        if number is not None:
            return number
    if _YAML_STYLE_FLOAT.fullmatch(plain):
        value = _finite_float(plain)
        if value is not None:
            return value
    number = _prefixed_integer(plain)
    return text if number is None else number


def _prefixed_integer(plain: str) -> int | None:
    """``0b``/``0o`` integers (go-yaml v3 reads these after base 0 failed), negative ones as int64 only."""
    for prefix, base in (("0b", 2), ("0o", 8)):
        if plain.startswith(prefix):
            number = _go_parse_int(plain[2:], base)
            return number if number is not None else _go_parse_uint(plain[2:], base)
        if plain.startswith("-" + prefix):
            return _go_parse_int("-" + plain[3:], base)
    return None


def resolve_plain(text: str) -> Scalar:
    """The value go-yaml v3 gives the plain (unquoted, untagged) scalar ``text``.

    Returns ``None``, a bool, an int (int64 or uint64 range), a float (possibly ``inf`` or
    ``nan`` for ``.inf``/``.nan``) or ``text`` itself. Timestamps stay strings, as go-yaml v3
    decodes them into an untyped value and as Kubernetes has no timestamp type. Never raises.
    """
    if text in _V3_MAP:
        return _V3_MAP[text]
    first = text[0]
    if first == ".":
        return _finite_float(text) if _GO_DOT_FLOAT.fullmatch(text) and _finite_float(text) is not None else text
    if first in _V3_NUMBER_HINTS:
        return _resolve_number(text)
    return text


def _read_as_non_string_by_yaml_libraries(text: str) -> bool:
    """Whether YAML 1.1 (PyYAML's resolver) or YAML 1.1/1.2 (ruamel.yaml's) resolve ``text`` as a non-string."""
    for tag, pattern in yaml.resolver.Resolver.yaml_implicit_resolvers.get(text[0], ()):
        if tag != _STR_TAG and pattern.match(text):
            return True
    for _versions, tag, pattern, firsts in ruamel_resolver.implicit_resolvers:
        if text[0] in firsts and tag != _STR_TAG and pattern.match(text):
            return True
    return False


def needs_quotes(text: str) -> bool:
    """Whether the string ``text`` must be quoted in YAML to be read back as this exact string.

    True for every string that go-yaml v3 or v2, a YAML 1.1 or a YAML 1.2 reader could take
    for a number (including overflowing forms such as ``609e4400``, ``1_000``, ``0x1F``,
    ``0o17``, ``0777``, ``1:20``, ``.5``, ``.inf``, ``.NaN``), a boolean (``y``, ``on``,
    ``False``), a null (``~``, ``null``, the empty string), a timestamp (``2024-01-01``),
    a merge key (``<<``) or YAML 1.1's value key (``=``); and for text with leading or
    trailing spaces or tabs, which a plain scalar drops. Other quoting needs (``: ``, ``#``,
    indicators) are the emitter's own concern.
    """
    if not text or text != text.strip(" \t"):
        return True
    if text[0] not in _RISKY_FIRST:
        return False
    return (
        not isinstance(resolve_plain(text), str)
        or text in _YAML11_BOOLS
        or text in ("<<", "=")
        or _TIMESTAMP.fullmatch(text) is not None
        or _YAML_STYLE_FLOAT.fullmatch(text.replace("_", "")) is not None  # YAML 1.2 core schema, overflow or not
        or _read_as_non_string_by_yaml_libraries(text)
    )


def needs_escapes(text: str) -> bool:
    """Whether ``text`` holds a character that only a double-quoted scalar's escapes carry
    exactly: control characters (other than tab and newline), ``\\r``, the YAML 1.1 line
    breaks ``\\x85``, ``\\u2028`` and ``\\u2029`` (a plain, single-quoted or literal scalar
    would fold or reject them), and any other character Python does not call printable."""
    return not text.replace("\n", "").replace("\t", "").isprintable()


def double_quoted(text: str) -> str:
    """``text`` as a YAML double-quoted scalar: JSON string syntax (which YAML reads) with
    every character that is not printable escaped (``\\u2028``, ``\\x85`` → ``\\u0085``)."""
    return "".join(char if char.isprintable() else _escape(char) for char in json.dumps(text, ensure_ascii=False))


def _escape(char: str) -> str:
    return f"\\u{ord(char):04x}" if ord(char) < 0x10000 else f"\\U{ord(char):08x}"


def _represent_str(representer: SafeRepresenter, value: str) -> Any:
    if needs_escapes(value):
        return representer.represent_scalar("tag:yaml.org,2002:str", value, style='"')
    if needs_quotes(value):
        return representer.represent_scalar("tag:yaml.org,2002:str", value, style="'")
    if "\n" in value:
        return representer.represent_scalar("tag:yaml.org,2002:str", value, style="|")
    return representer.represent_str(value)


def _represent_float(representer: SafeRepresenter, value: float) -> Any:
    """Floats with a dot in the mantissa (``1.0e+16``, not ``1e+16``, which YAML 1.1 reads as a string)."""
    if not math.isfinite(value):
        return representer.represent_float(value)
    text = repr(value)
    mantissa, e, exponent = text.partition("e")
    if "." not in mantissa:
        text = f"{mantissa}.0{e}{exponent}"
    return representer.represent_scalar("tag:yaml.org,2002:float", text)


def _yaml() -> YAML:
    yaml = YAML(typ="safe", pure=True)
    yaml.default_flow_style = False
    yaml.width = 4096
    yaml.indent(mapping=2, sequence=2, offset=0)
    yaml.sort_base_mapping_type_on_output = False  # type: ignore[assignment]
    yaml.representer.add_representer(str, _represent_str)
    yaml.representer.add_representer(float, _represent_float)
    return yaml


def dump(document: Any) -> bytes:
    """One YAML document, keys in the order they were built (UTF-8 bytes)."""
    return dump_all((document,))


def dump_all(documents: Iterable[Any]) -> bytes:
    """Several documents separated by ``---`` (UTF-8 bytes).

    Written directly (:func:`_direct`) where the documents are plain block-style data; the
    few shapes beyond that (see :class:`_BeyondDirect`) go through ruamel.yaml's emitter,
    which defines the bytes: the two give the same bytes wherever both apply (a property
    test holds them to that).
    """
    documents = list(documents)
    try:
        return _direct(documents).encode("utf-8")
    except _BeyondDirect:
        return _reference_dump_all(documents)


def _reference_dump_all(documents: list[Any]) -> bytes:
    """ruamel.yaml's emitter with this project's scalar styles: the reference bytes."""
    buffer = io.StringIO()
    _yaml().dump_all(documents, buffer)
    return buffer.getvalue().encode("utf-8")


# The direct writer: ruamel.yaml's block emitter (``emitter.py``, 0.19, width 4096, indents
# mapping 2 / sequence 2 / offset 0, Unicode allowed) restated for plain data.

_LINE_LIMIT: Final = 4000
"""Longest line the direct writer writes: below the emitter's width (4096), where it never folds."""
_MAX_SIMPLE_KEY: Final = 123
"""The emitter writes a key of this many characters or more as an explicit ``? key`` (its
``check_simple_key`` counts the text and the 5 characters of its tag ``!!str`` up to 128)."""
_LINE_BREAKS: Final = "\n\x85\u2028\u2029"
_BLANKS: Final = "\0 \t\r" + _LINE_BREAKS
_LEADING_INDICATORS: Final = "#,[]{}&*!|>'\"%@`"
_ESCAPES: Final = {
    "\0": "0", "\x07": "a", "\x08": "b", "\x09": "t", "\x0a": "n", "\x0b": "v", "\x0c": "f",
    "\x0d": "r", "\x1b": "e", '"': '"', "\\": "\\", "\x85": "N", "\xa0": "_", "\u2028": "L", "\u2029": "P",
}  # fmt: skip
_PLAIN_SAFE: Final = re.compile(r"[A-Za-z0-9_/][A-Za-z0-9_./=+-]*")
"""Strings the emitter always writes plain (when :func:`needs_quotes` is false): a fast path."""


class _BeyondDirect(Exception):
    """A document the direct writer does not restate: a key that is not a string or needs an
    explicit ``? key`` (128+ characters, line breaks), a multi-line single-quoted scalar, a
    scalar at the document root, a line near the emitter's width (where it folds), a type
    other than dict, list, str, int, float, bool and None."""


def _direct(documents: list[Any]) -> str:
    out: list[str] = []
    for index, document in enumerate(documents):
        if type(document) not in _CONTAINERS:
            raise _BeyondDirect
        if document:
            out.append("---\n" if index else "")
            _block(document, 0, out)
        else:  # a flow collection follows the document marker on its line
            out.append(("--- " if index else "") + ("{}\n" if type(document) is dict else "[]\n"))
    if out and out[-1] is _OPEN_ENDED:
        out.append("...\n")
    return "".join(out)


_OPEN_ENDED: Final = ""
_CONTAINERS: Final = (dict, list)
"""Marks the end of a ``|+`` block: the emitter ends the stream with ``...`` after one."""


def _block(value: dict[Any, Any] | list[Any], indent: int, out: list[str], prefix: str = "") -> None:
    """A non-empty mapping or sequence whose entries start at column ``indent``; the first
    entry follows ``prefix`` (a sequence item's ``- ``) on its line."""
    pad = " " * indent
    if type(value) is dict:
        for key, item in value.items():
            head = f"{prefix or pad}{_key(key)}:"
            prefix = ""
            _value(item, head, indent, out, in_sequence=False)
    else:
        for item in value:
            _value(item, f"{prefix or pad}-", indent, out, in_sequence=True)
            prefix = ""


def _value(item: Any, head: str, indent: int, out: list[str], *, in_sequence: bool) -> None:
    """One entry: ``head`` (``key:`` or ``-``) and its value."""
    if type(item) in _CONTAINERS:
        if not item:
            out.append(f"{head} {{}}\n" if type(item) is dict else f"{head} []\n")
        elif in_sequence:
            _block(item, indent + 2, out, prefix=head + " ")
        else:
            out.append(head + "\n")
            _block(item, indent if type(item) is list else indent + 2, out)
        return
    text, literal = _scalar_text(item, len(head) + 1)
    if literal is None:
        out.append(f"{head} {text}\n")
        return
    out.append(f"{head} |{text}\n")
    pad = " " * (indent + 2)
    out.extend(f"{pad}{line}\n" if line else "\n" for line in literal)
    if text.endswith("+"):
        out.append(_OPEN_ENDED)


def _key(key: Any) -> str:
    if type(key) is not str or _needs_explicit_key(key):
        raise _BeyondDirect
    text, literal = _scalar_text(key, 0, simple_key=True)
    if literal is not None:
        raise _BeyondDirect
    return text


def _needs_explicit_key(key: str) -> bool:
    return len(key) >= _MAX_SIMPLE_KEY or any(char in _LINE_BREAKS for char in key)


def _scalar_text(value: Any, column: int, *, simple_key: bool = False) -> tuple[str, list[str] | None]:
    """The scalar as the emitter writes it after ``column`` characters of its line, and for a
    ``|`` block its lines (the text is then the block's indicators)."""
    kind = type(value)
    if kind is str:
        if _PLAIN_SAFE.fullmatch(value) and not needs_quotes(value):
            text = value
        else:
            return _string_text(value, column, simple_key=simple_key)
    elif value is None:
        text = "null"
    elif kind is bool:
        text = "true" if value else "false"
    elif kind is int:
        text = str(value)
    elif kind is float:
        text = _float_text(value)
    else:
        raise _BeyondDirect
    if column + len(text) > _LINE_LIMIT:
        raise _BeyondDirect
    return text, None


def _float_text(value: float) -> str:
    """As :func:`_represent_float` and ruamel.yaml's ``represent_float`` write it."""
    if math.isnan(value):
        return ".nan"
    if math.isinf(value):
        return ".inf" if value > 0 else "-.inf"
    text = repr(value)
    mantissa, e, exponent = text.partition("e")
    return text if "." in mantissa else f"{mantissa}.0{e}{exponent}"


def _string_text(value: str, column: int, *, simple_key: bool) -> tuple[str, list[str] | None]:
    """The style :func:`_represent_str` asks for, as the emitter's ``choose_scalar_style`` settles it."""
    if needs_escapes(value):
        style = '"'
    elif needs_quotes(value):
        style = "'"
    elif "\n" in value:
        return _literal(value)
    else:
        style = _unrequested_style(value, simple_key=simple_key)
    if style == "'" and not _single_quotes_allowed(value):
        style = '"'
    if style == "'" and "\n" in value:
        raise _BeyondDirect
    text = value if style == "" else _single_quoted(value) if style == "'" else _double_quoted(value)
    if column + len(text) > _LINE_LIMIT:
        raise _BeyondDirect
    return text, None


def _unrequested_style(value: str, *, simple_key: bool) -> str:
    """Plain where the emitter allows it (``analyze_scalar``'s ``allow_block_plain``), else quoted."""
    if _plain_allowed(value) and not (simple_key and not value):
        return ""
    return '"' if "'" in value else "'"


def _plain_allowed(value: str) -> bool:
    """``analyze_scalar``'s ``allow_block_plain`` for a one-line string without leading or
    trailing spaces (others are quoted by :func:`needs_quotes` already)."""
    if not value:
        return True
    if value.startswith(("---", "...")) or value[0] in _LEADING_INDICATORS:
        return False
    followed_by_blank = len(value) == 1 or value[1] in _BLANKS
    if value[0] in "?:-" and followed_by_blank:
        return False
    if ": " in value or value.endswith(":") or " #" in value or ":\t" in value or "\t#" in value:
        return False
    return not _special_characters(value)


def _special_characters(value: str) -> bool:
    """Characters only a double-quoted scalar carries (``analyze_scalar``, Unicode allowed)."""
    return any(
        not (char == "\n" or " " <= char <= "~")
        and not (
            (char == "\x85" or "\xa0" <= char <= "\ud7ff" or "\ue000" <= char <= "\ufffd" or char >= "\U00010000")
            and char != "\ufeff"
        )
        for char in value
    )


def _single_quotes_allowed(value: str) -> bool:
    """``analyze_scalar``'s ``allow_single_quoted``: no special characters, no space after a line break."""
    if _special_characters(value):
        return False
    return not any(value[i] in _LINE_BREAKS and value[i + 1] == " " for i in range(len(value) - 1))


def _single_quoted(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _double_quoted(value: str) -> str:
    """``write_double_quoted`` without folding: escapes for ``"``, ``\\``, ``\x85``, the
    Unicode line separators, BOM and everything outside printable ASCII and Unicode."""
    return '"' + "".join(_double_quoted_char(char) for char in value) + '"'


def _double_quoted_char(char: str) -> str:
    if char in '"\\\x85\u2028\u2029\ufeff' or not (
        " " <= char <= "~" or "\xa0" <= char <= "\ud7ff" or "\ue000" <= char <= "\ufffd" or char >= "\U00010000"
    ):
        if char in _ESCAPES:
            return "\\" + _ESCAPES[char]
        if char <= "\xff":
            return f"\\x{ord(char):02X}"
        return f"\\u{ord(char):04X}" if char <= "\uffff" else f"\\U{ord(char):08X}"
    return char


def _literal(value: str) -> tuple[str, list[str]]:
    """A ``|`` block: indentation and chomping indicators (``determine_block_hints``) and lines."""
    hints = "2" if value[0] in " \n" else ""
    if not value.endswith("\n"):
        hints += "-"
    elif len(value) == 1 or value[-2] == "\n":
        hints += "+"
    lines = value.split("\n")
    if value.endswith("\n"):
        lines.pop()
    if any(len(line) > _LINE_LIMIT for line in lines):
        raise _BeyondDirect
    return hints, lines


class NonFiniteNumberError(ValueError):
    """A plain ``.inf``/``.nan`` (go-yaml's infinity or NaN), which JSON and Kubernetes cannot carry.

    ``document`` is the document (as read) holding it; ``path`` the keys and list indexes
    leading to the value.
    """

    def __init__(self, document: Any, path: tuple[str | int, ...], value: float) -> None:
        super().__init__(f"{format_path(path)}: {value} is not a finite number")
        self.document = document
        self.path = path
        self.value = value


def format_path(path: Iterable[str | int]) -> str:
    """``("data", "x", 0)`` → ``data.x[0]``."""
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "<root>"


READER_VERSION = "go-yaml-v3-resolve/1"
"""Changes whenever the reader could give different objects for the same text (a render cache key)."""

_BaseLoader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_TAG = "tag:yaml.org,2002:"
_TAG_OF_TYPE = {type(None): "null", bool: "bool", int: "int", float: "float", str: "str"}


class GoYamlV3Loader(_BaseLoader):  # type: ignore[valid-type,misc]
    """libyaml's parser (PyYAML's C extension when present) with go-yaml v3's resolver.

    Plain scalars mean what they mean to go-yaml v3 (:func:`resolve_plain`): ``609e4400``
    stays a string, ``0777`` and ``0x1F`` are ints, timestamps stay strings. Mapping keys
    are always their text (Kubernetes objects are JSON, whose keys are strings).
    """

    non_finite = False

    def resolve(self, kind: Any, value: Any, implicit: Any) -> Any:
        if kind is yaml.ScalarNode and implicit[0]:
            if value == "<<":
                return _TAG + "merge"
            return _TAG + _TAG_OF_TYPE[type(resolve_plain(value))] if value else _TAG + "null"
        return super().resolve(kind, value, implicit)

    def construct_go_scalar(self, node: yaml.ScalarNode) -> Any:
        value = resolve_plain(str(node.value)) if node.value else None
        if isinstance(value, float) and not math.isfinite(value):
            self.non_finite = True
        return value

    def construct_text(self, node: yaml.ScalarNode) -> str:
        return str(node.value)

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        self.flatten_mapping(node)
        return {
            key.value if isinstance(key, yaml.ScalarNode) else self.construct_object(key, deep=deep): (
                self.construct_object(value, deep=deep)
            )
            for key, value in node.value
        }


for _name in ("null", "bool", "int", "float"):
    GoYamlV3Loader.add_constructor(_TAG + _name, GoYamlV3Loader.construct_go_scalar)
for _name in ("str", "timestamp", "binary", "merge"):
    GoYamlV3Loader.add_constructor(_TAG + _name, GoYamlV3Loader.construct_text)


def _find_non_finite(value: Any, path: tuple[str | int, ...]) -> tuple[tuple[str | int, ...], float] | None:
    if isinstance(value, float) and not math.isfinite(value):
        return path, value
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, item in items:
        found = _find_non_finite(item, (*path, key))
        if found is not None:
            return found
    return None


def load_all(text: str | bytes) -> list[Any]:
    """Every non-empty document of a multi-document YAML text, as go-yaml v3 (kustomize) reads it.

    Values are JSON-shaped: dicts with string keys, lists, str, int, float, bool, None.
    Raises ``yaml.YAMLError`` on malformed YAML and :class:`NonFiniteNumberError` for a
    plain ``.inf`` or ``.nan`` (JSON has no such numbers; quoted, they are strings).
    """
    loader = GoYamlV3Loader(text)
    try:
        documents = _documents(loader)
    finally:
        loader.dispose()
    if loader.non_finite:
        for document in documents:
            found = _find_non_finite(document, ())
            if found is not None:
                raise NonFiniteNumberError(document, *found)
    return documents


def _documents(loader: GoYamlV3Loader) -> list[Any]:
    documents = []
    while loader.check_data():
        document = loader.get_data()
        if document is not None:
            documents.append(document)
    return documents


_PLAIN = re.compile(r"^[A-Za-z0-9_/.][A-Za-z0-9_./@:=+-]*( [A-Za-z0-9_./@:=+()-]+)*$")


def _scalar(value: Any) -> str:
    """A YAML scalar: plain when unambiguous to every reader, else a JSON string (valid YAML, double-quoted)."""
    if isinstance(value, str):
        plain = _PLAIN.fullmatch(value) and not needs_quotes(value)
        if plain and ": " not in value and not value.endswith(":"):
            return value
        return double_quoted(value)
    return json.dumps(value)


@functools.lru_cache(maxsize=4096)
def _diff_key(text: str) -> str:
    """A mapping key of the diff text as a YAML scalar (keys repeat across objects: cached)."""
    return _scalar(text)


def _literal_ok(text: str) -> bool:
    """Whether a multi-line string can be shown as a ``|`` block (printable lines only)."""
    lines = text.split("\n")
    # libyaml (and go-yaml) refuse a tab where a block scalar's indentation is expected.
    return "\n" in text.rstrip("\n") and all(line.isprintable() and not line.startswith("\t") for line in lines)


def _emit(value: Any, indent: str, out: list[str]) -> None:
    """Block-style YAML for plain data; multi-line strings as ``|`` literals."""
    if isinstance(value, Mapping):
        for key, item in value.items():
            _emit_entry(f"{indent}{_diff_key(str(key))}:", item, indent, out)
    else:
        for item in value:
            _emit_entry(f"{indent}-", item, indent, out, in_list=True)


def _emit_entry(prefix: str, item: Any, indent: str, out: list[str], *, in_list: bool = False) -> None:
    inner = indent + "  "
    if isinstance(item, Mapping | list | tuple) and item:
        if in_list and isinstance(item, Mapping):
            nested: list[str] = []
            _emit(item, inner, nested)
            out.append(f"{prefix} {nested[0][len(inner) :]}")
            out.extend(nested[1:])
            return
        out.append(f"{prefix}\n")
        _emit(item, indent if (isinstance(item, list | tuple) and not in_list) else inner, out)
    elif isinstance(item, Mapping | list | tuple):
        out.append(f"{prefix} {'{}' if isinstance(item, Mapping) else '[]'}\n")
    elif isinstance(item, str) and _literal_ok(item):
        chomp = "-" if not item.endswith("\n") else ("+" if item.endswith("\n\n") else "")
        lines = item.removesuffix("\n").split("\n")
        leading = []
        for line in lines:
            leading.append(line)
            if line.strip():
                break
        indicator = "2" if any(line.startswith(" ") for line in leading) else ""
        out.append(f"{prefix} |{indicator}{chomp}\n")
        out.extend(f"{inner}{line}\n" if line else "\n" for line in lines)
    else:
        out.append(f"{prefix} {_scalar(item)}\n")


def manifest_lines(obj: Mapping[str, Any] | None, *, sort_keys: bool = False) -> list[str]:
    """An object as YAML lines for a diff (block style; keys in their order, or sorted with
    ``sort_keys``; ``|`` blocks for multi-line strings where exact). None gives no lines."""
    if obj is None:
        return []
    out: list[str] = []
    _emit(_sorted(obj) if sort_keys else obj, "", out)
    return out or ["{}\n"]


def _sorted(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {key: _sorted(value[key]) for key in sorted(value)}
    if isinstance(value, list | tuple):
        return [_sorted(item) for item in value]
    return value
