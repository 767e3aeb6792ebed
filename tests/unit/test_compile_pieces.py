"""Unit tests of the compiler's small pure pieces: JSON patches, image pins, YAML output."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from gitops_agent.compile.patches import apply_json_patch, json_patch
from gitops_agent.compile.workloads import pin_image, short_hash, split_image
from gitops_agent.vocabulary.yaml import dump, load_all

scalars = st.one_of(st.none(), st.booleans(), st.integers(-5, 5), st.text("ab/~c", max_size=3))
documents: st.SearchStrategy[Any] = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=3), st.dictionaries(st.text("ab/~", max_size=3), children, max_size=3)
    ),
    max_leaves=12,
)


@settings(max_examples=300)
@given(documents, documents)
def test_json_patch_turns_before_into_after(before: Any, after: Any) -> None:
    assert apply_json_patch(before, json_patch(before, after)) == after


def test_json_patch_is_minimal_for_a_single_change() -> None:
    before = {"spec": {"replicas": 2, "template": {"metadata": {"labels": {"a/b": "x"}}}}}
    after = {"spec": {"replicas": 4, "template": {"metadata": {"labels": {"a/b": "y"}}}}}
    assert json_patch(before, after) == [
        {"op": "replace", "path": "/spec/replicas", "value": 4},
        {"op": "replace", "path": "/spec/template/metadata/labels/a~1b", "value": "y"},
    ]


def test_json_patch_of_equal_documents_is_empty() -> None:
    assert json_patch({"a": [1, {"b": 2}]}, {"a": [1, {"b": 2}]}) == []


def test_json_patch_distinguishes_bool_from_int() -> None:
    assert json_patch({"a": 1}, {"a": True}) == [{"op": "replace", "path": "/a", "value": True}]


def test_split_image_handles_registry_ports_and_digests() -> None:
    assert split_image("registry.example.com/imgrec:1.4.0") == ("registry.example.com/imgrec", "1.4.0")
    assert split_image("localhost:5000/x") == ("localhost:5000/x", None)
    assert split_image("localhost:5000/x:2") == ("localhost:5000/x", "2")
    assert split_image("x@sha256:abc") == ("x@sha256:abc", None)


def test_pin_image_replaces_tag_or_sets_digest() -> None:
    pins = {"registry.example.com/imgrec": "1.4.1", "r/y": "sha256:" + "0" * 64}
    assert pin_image("registry.example.com/imgrec:1.4.0", pins) == "registry.example.com/imgrec:1.4.1"
    assert pin_image("r/y:3", pins) == "r/y@sha256:" + "0" * 64
    assert pin_image("other/z:1", pins) == "other/z:1"


def test_short_hash_ignores_key_order() -> None:
    assert short_hash({"a": 1, "b": [1, 2]}) == short_hash({"b": [1, 2], "a": 1})
    assert short_hash({"a": 1}) != short_hash({"a": 2})
    assert len(short_hash({})) == 8


def test_yaml_output_quotes_yaml11_specials_and_round_trips() -> None:
    document = {
        "flags": ["on", "off", "yes", "no", "y", "n", "~", "null"],
        "time": "1:30",
        "octal": "0755",
        "num": "1e3",
        "version": "1.4.1",
        "text": "line1\nline2\n",
        "cpu": "500m",
    }
    text = dump(document).decode()
    for special in ("'on'", "'off'", "'yes'", "'no'", "'y'", "'n'", "'~'", "'null'", "'1:30'", "'0755'", "'1e3'"):
        assert special in text
    assert "cpu: 500m" in text
    assert load_all(text)[0] == document


def test_yaml_output_keeps_insertion_order() -> None:
    assert dump({"b": 1, "a": 2}).decode() == "b: 1\na: 2\n"
