"""The direct YAML writer gives the bytes of ruamel.yaml's emitter (with this project's scalar
styles) for every document, so environment branches stay byte-identical: random documents
over every tricky scalar class, the documents beyond the direct writer (which go to the
emitter), and every golden compiled file reproduced from its own data."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gitops_agent.vocabulary import yaml as Y
from gitops_agent.vocabulary.yaml import dump, dump_all, load_all
from tests.unit.test_yaml_values import ANY_TEXT, NUMBER_LIKE, PADDED

UNIT = Path(__file__).resolve().parent
GOLDEN_FILES = sorted(p for p in UNIT.glob("golden*/**/*.yaml") if p.is_file())

_separators = st.text(" \n\t\r\x85\u2028\u2029\ufeff\xa0\x00\x1b\u200b'\"#:-|>!&*%@`,[]{}?é😀", max_size=6)
TRICKY = st.one_of(
    NUMBER_LIKE,
    PADDED,
    ANY_TEXT,
    st.builds(lambda a, b, c: a + b + c, st.text("ab-./:#? ", max_size=4), _separators, st.text("xy: #\n", max_size=4)),
    st.sampled_from(["---", "--- x", "...", "- x", "? x", ": x", "x:", "x: y", "x #y", "x#y", "#x", "-", "?", ":"]),
    st.sampled_from(["|", ">", "'", '"', "@x", "`x", "%x", "!x", "&x", "*x", "[x]", "{x}", "a,b", "a[b]"]),
)
MULTI_LINE = st.builds(
    lambda lines, end: "\n".join(lines) + end,
    st.lists(st.text("ab #:\t-'", max_size=6) | st.sampled_from(["", " x", "  y", "\tz"]), min_size=1, max_size=4),
    st.sampled_from(["", "\n", "\n\n", "\n\n\n"]),
)
LONG = st.builds(
    lambda unit, n: unit * n, st.sampled_from(["a", "ab ", "x y", "é", "'", "\x01", "a\n"]), st.integers(100, 2200)
)
STRINGS = st.one_of(TRICKY, MULTI_LINE, st.text(max_size=20), LONG)
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    STRINGS,
)
KEYS = st.one_of(TRICKY, st.text(max_size=10), st.text("abc", min_size=118, max_size=130))
DOCUMENTS = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(KEYS, inner, max_size=4),
    max_leaves=25,
)


def _reference(*documents: Any) -> bytes:
    return Y._reference_dump_all(list(documents))


@settings(max_examples=700, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(KEYS, DOCUMENTS, max_size=5) | st.lists(DOCUMENTS, max_size=4))
def test_random_documents_are_written_byte_for_byte_as_the_emitter_writes_them(document: Any) -> None:
    assert dump(document) == _reference(document)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.dictionaries(KEYS, DOCUMENTS, max_size=3) | st.lists(DOCUMENTS, max_size=3), max_size=4))
def test_several_documents_are_written_as_the_emitter_writes_them(documents: list[Any]) -> None:
    assert dump_all(documents) == _reference(*documents)


@settings(max_examples=800, deadline=None)
@given(
    st.dictionaries(
        st.text("abcdef-_./", min_size=1, max_size=20),
        SCALARS.filter(lambda v: not isinstance(v, str) or (len(v) < 1000 and "\n" not in v)),
        max_size=6,
    )
)
def test_one_line_scalars_under_short_keys_are_written_directly(document: dict[str, Any]) -> None:
    """The direct path is not an empty promise: what compiled files hold never leaves it."""
    assert Y._direct([document]).encode() == _reference(document)


@pytest.mark.parametrize(
    "document",
    [
        {"k" * 123: 1},  # a key the emitter writes as "? key"
        {"a\nb": 1},  # a multi-line key
        {1: "x"},  # a key that is not a string
        {"k": "yes\n"},  # a multi-line scalar in single quotes
        {"k": "x " * 2100},  # a line the emitter folds at its width
        {"k": "a" * 4100},  # a word longer than the width, moved to a line of its own
        {"k": "\x01" + "x " * 2100},  # folded double-quoted
        {"k": ("tuple",)},  # a type the safe representer does not take
        "scalar at the root",
        None,
    ],
    ids=[
        "long-key",
        "multi-line-key",
        "int-key",
        "single-quoted-lines",
        "folded-plain",
        "long-word",
        "folded-double-quoted",
        "tuple",
        "root-scalar",
        "root-null",
    ],
)
def test_documents_beyond_the_direct_writer_still_get_the_emitters_bytes(document: Any) -> None:
    with pytest.raises(Y._BeyondDirect):
        Y._direct([document])
    try:
        expected = _reference(document)
    except Exception as error:  # the emitter refuses it: so does dump
        with pytest.raises(type(error)):
            dump(document)
        return
    assert dump(document) == expected


@pytest.mark.parametrize("path", GOLDEN_FILES, ids=[str(p.relative_to(UNIT)) for p in GOLDEN_FILES])
def test_every_golden_compiled_file_is_rewritten_byte_for_byte_without_the_emitter(path: Path) -> None:
    """Files the compiler writes come back byte for byte; manifests copied as the user wrote
    them (``extra/``) at least get the emitter's bytes directly."""
    text = path.read_bytes()
    documents = load_all(text)
    written = Y._direct(documents).encode()
    assert written == (_reference(*documents) if "extra" in path.parts else text)


def test_there_are_golden_files_to_check() -> None:
    assert len(GOLDEN_FILES) > 200
