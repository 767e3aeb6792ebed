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
    return not all(char.isprintable() or char in "\n\t" for char in text)


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
    """One YAML document, keys in the order they were built."""
    buffer = io.StringIO()
    _yaml().dump(document, buffer)
    return buffer.getvalue().encode("utf-8")


def dump_all(documents: Iterable[Any]) -> bytes:
    """Several documents separated by ``---``."""
    buffer = io.StringIO()
    _yaml().dump_all(list(documents), buffer)
    return buffer.getvalue().encode("utf-8")


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
def _key(text: str) -> str:
    """A mapping key as a YAML scalar (keys repeat across objects: cached)."""
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
            _emit_entry(f"{indent}{_key(str(key))}:", item, indent, out)
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
