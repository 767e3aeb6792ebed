"""Round-trip edits keep every untouched byte of a file a person wrote."""

from __future__ import annotations

from pathlib import Path

import pytest
from ruamel.yaml import YAML

from gitops_agent.optimize.model import REMOVE
from gitops_agent.optimize.yamledit import edit

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((ROOT / "examples").glob("*.yaml")) + sorted((ROOT / "environments").glob("*.yaml"))


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_no_edit_is_byte_identical(path: Path) -> None:
    text = path.read_text()
    assert edit(text, []) == text


def test_quirky_lines_elsewhere_survive_an_edit() -> None:
    text = (ROOT / "examples" / "image-recognition.yaml").read_text()
    assert "envFrom: [{secret: imgrec-creds}, {configMap: imgrec-settings}]" in text
    out = edit(text, [(("spec", "tasks", "train", "resources", "cpu"), "6")])
    changed = [(a, b) for a, b in zip(text.splitlines(), out.splitlines(), strict=True) if a != b]
    assert changed == [
        (
            '      resources: {cpu: "8", memory: 32Gi, gpu: 1}',
            '      resources: {cpu: "6", memory: 32Gi, gpu: 1}',
        )
    ]


def test_new_maps_follow_the_parent_style_and_removal_prunes_empty_maps() -> None:
    text = (
        "# head\n"
        "spec:\n"
        "  services:\n"
        "    api:   # the api\n"
        "      ports: {http: 8080}\n"
        "      variants:\n"
        "        b: {image: x:2, weight: 10}\n"
        "    web: {replicas: 2}\n"
        "  tail: 'quoted'   # end\n"
    )
    out = edit(
        text,
        [
            (("spec", "services", "api", "resources", "cpu"), "250m"),
            (("spec", "services", "api", "variants", "b"), REMOVE),
            (("spec", "services", "web", "resources", "memory"), "1Gi"),
            (("spec", "services", "web", "resources", "cpu"), "2"),
        ],
    )
    assert out == (
        "# head\n"
        "spec:\n"
        "  services:\n"
        "    api:   # the api\n"
        "      ports: {http: 8080}\n"
        "      resources:\n"
        "        cpu: 250m\n"
        '    web: {replicas: 2, resources: {memory: 1Gi, cpu: "2"}}\n'
        "  tail: 'quoted'   # end\n"
    )
    assert YAML(typ="safe").load(out)["spec"]["services"]["web"]["resources"]["cpu"] == "2"


def test_line_ends_and_missing_final_newline_are_kept() -> None:
    text = "a: 1   # one\r\nb: {c: 2}\r\n"
    assert edit(text, [(("b", "c"), 3)]) == "a: 1   # one\r\nb: {c: 3}\r\n"
    assert edit("a: 1\nb: 2", [(("b",), 5)]) == "a: 1\nb: 5"


def _scalar_paths(node: object, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    if isinstance(node, dict):
        return [p for k, v in node.items() for p in _scalar_paths(v, (*prefix, str(k)))]
    return [] if isinstance(node, list) or "\n" in str(node) else [prefix]


def test_random_edits_change_only_their_values() -> None:
    from hypothesis import given, settings
    from hypothesis import strategies as st

    texts = [p.read_text() for p in EXAMPLES]
    safe = YAML(typ="safe")

    @settings(max_examples=60, deadline=None)
    @given(st.data())
    def check(data: st.DataObject) -> None:
        text = data.draw(st.sampled_from(texts))
        original = safe.load(text)
        paths = _scalar_paths(original)
        chosen = data.draw(st.lists(st.sampled_from(paths), min_size=1, max_size=4, unique=True))
        values = data.draw(
            st.lists(st.sampled_from(["250m", "2", "1536Mi", "7"]), min_size=len(chosen), max_size=len(chosen))
        )
        out = edit(text, list(zip(chosen, values, strict=True)))
        expected = safe.load(text)
        for path, value in zip(chosen, values, strict=True):
            node = expected
            for key in path[:-1]:
                node = node[key]
            node[path[-1]] = value
        assert safe.load(out) == expected
        before, after = text.splitlines(), out.splitlines()
        assert len(before) == len(after)
        assert sum(a != b for a, b in zip(before, after, strict=True)) <= len(chosen)

    check()
