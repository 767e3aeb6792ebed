"""The example workflows and environments shipped in this repository load clean."""

from __future__ import annotations

from pathlib import Path

from gitops_agent.spec import effective_workflow, load_specs, validate_paths

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE_DIRS = [ROOT / "examples", ROOT / "environments"]


def test_examples_validate_clean() -> None:
    assert [str(d) for d in validate_paths(ROOT, EXAMPLE_DIRS)] == []


def test_examples_load_with_every_environment() -> None:
    specs = load_specs(ROOT, EXAMPLE_DIRS)
    assert {"image-recognition", "customer-service-agent", "fraud-risk-scoring"} <= set(specs.workflows)
    assert {"dev", "staging", "prod"} <= set(specs.environments)
    for env in specs.environments.values():
        for name in specs.workflows:
            if env.selects(name):
                workflow = effective_workflow(specs, env, name)
                assert workflow.name == name
                assert all(t.container.image for t in workflow.tasks)
                assert all(s.container.image for s in workflow.services)
