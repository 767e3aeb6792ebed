"""The diff's YAML: block style, readable scalars, and always the same data when read back."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from ruamel.yaml import YAML

from gitops_agent.vocabulary.yaml import manifest_lines

_scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=30)
    | st.sampled_from(["yes", "no", "on", "1e3", "0x1F", "1:20", "2026-01-01", "a: b", "- x", "#c", "~", ""])
    | st.text(alphabet=" \n\tab:#-", max_size=20)
)
_data = st.recursive(
    _scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=25,
)


def _load(lines: list[str]) -> Any:
    return YAML(typ="safe", pure=True).load("".join(lines))


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.text(max_size=10), _data, max_size=5))
def test_reads_back_as_the_same_data(obj: dict[str, Any]) -> None:
    assert _load(manifest_lines(obj)) == obj


def test_kubernetes_shapes_read_naturally() -> None:
    obj = {
        "kind": "ConfigMap",
        "metadata": {"name": "cfg", "labels": {"env": "prod"}},
        "data": {"thresholds.yaml": "min_accuracy: 0.92\nmax: 3\n", "flag": "true", "cpu": "100m"},
        "spec": {"containers": [{"name": "c", "ports": [{"containerPort": 8080}]}], "empty": {}},
    }
    assert "".join(manifest_lines(obj)) == (
        "kind: ConfigMap\n"
        "metadata:\n  name: cfg\n  labels:\n    env: prod\n"
        'data:\n  thresholds.yaml: |\n    min_accuracy: 0.92\n    max: 3\n  flag: "true"\n  cpu: 100m\n'
        "spec:\n  containers:\n  - name: c\n    ports:\n    - containerPort: 8080\n  empty: {}\n"
    )
    assert manifest_lines(None) == []
