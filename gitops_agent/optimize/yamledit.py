"""Edit a YAML file a person wrote: ruamel.yaml round-trip, then keep every untouched byte.

ruamel.yaml keeps comments, key order and quoting, but its emitter normalises a few
constructs (indentation it has to guess, single-key flow maps inside flow sequences). So
the edited document is dumped twice — unedited (A) and edited (B) — and only the lines
where A and B differ replace the matching lines of the original text; every other line is
the original, byte for byte. The result is checked to load as B does.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from difflib import SequenceMatcher
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.scalarstring import DoubleQuotedScalarString
from ruamel.yaml.util import load_yaml_guess_indent

from gitops_agent.optimize.model import REMOVE, EditValue


def _yaml(text: str) -> YAML:
    yaml = YAML()
    yaml.preserve_quotes = True
    yaml.width = 1_000_000
    _, sequence_indent, dash_offset = load_yaml_guess_indent(text)
    mapping = next(
        (
            len(line) - len(line.lstrip(" "))
            for line in text.splitlines()
            if line.startswith(" ") and not line.lstrip().startswith(("#", "-"))
        ),
        2,
    )
    if dash_offset is None:
        yaml.indent(mapping=mapping, sequence=mapping, offset=0)
    else:
        yaml.indent(mapping=mapping, sequence=sequence_indent or mapping, offset=dash_offset)
    return yaml


def _dump(yaml: YAML, data: Any) -> str:
    out = io.StringIO()
    yaml.dump(data, out)
    return out.getvalue()


def _scalar(value: Any) -> Any:
    if isinstance(value, str):
        try:
            float(value)
        except ValueError:
            return value
        return DoubleQuotedScalarString(value)  # "2" stays a string, as people write it
    return value


def _node(value: EditValue, *, nested: bool = False) -> Any:
    """A value as ruamel nodes: lists as block sequences, maps as block maps, but a map of
    scalars inside another map in flow style (``parameters: {lr: 0.01, depth: 3}``)."""
    if isinstance(value, list):
        seq = CommentedSeq(_node(item) for item in value)
        return seq
    if isinstance(value, dict):
        node = CommentedMap((k, _node(v, nested=True)) for k, v in value.items())
        if nested and not any(isinstance(v, list | dict) for v in value.values()):
            node.fa.set_flow_style()
        return node
    return _scalar(value)


def set_path(data: Any, path: Sequence[str], value: EditValue) -> None:
    """Set (or, for :data:`REMOVE`, delete) ``path``; missing maps are created in the
    parent's style (flow inside flow); a map emptied by a removal is removed too."""
    if value == REMOVE:
        _remove(data, path)
        return
    node = data
    for key in path[:-1]:
        child = node.get(key)
        if not isinstance(child, dict):
            child = CommentedMap()
            if getattr(node, "fa", None) is not None and node.fa.flow_style():
                child.fa.set_flow_style()
            node[key] = child
        node = child
    node[path[-1]] = _node(value)


def _remove(data: Any, path: Sequence[str]) -> None:
    chain = [data]
    for key in path[:-1]:
        child = chain[-1].get(key)
        if not isinstance(child, dict):
            return
        chain.append(child)
    chain[-1].pop(path[-1], None)
    for depth in range(len(chain) - 1, 0, -1):
        if chain[depth]:
            break
        chain[depth - 1].pop(path[depth - 1], None)


def get_path(data: Any, path: Sequence[str]) -> Any:
    node = data
    for key in path:
        if not isinstance(node, dict) or key not in node:
            return None
        node = node[key]
    return node


def load(text: str) -> Any:
    return _yaml(text).load(text)


def edit(text: str, edits: Sequence[tuple[Sequence[str], EditValue]]) -> str:
    """``text`` with each ``(path, value)`` applied; untouched lines keep their bytes
    (CRLF line ends and a missing final newline included)."""
    if "\r\n" in text:
        return edit(text.replace("\r\n", "\n"), edits).replace("\n", "\r\n")
    if text and not text.endswith("\n"):
        return edit(text + "\n", edits).removesuffix("\n")
    yaml = _yaml(text)
    before = _dump(yaml, yaml.load(text))
    data = yaml.load(text)
    for path, value in edits:
        set_path(data, path, value)
    after = _dump(yaml, data)
    spliced = splice(text, before, after)
    plain = YAML(typ="safe")
    if plain.load(spliced) != plain.load(after):
        return after
    return spliced


def splice(original: str, before: str, after: str) -> str:
    """Apply the line changes ``before`` -> ``after`` to ``original`` (which ``before``
    re-emits, up to a few normalised lines)."""
    o_lines = original.splitlines(keepends=True)
    a_lines = before.splitlines(keepends=True)
    b_lines = after.splitlines(keepends=True)
    # segments aligning original and ``before``: (a_start, a_end, original lines)
    segments: list[tuple[int, int, list[str]]] = []
    matcher = SequenceMatcher(None, o_lines, a_lines, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            segments.extend((j1 + k, j1 + k + 1, [o_lines[i1 + k]]) for k in range(i2 - i1))
        else:
            segments.append((j1, j2, o_lines[i1:i2]))
    out: list[str] = []
    matcher = SequenceMatcher(None, a_lines, b_lines, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag != "equal":
            out.extend(b_lines[j1:j2])
            continue
        for a_start, a_end, lines in segments:
            if a_start == a_end:  # original lines the emitter dropped
                if i1 <= a_start < i2 or a_start == i2 == len(a_lines):
                    out.extend(lines)
            elif i1 <= a_start and a_end <= i2:
                out.extend(lines)
            elif a_start < i2 and a_end > i1:  # partly kept: the emitter's lines
                out.extend(a_lines[max(a_start, i1) : min(a_end, i2)])
    return "".join(out)
