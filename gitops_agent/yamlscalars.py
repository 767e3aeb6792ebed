"""What a plain YAML scalar means, and which strings must be quoted to keep meaning it.

kustomize (kyaml, built on go-yaml v3) decides what a plain scalar in its output is by
go-yaml v3's resolver, and quotes a string only when that resolver would take it for
something else. ``609e4400`` overflows a float64, so go-yaml v3 resolves it as a string
and kustomize prints it plain, while a YAML 1.2 reader (ruamel.yaml) reads ``inf``. So
kustomize's output is read with :func:`resolve_plain`, a transcription of go-yaml v3's
``resolve`` (``gopkg.in/yaml.v3`` ``resolve.go``, v3.0.1, untagged scalars), and every
string this project writes as YAML is quoted when *any* common reader could take it for a
non-string (:func:`needs_quotes`): go-yaml v3 and v2 (kubectl), YAML 1.1 (PyYAML) and
YAML 1.2 (ruamel.yaml).
"""

from __future__ import annotations

import json
import math
import re
from typing import Final

import yaml.resolver
from ruamel.yaml import resolver as ruamel_resolver

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
    for prefix, base in (("0b", 2), ("0o", 8)):
        if plain.startswith(prefix):
            number = _go_parse_int(plain[2:], base)
            if number is None:
                number = _go_parse_uint(plain[2:], base)
            if number is not None:
                return number
        elif plain.startswith("-" + prefix):
            number = _go_parse_int("-" + plain[3:], base)
            if number is not None:
                return number
    return text


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
