"""Spec files parsed by libyaml give exactly what ruamel.yaml, the reference, gives.

For every spec file of the repository (``examples/``, ``environments/``, the fixture
trees of the tests), every spec text written inline in a test module, and thousands of
generated hostile YAML texts: :func:`load_yaml` returns the same documents (values with
their types, every key's and value's position) and the same diagnostics as
:func:`load_yaml_reference`; and whenever the fast parser alone accepts a text, the
reference accepts it too, with the same documents.
"""

from __future__ import annotations

import ast
import random
import textwrap
from pathlib import Path
from typing import Any

import pytest

from gitops_agent.errors import Diagnostic
from gitops_agent.spec.yaml_positions import (
    Document,
    decode_utf8,
    fast_documents,
    load_yaml,
    load_yaml_reference,
)
from tests.unit.specs.helpers import VALID_WORKFLOW, diagnose

ROOT = Path(__file__).resolve().parents[2]
SPEC_TREES = ("examples", "environments", "tests/unit/specs")


def typed(value: Any) -> Any:
    """``value`` with every type spelled out (``True`` and ``1``, ``1`` and ``1.0`` differ)."""
    if isinstance(value, dict):
        return ("dict", tuple((k, typed(v)) for k, v in value.items()))
    if isinstance(value, list):
        return ("list", tuple(typed(v) for v in value))
    if isinstance(value, float):
        return ("float", repr(value))
    return (type(value).__name__, value)


def snapshot(documents: list[Document], problems: list[Diagnostic]) -> Any:
    return [(d.file, typed(d.data), dict(d.values), dict(d.keys)) for d in documents], problems


def assert_same_as_reference(raw: bytes) -> bool:
    """load_yaml equals the reference; the fast parser alone never disagrees with it.
    True when the fast parser took the text."""
    reference = load_yaml_reference(raw, "workflows/f.yaml")
    assert snapshot(*load_yaml(raw, "workflows/f.yaml")) == snapshot(*reference), raw
    text, _ = decode_utf8(raw, "workflows/f.yaml")
    fast = fast_documents(text, "workflows/f.yaml") if text is not None else None
    if fast is None:
        return False
    assert reference[1] == [], raw
    assert snapshot(fast, []) == snapshot(*reference), raw
    return True


def spec_files() -> list[Path]:
    return sorted(p for tree in SPEC_TREES for p in (ROOT / tree).rglob("*") if p.suffix in (".yaml", ".yml"))


def inline_specs() -> list[str]:
    """Every string constant of a test module that holds a spec document."""
    found: list[str] = []
    for module in sorted((ROOT / "tests").rglob("*.py")):
        for node in ast.walk(ast.parse(module.read_text(encoding="utf-8"))):
            value = node.value if isinstance(node, ast.Constant) else None
            if isinstance(value, str) and "apiVersion: gitops-agent.io" in value:
                found.append(textwrap.dedent(value))
    return found


def test_every_spec_file_of_the_repository_parses_fast_and_as_the_reference() -> None:
    files = spec_files()
    assert len(files) >= 10
    taken = [assert_same_as_reference(f.read_bytes()) for f in files]
    assert all(taken), [str(f) for f, t in zip(files, taken, strict=True) if not t]


def test_every_spec_written_in_a_test_parses_as_the_reference() -> None:
    texts = inline_specs()
    assert len(texts) >= 100
    taken = [assert_same_as_reference(t.encode("utf-8")) for t in texts]
    assert sum(taken) >= len(texts) // 2  # most are valid YAML: the fast parser takes them


# -- generated hostile YAML ------------------------------------------------------------

SCALARS = [
    '"0.10"', "0.10", "on", "yes", "no", "off", "1e3", "0x1F", "0o17", "~", "null", "Null", "NULL", "true",
    "True", "FALSE", ".inf", "-.Inf", ".NaN", "+12", "-0", "012", "1_000", "0b101", "1:20", "2001-12-14",
    "2001-12-14T21:59:43.10-05:00", "'it''s'", '"\\u263A \\x41 \\/ \\t \\N \\_ \\L \\P \\e \\0 \\a"', "plain text",
    "a #not comment", "x: y", "- z", "'multi\n  line'", '"multi\n  line\\\n  esc"', "|\n  lit\n   more\n",
    ">-\n  fold\n  ed\n\n  para\n", "|+\n  keep\n\n", "|2\n    ind\n", ">\n\tx\n", "''", '""', "-", "@at", "`tick",
    "%pct", "{a: 1, b}", "[a: 1, b]", "[a, [b, {c: d}]]", "{? a}", "1e400", "609e4400", "-1e400", ".5", "5.",
    "+.5", "1.0e+3", "0x", "0o", "1__0", "é", "日本", "\U0001f600", "a\u00a0b", "3.14159265358979323846",
    "123456789012345678901234567890", "-0.0", "0.", "a\tb", "'\t'", '"\t"',
]
HOSTILE_SCALARS = [
    "!!str 1", '!!int "3"', "! 12", "!custom x", "!!float 1", "!!bool yes", "!!null ''", "!!binary aGk=",
    "!!timestamp 2001-12-14", "&a 1", "*a", "", "?", ":", "\ttab", "!!map {}", "!!seq []", "!!str", "!!set {a}",
    "!!omap [a: 1]", "*unknown", "&b [1, 2]", "*b", "&c {x: 1}", "!!int ''", "!!bool 'yes true'", "!!float ''",
]
KEYS = ["a", "b", "key", "on", "yes", "1", "'q'", '"dq"', "a b", "é", "-k", "~", "null", "true", "0x1F", "a:b",
        "k#h", "x1", "x2", "x3", "x4", "x5", "x6"]
HOSTILE_KEYS = ["<<", "? complex", "[x]", "{y: 1}", "!!str k", "&k k", "", "!!int 1"]
BREAKS = ["\n", "\r\n", "\r", "\x85", "\u2028", "\u2029"]
NOISE = [
    "\t", " ", "\ufeff", "#", "---", "...", "%YAML 1.1\n---\n", "%YAML 1.2\n---\n", "%TAG !e! tag:e.com,2000:\n---\n",
    "\x00", "\x07", "\x1b", "\ud7ff", "\ufffe", ":", "- ", "? ", "&", "*", "!", "|", ">", "'", '"', "{", "}", "[",
    "]", ",", "\\", "\u2028", "\x85", "\r",
]


class Hostile:
    """Random YAML: block and flow collections of odd scalars and keys, line breaks of
    every kind, then characters inserted, deleted and repeated; some texts get a bad
    UTF-8 byte or a byte order mark. ``tame`` texts keep to shapes a spec can have."""

    def __init__(self, seed: int) -> None:
        self.r = random.Random(seed)
        self.tame = False

    def scalar(self) -> str:
        return self.r.choice(SCALARS if self.tame else SCALARS + HOSTILE_SCALARS)

    def key(self) -> str:
        return self.r.choice(KEYS if self.tame else KEYS + HOSTILE_KEYS)

    def node(self, depth: int, indent: int) -> str:
        r, pad = self.r, " " * indent
        choice = r.random()
        if depth > 3 or choice < 0.4:
            return " " + self.scalar().replace("\n", "\n" + pad + "  ")
        if choice < 0.65:
            lines = [
                f"{pad}{self.key()}:{self.node(depth + 1, indent + r.choice([1, 2, 2, 4]))}"
                for _ in range(r.randint(0, 4))
            ]
            return "\n" + "\n".join(lines) if lines else " {}"
        if choice < 0.85:
            lines = [f"{pad}-{self.node(depth + 1, indent + 2)}" for _ in range(r.randint(0, 4))]
            return "\n" + "\n".join(lines) if lines else " []"
        items = ", ".join(
            f"{self.key()}: {self.scalar()}" if r.random() < 0.5 else self.scalar() for _ in range(r.randint(0, 3))
        )
        return " {" + items + "}" if r.random() < 0.5 else " [" + items + "]"

    def text(self) -> bytes:
        r = self.r
        self.tame = r.random() < 0.6
        text = "\n".join(f"{self.key()}:{self.node(0, 2)}" for _ in range(r.randint(1, 5))) + "\n"
        if r.random() < 0.2:
            text += "---\n" + "\n".join(f"{self.key()}:{self.node(0, 2)}" for _ in range(2)) + "\n"
        if r.random() < (0.05 if self.tame else 0.3):
            text = text.replace("\n", r.choice(BREAKS))
        for _ in range(r.choice([0, 0, 1, 2, 3]) if not self.tame or r.random() < 0.3 else 0):
            at = r.randint(0, len(text))
            operation = r.random()
            if operation < 0.6:
                text = text[:at] + r.choice(NOISE) + text[at:]
            elif operation < 0.8:
                text = text[:at] + text[at + 1 :]
            else:
                start = r.randint(0, len(text))
                text = text[:at] + text[start : start + 5] + text[at:]
        raw = text.encode("utf-8", "surrogatepass")
        if r.random() < 0.05:
            at = r.randint(0, len(raw))
            raw = raw[:at] + bytes([r.choice([0xFF, 0xC3, 0x80, 0xED])]) + raw[at:]
        if r.random() < 0.05:
            raw = b"\xef\xbb\xbf" + raw
        return raw


@pytest.mark.parametrize("seed", range(4))
def test_generated_hostile_yaml_parses_as_the_reference(seed: int) -> None:
    generator = Hostile(seed)
    taken = sum(assert_same_as_reference(generator.text()) for _ in range(1500))
    assert taken >= 150  # the fast parser took a good share: the comparison above was not vacuous


# -- where the two parsers disagree: each shape is left to the reference ---------------------


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param(b"a: 1\nb:\n", id="empty value placed differently"),
        pytest.param(b"a: [1, 2]\n---\n", id="empty document"),
        pytest.param(b"a: |#\n  x\n", id="comment touching a block scalar header (ruamel refuses)"),
        pytest.param(b"a: ['q':x]\n", id="value touching a quoted key's colon (ruamel refuses)"),
        pytest.param(b"a: [!!str, b]\n", id="tag followed by a comma in flow context"),
        pytest.param(b"%YAML 1.1\n---\na: 0o17\nb: 017\nc: 1:20\n", id="YAML 1.1 directive"),
        pytest.param("a: x\u2028b: y\n".encode(), id="LS line separator"),
        pytest.param("a: x\x85b: y\n".encode(), id="NEL"),
        pytest.param("a: x\u2029b: y\n".encode(), id="PS paragraph separator"),
        pytest.param("ab:\n \ufeff é: []\n".encode(), id="byte order mark inside the text"),
        pytest.param(b"\xef\xbb\xbfa: 1\nb: 'x'\n", id="byte order mark at the start"),
        pytest.param(b"a: 1\n\tb: 2\n", id="tab as indentation"),
        pytest.param(b"a: 1\t\nb: [x,\ty]\n", id="tabs as separation"),
        pytest.param(b"a: &x 1\nb: *x\n", id="anchor refused"),
        pytest.param(b"a: 1\na: 2\n", id="duplicate key"),
        pytest.param(b"a: \xff\n", id="invalid UTF-8"),
        pytest.param(b'a: "0.10"\nb: on\nc: 1e3\nd: 0x1F\ne: ~\nf: yes\ng: 0o17\nh: .inf\n', id="core schema scalars"),
    ],
)
def test_shapes_the_parsers_disagree_on_give_the_reference_result(raw: bytes) -> None:
    assert_same_as_reference(raw)


def test_scalars_keep_exact_values_on_the_fast_path() -> None:
    raw = b'a: "0.10"\nb: on\nc: 1e3\nd: 0x1F\ne: ~\nf: yes\ng: 0.10\nh: 1_000\n'
    assert assert_same_as_reference(raw)
    (document,), _ = load_yaml(raw, "f.yaml")
    expected = {"a": "0.10", "b": "on", "c": 1000.0, "d": 31, "e": None, "f": "yes", "g": 0.1, "h": 1000}
    assert typed(document.data) == typed(expected)  # ruamel's YAML 1.2 resolver reads 1_000 as 1000


@pytest.mark.parametrize(
    ("tagged", "tag"),
    [("!!int ''", "int"), ("!!int '-'", "int"), ("!!bool 'yes true'", "bool"), ("!!bool ''", "bool"),
     ("!!float ''", "float"), ("!!float 'x'", "float"), ("!!int 'x'", "int")],
)
def test_an_explicit_core_tag_on_an_unreadable_scalar_is_a_located_diagnostic(tagged: str, tag: str) -> None:
    """ruamel's constructors raise IndexError/KeyError on some of these: never a traceback."""
    for parse in (load_yaml, load_yaml_reference):
        _, problems = parse(f"a: 1\nb: {tagged}\n".encode(), "f.yaml")
        assert problems == [Diagnostic("f.yaml", 2, 4, "<root>", f"value cannot be read as {tag}")]


@pytest.mark.parametrize("tagged", ["!!int ''", "!!bool 'yes true'", "!!int '-'"])
def test_validate_reports_an_unreadable_tagged_scalar_in_a_spec_file(tagged: str, tmp_path: Path) -> None:
    """Through the loader: one located diagnostic, no exception."""
    workflow = VALID_WORKFLOW.replace("ports: {http: 8080}", f"ports: {{http: {tagged}}}")
    found = diagnose(tmp_path, {"workflows/wf.yaml": workflow})
    assert [(d.file, d.line, d.field) for d in found] == [("workflows/wf.yaml", 14, "<root>")]
    assert found[0].message.startswith("value cannot be read as ")
