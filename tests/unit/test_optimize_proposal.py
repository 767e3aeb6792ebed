"""Where each edit is written, the commit message and the report."""

from __future__ import annotations

from gitops_agent.optimize import report
from gitops_agent.optimize.model import (
    REMOVE,
    Edit,
    Evidence,
    Recommendation,
    Status,
    Strategy,
    Target,
    TargetKind,
)
from gitops_agent.optimize.proposal import default_branch, locate, message, plan_files
from gitops_agent.spec.model import Environment, SpecSet, Workflow, frozen_map

TARGET = Target("shop", TargetKind.SERVICE, "api")


def specs(*envs: Environment) -> SpecSet:
    return SpecSet(
        workflows=frozen_map({"shop": Workflow(name="shop", source="workflows/shop.yaml")}),
        environments=frozen_map({e.name: e for e in envs}),
    )


def env(name: str, overrides: dict[str, object] | None = None) -> Environment:
    return Environment(
        name=name,
        source=f"environments/{name}.yaml",
        namespace=name,
        branch=f"env/{name}",
        overrides=frozen_map(overrides or {}),
    )


def rec(strategy: Strategy, *edits: Edit, status: Status = Status.PROPOSE) -> Recommendation:
    return Recommendation(
        strategy,
        TARGET,
        "resources.cpu",
        "2",
        "300m",
        status,
        "p95 300m",
        (Evidence("max(x)", "7d", "300m"),),
        edits,
    )


CPU = Edit(("services", "api", "resources", "cpu"), "300m")


def test_single_environment_edits_the_workflow_file() -> None:
    prod = env("prod")
    file, path = locate(specs(prod), prod, rec(Strategy.RIGHTSIZING, CPU), CPU)
    assert (file, path) == ("workflows/shop.yaml", ("spec", "services", "api", "resources", "cpu"))


def test_shared_workflow_or_overridden_field_goes_to_overrides() -> None:
    prod, dev = env("prod"), env("dev")
    file, path = locate(specs(prod, dev), prod, rec(Strategy.RIGHTSIZING, CPU), CPU)
    assert file == "environments/prod.yaml"
    assert path == ("spec", "overrides", "shop", "services", "api", "resources", "cpu")
    overridden = env("prod", {"shop": {"services": {"api": {"resources": {"cpu": "1"}}}}})
    file, _ = locate(specs(overridden), overridden, rec(Strategy.RIGHTSIZING, CPU), CPU)
    assert file == "environments/prod.yaml"


def test_experiments_edit_where_the_variant_is_defined() -> None:
    prod, dev = env("prod"), env("dev")
    removal = Edit(("services", "api", "variants", "b"), REMOVE)
    file, _ = locate(specs(prod, dev), prod, rec(Strategy.EXPERIMENTS, removal), removal)
    assert file == "workflows/shop.yaml"
    defined = env("prod", {"shop": {"services": {"api": {"variants": {"b": {"weight": 5}}}}}})
    file, _ = locate(specs(defined, dev), defined, rec(Strategy.EXPERIMENTS, removal), removal)
    assert file == "environments/prod.yaml"


def test_only_proposed_recommendations_are_planned_and_reported() -> None:
    prod = env("prod")
    recs = [
        rec(Strategy.RIGHTSIZING, CPU),
        rec(Strategy.RIGHTSIZING, status=Status.BELOW_THRESHOLD),
    ]
    planned = plan_files(specs(prod), prod, recs)
    assert [(p.file, len(p.edits)) for p in planned] == [("workflows/shop.yaml", 1)]
    text = message(prod, "7d", recs)
    assert text.startswith("optimize(prod): 1 change(s) from 7d of Prometheus history\n")
    assert "- shop/service/api resources.cpu: 2 -> 300m" in text
    assert "  evidence: [Q1] 300m\n" in text and "[Q1] max(x)\n" in text
    many = [rec(Strategy.RIGHTSIZING, CPU)] * 5000
    long = message(prod, "7d", many)
    assert len(long) < 100_000 and "more change(s): see the report" in long
    doc = report.document(
        environment="prod", window="7d", prometheus="http://p", queries=4, recommendations=recs, proposal=None
    )
    assert doc["summary"]["propose"] == 1 and doc["summary"]["below-threshold"] == 1
    assert len(doc["recommendations"]) == 2
    assert "below-threshold" in report.table(recs)
    assert report.markdown_table(recs).count("\n") == 2  # header, rule, one row


def test_default_branch_name() -> None:
    import datetime

    assert default_branch("prod", datetime.date(2026, 11, 25)) == "gitops-agent/optimize/prod-20261125"
