"""Compiles that share a memo (a plan's base and head) compile a workflow once when its inputs
are equal, and again whenever any input differs: the workflow, the environment's overrides or
image pins for it, the environment, the tool version. A shared memo never changes a byte."""

from __future__ import annotations

from pathlib import Path

import pytest

from gitops_agent.compile import CompileMemo, compile_environment
from gitops_agent.compile import environment as environment_module
from gitops_agent.spec import load_specs
from gitops_agent.spec.model import SpecSet

WORKFLOW = """apiVersion: gitops-agent.io/v1alpha1
kind: Workflow
metadata: {{name: {name}}}
spec:
  defaults: {{image: registry.example.com/{name}:1.0.0, resources: {{cpu: 100m, memory: 128Mi}}}}
  config:
    settings.yaml: |
      threshold: {threshold}
  services:
    {name}-api: {{command: [serve], ports: {{http: 8080}}, replicas: {replicas}}}
"""

ENVIRONMENT = """apiVersion: gitops-agent.io/v1alpha1
kind: Environment
metadata: {{name: {env}}}
spec:
  namespace: ns-{env}
  branch: env/{env}
  images: {{registry.example.com/a: '{pin}'}}
  overrides:
    a:
      services:
        a-api: {{replicas: {override}}}
"""

BASE = {"threshold": "0.9", "replicas": "1", "pin": "1.0.0", "override": "2", "env": "dev"}


def _specs(root: Path, **changes: str) -> SpecSet:
    values = {**BASE, **changes}
    (root / "workflows").mkdir(parents=True)
    (root / "environments").mkdir()
    for name in ("a", "b"):
        text = WORKFLOW.format(
            name=name,
            threshold=values["threshold"] if name == "a" else "0.5",
            replicas=values["replicas"] if name == "a" else "1",
        )
        (root / "workflows" / f"{name}.yaml").write_text(text)
    (root / "environments" / "env.yaml").write_text(ENVIRONMENT.format(**values))
    return load_specs(root)


def _compile(specs: SpecSet, memo: CompileMemo | None) -> dict[str, bytes]:
    env = next(iter(specs.environments.values()))
    return dict(compile_environment(specs, env, source_commit=None, memo=memo))


@pytest.mark.parametrize(
    "change",
    [
        {"threshold": "0.8"},  # the workflow's spec
        {"replicas": "3"},  # the workflow's spec, a field the override also sets
        {"override": "4"},  # the environment's override for the workflow
        {"pin": "1.1.0"},  # the environment's image pin
        {"env": "prod"},  # another environment
    ],
    ids=["spec", "spec-under-override", "override", "image-pin", "environment"],
)
def test_a_changed_input_compiles_again_and_a_shared_memo_changes_no_byte(
    tmp_path: Path, change: dict[str, str]
) -> None:
    base, head = _specs(tmp_path / "base"), _specs(tmp_path / "head", **change)
    memo: CompileMemo = {}
    base_tree = _compile(base, memo)
    head_tree = _compile(head, memo)
    assert head_tree == _compile(head, None)
    assert base_tree == _compile(base, None)
    assert head_tree != base_tree


def test_a_new_tool_version_compiles_again(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    specs = _specs(tmp_path / "repo")
    memo: CompileMemo = {}
    _compile(specs, memo)
    monkeypatch.setattr(environment_module, "__version__", "0.0.0-other")
    _compile(specs, memo)
    assert len(memo) == 4  # two workflows, each under two tool versions


def test_unchanged_workflows_are_compiled_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    base, head = _specs(tmp_path / "base"), _specs(tmp_path / "head", threshold="0.8")
    compiled: list[str] = []
    real = environment_module.compile_workflow

    def counting(workflow, **kwargs):  # type: ignore[no-untyped-def]
        compiled.append(workflow.name)
        return real(workflow, **kwargs)

    monkeypatch.setattr(environment_module, "compile_workflow", counting)
    memo: CompileMemo = {}
    _compile(base, memo)
    _compile(head, memo)
    # base: a and b (each as written and as deployed); head: only a, whose spec changed
    assert sorted(compiled) == ["a", "a", "a", "a", "b", "b"]
