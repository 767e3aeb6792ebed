"""A workflow deployed by two environments: values measured in prod go into prod's
``overrides``; A/B conclusions edit the workflow file; nothing else changes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from gitops_agent.cli import run
from gitops_agent.compile import compile_environment
from gitops_agent.spec import effective_workflow, load_specs
from tests.integration import optimize_scenarios as s
from tests.integration.optimize_scenarios import scenario_prometheus  # noqa: F401 (fixture)
from tests.support.gitrepos import git

pytestmark = pytest.mark.integration

PROD = (
    s.ENVIRONMENT
    + """\
overrides_placeholder
""".replace(
        "overrides_placeholder\n",
        """\
  overrides:
    shop:
      services:
        # prod needs more replicas
        frontend: {autoscale: {min: 2, max: 4}}
""",
    )
)
STAGING = (
    s.ENVIRONMENT.replace("name: prod", "name: staging")
    .replace("shop-prod", "shop-staging")
    .replace("env/prod", "env/staging")
    .replace("env: prod", "env: staging")
)


def test_values_go_to_the_environment_overrides(
    scenario_prometheus: Any,  # noqa: F811
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    repo = s.write_repo(tmp_path / "repo", environments={"prod": PROD, "staging": STAGING})
    before = {
        p: (repo / p).read_text()
        for p in ("workflows/shop.yaml", "environments/prod.yaml", "environments/staging.yaml")
    }
    code = run(
        [
            "optimize",
            "prod",
            "--repo",
            str(repo),
            "--prometheus",
            scenario_prometheus.url,
            "--branch",
            "proposal",
            "-o",
            "json",
        ]
    )
    doc = json.loads(capsys.readouterr().out)
    assert code == 0
    assert doc["proposal"]["files"] == ["environments/prod.yaml", "workflows/shop.yaml"]
    after = {p: git(repo, "show", f"proposal:{p}") + "\n" for p in before}
    assert after["environments/staging.yaml"] == before["environments/staging.yaml"]

    # prod's overrides: its own frontend block edited in place (flow style kept), new
    # resources added under the service names; the comment and the rest stay
    prod = after["environments/prod.yaml"]
    assert prod.startswith(before["environments/prod.yaml"].split("  overrides:")[0])
    assert "        # prod needs more replicas\n" in prod
    assert (
        "        frontend: {autoscale: {min: 3, max: 5}, resources: {memory: 805Mi, limits: {memory: 805Mi}}}\n" in prod
    )
    assert "          cpu: 300m\n" in prod  # api's new block

    # the workflow file: only the two experiments changed, no resources
    workflow = after["workflows/shop.yaml"]
    assert "registry.example.com/shop:1.0.0" in workflow
    assert "      image: registry.example.com/ranker:2.0.0\n" in workflow
    assert "fuzzy" not in workflow
    assert "resources: {cpu: 250m, memory: 512Mi, limits: {memory: 512Mi}}" in workflow

    # staging's effective values are what they were; prod's are the proposal's
    exported = tmp_path / "proposed"
    git(repo, "worktree", "add", "-q", str(exported), "proposal")
    specs = load_specs(exported)
    staging = effective_workflow(specs, specs.environments["staging"], "shop")
    prod_shop = effective_workflow(specs, specs.environments["prod"], "shop")
    assert staging.service("api").container.resources.cpu == "2"
    assert prod_shop.service("api").container.resources.cpu == "300m"
    assert prod_shop.service("frontend").autoscale is not None
    assert (prod_shop.service("frontend").autoscale.min, prod_shop.service("frontend").autoscale.max) == (3, 5)
    assert prod_shop.service("frontend").autoscale.cpu_utilization == 70
    for env in specs.environments.values():
        assert compile_environment(specs, env, source_commit=None, repo_root=exported)
