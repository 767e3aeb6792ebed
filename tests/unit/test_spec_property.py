"""Property tests: random mutations of valid specs (structural and textual) never make the
loader raise anything but SpecError, every message is ``file:line:col: field: message``,
and whatever loads also yields its effective workflows."""

from __future__ import annotations

import copy
import io
import re
import tempfile
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from ruamel.yaml import YAML

from gitops_agent.errors import SpecError
from gitops_agent.spec import effective_workflow, load_specs
from gitops_agent.spec.yaml_positions import load_yaml
from tests.unit.test_spec_load import FULL_WORKFLOW

FORMAT = re.compile(r"^[^:]+:\d+:\d+: \S+: .+")

ENVIRONMENT = """\
apiVersion: gitops-agent.io/v1alpha1
kind: Environment
metadata: {name: prod}
spec:
  namespace: ml-prod
  branch: env/prod
  workflows: [imgrec]
  images: {registry.example.com/imgrec: "1.4.1"}
  overrides:
    imgrec:
      tasks:
        prepare: {retries: 5}
      services:
        classifier: {replicas: 4, autoscale: {min: 4, max: 20}}
  sync: {prune: true, interval: 1m}
"""

KEYS = st.sampled_from(
    [
        "image",
        "dependsOn",
        "schedule",
        "env",
        "ports",
        "weight",
        "min",
        "max",
        "cpu",
        "memory",
        "port",
        "x",
        "name",
        "secretRef",
        "prepare",
        "train",
        "classifier",
        "PASSWORD",
        "imgrec",
    ]
)
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20),
    st.sampled_from(["prepare", "train", "nightly", "http", "0 2 * * *", "5m", "1Gi", "500m", "AKIA" + "A" * 16]),
)
VALUES: st.SearchStrategy[Any] = st.recursive(
    SCALARS,
    lambda children: st.one_of(st.lists(children, max_size=3), st.dictionaries(KEYS, children, max_size=3)),
    max_leaves=6,
)


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix]
    if isinstance(node, dict):
        for key, value in node.items():
            found.extend(_paths(value, (*prefix, key)))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found.extend(_paths(value, (*prefix, index)))
    return found


def _mutate(document: Any, data: st.DataObject) -> Any:
    document = copy.deepcopy(document)
    for _ in range(data.draw(st.integers(1, 4))):
        paths = _paths(document)
        path = data.draw(st.sampled_from(paths))
        operation = data.draw(st.sampled_from(["replace", "delete", "add"]))
        if not path:
            if operation == "replace":
                document = data.draw(VALUES)
            continue
        parent = document
        for part in path[:-1]:
            parent = parent[part]
        last = path[-1]
        if operation == "replace":
            parent[last] = data.draw(VALUES)
        elif operation == "delete":
            del parent[last]
        else:
            target = parent[last]
            if isinstance(target, dict):
                target[data.draw(KEYS)] = data.draw(VALUES)
            elif isinstance(target, list):
                target.append(data.draw(VALUES))
    return document


def _dump(document: Any) -> str:
    stream = io.StringIO()
    YAML(typ="safe", pure=True).dump(document, stream)
    return stream.getvalue()


def _plain(text: str) -> Any:
    (document,), problems = load_yaml(text.encode(), "x.yaml")
    assert problems == []
    return document.data


def _check(files: dict[str, str | bytes]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for rel, content in files.items():
            path = root / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            if isinstance(content, bytes):
                path.write_bytes(content)
            else:
                path.write_text(content, encoding="utf-8")
        try:
            specs = load_specs(root)
        except SpecError as error:
            event("rejected with SpecError")
            assert error.diagnostics
            for line in str(error).splitlines():
                assert FORMAT.match(line), line
            return
        event("loaded")
        for env in specs.environments.values():
            for name in specs.workflows:
                if env.selects(name):
                    effective_workflow(specs, env, name)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_structural_mutations_of_a_workflow(data: st.DataObject) -> None:
    mutated = _mutate(_plain(FULL_WORKFLOW), data)
    _check({"workflows/imgrec.yaml": _dump(mutated), "environments/prod.yaml": ENVIRONMENT})


@settings(max_examples=75, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_structural_mutations_of_an_environment(data: st.DataObject) -> None:
    mutated = _mutate(_plain(ENVIRONMENT), data)
    _check({"workflows/imgrec.yaml": FULL_WORKFLOW, "environments/prod.yaml": _dump(mutated)})


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_textual_mutations(data: st.DataObject) -> None:
    raw = bytearray(FULL_WORKFLOW.encode())
    for _ in range(data.draw(st.integers(1, 5))):
        position = data.draw(st.integers(0, len(raw)))
        operation = data.draw(st.sampled_from(["insert", "delete", "replace"]))
        chunk = data.draw(
            st.one_of(
                st.binary(max_size=4),
                st.sampled_from([b":", b"-", b" ", b"\n", b"&a", b"*a", b"{", b"[", b"'", b"#"]),
            )
        )
        if operation == "insert":
            raw[position:position] = chunk
        elif operation == "delete":
            del raw[position : position + len(chunk) + 1]
        else:
            raw[position : position + len(chunk)] = chunk
    _check({"workflows/imgrec.yaml": bytes(raw), "environments/prod.yaml": ENVIRONMENT})
