"""Hyperparameter sweeps against a real Prometheus with backfilled trial objectives: the
best trial is known from the formula the data follows, and ``optimize`` proposes the next
generation, then, with the budget spent, exactly that trial's parameters in the training
task — each step a commit with the trials table, idempotent on a re-run."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gitops_agent.cli import run
from gitops_agent.optimize import yamledit
from tests.integration import optimize_scenarios as s
from tests.support.gitrepos import git
from tests.support.prometheus import PrometheusFactory, RunningPrometheus, SyntheticSeries, history_end

pytestmark = pytest.mark.integration
NAMESPACE = s.NAMESPACE

WORKFLOW = """\
apiVersion: gitops-agent.io/v1alpha1
kind: Workflow
metadata: {name: lab}
spec:
  defaults: {image: registry.example.com/lab:1.0.0}
  tasks:
    tune:
      command: [python, -m, lab.trial]
      sweep:
        algorithm: grid
        maxTrialCount: 6
        parallelTrialCount: 3
        objective: {metric: lab_validation_loss, goal: minimize}
        trainingTask: train
        parameters:
          lr: {values: [0.001, 0.01, 0.1]}
          depth: {min: 3, max: 5, step: 2}
    train:
      dependsOn: [tune]
      command: [python, -m, lab.train]
      env: {lr: "0.1", depth: "3"}
"""
# grid order (parameters by name, the last varying fastest): depth 3 with lr 0.001, 0.01,
# 0.1, then depth 5 with the same: trials 0-2 are generation 1, trials 3-5 generation 2
GRID = [(3, 0.001), (3, 0.01), (3, 0.1), (5, 0.001), (5, 0.01), (5, 0.1)]


def loss(depth: int, lr: float) -> float:
    """The synthetic objective: lowest at lr 0.01 and depth 5 (trial 4)."""
    return round((math.log10(lr) + 2) ** 2 + (depth - 5) ** 2 / 10 + 0.125, 6)


BEST = 4


def history(end: int) -> list[SyntheticSeries]:
    series = []
    for trial, (depth, lr) in enumerate(GRID):
        labels = {"namespace": NAMESPACE, "workflow": "lab", "task": "tune", "trial": str(trial)}
        value = loss(depth, lr)
        series.append(SyntheticSeries("lab_validation_loss", labels, lambda t, v=value: v, days=0.5, step=300))
    # another namespace's trial 4 is better, and must not count
    other = {"namespace": "elsewhere", "workflow": "lab", "task": "tune", "trial": "4"}
    series.append(SyntheticSeries("lab_validation_loss", other, lambda t: 0.0, days=0.5, step=300))
    return series


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningPrometheus]:
    factory = PrometheusFactory(tmp_path_factory.mktemp("prom"))
    try:
        yield factory.start(history(history_end()))
    finally:
        factory.close()


def optimize(repo: Path, url: str, capsys: pytest.CaptureFixture[str], *extra: str) -> tuple[int, dict[str, Any]]:
    code = run(["optimize", "prod", "--repo", str(repo), "--prometheus", url, "--timeout", "5s", "-o", "json", *extra])
    return code, json.loads(capsys.readouterr().out)


def sweep_of(document: dict[str, Any]) -> dict[str, Any]:
    return next(r for r in document["recommendations"] if r["strategy"] == "sweeps")


def spec_at(repo: Path, ref: str) -> Any:
    return yamledit.load(git(repo, "show", f"{ref}:workflows/shop.yaml"))["spec"]


def test_the_sweep_runs_generation_by_generation_and_the_best_trial_is_proposed(
    lab: RunningPrometheus, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = s.write_repo(tmp_path / "repo", workflow=WORKFLOW)

    # generation 1 (compiled from the spec alone) finished: generation 2 is proposed
    code, out = optimize(repo, lab.url, capsys, "--branch", "generation-2")
    assert code == 0
    rec = sweep_of(out)
    assert rec["status"] == "propose" and rec["new"] == "generation 2 (3 trials)"
    assert out["queries"] >= 1 and 'namespace="shop-prod"' in rec["evidence"][0]["query"]
    trials = spec_at(repo, "generation-2")["tasks"]["tune"]["sweep"]["trials"]
    assert [(t["generation"], t["parameters"]["depth"], t["parameters"]["lr"]) for t in trials] == [
        (1 if n < 3 else 2, depth, lr) for n, (depth, lr) in enumerate(GRID)
    ]
    assert [t.get("objective") for t in trials] == [loss(*GRID[n]) for n in range(3)] + [None] * 3
    message = git(repo, "log", "-1", "--format=%B", "generation-2")
    assert "algorithm grid, generation 1" in message and "trial  generation  objective  parameters" in message
    assert f"0      1           {loss(*GRID[0]):.6g}" in message

    # a re-run before the merge proposes the same generation, not a third one
    code, again = optimize(repo, lab.url, capsys, "--branch", "generation-2")
    assert code == 0 and again["proposal"]["state"] == "unchanged"

    # merged: generation 2's trials have objectives too, the budget (6) is spent
    git(repo, "merge", "-q", "--ff-only", "generation-2")
    code, out = optimize(repo, lab.url, capsys, "--branch", "best")
    rec = sweep_of(out)
    assert rec["status"] == "propose" and rec["details"]["bestTrial"] == BEST
    assert rec["details"]["bestObjective"] == pytest.approx(loss(*GRID[BEST]))
    assert rec["new"] == "lr=0.01 depth=5" or rec["new"] == "depth=5 lr=0.01"
    assert [t["objective"] for t in rec["trials"]] == [loss(*point) for point in GRID]
    spec = spec_at(repo, "best")
    assert spec["tasks"]["train"]["env"] == {"lr": "0.01", "depth": "5"}
    assert [t["objective"] for t in spec["tasks"]["tune"]["sweep"]["trials"]] == [loss(*p) for p in GRID]
    assert f"trial {BEST} has the best lab_validation_loss (minimize)" in git(repo, "log", "-1", "--format=%B", "best")

    # merged again: nothing left to propose for the sweep
    git(repo, "merge", "-q", "--ff-only", "best")
    code, out = optimize(repo, lab.url, capsys, "--branch", "after")
    assert code == 0 and sweep_of(out)["status"] == "unchanged"
    assert out["proposal"]["state"] == "nothing-to-propose"


def test_a_running_generation_is_waited_for(
    lab: RunningPrometheus, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # generation 3 (trials 6 and 7) has exported nothing yet: no proposal
    trials = "".join(
        f"          - {{generation: {1 + n // 3}, parameters: {{depth: {d}, lr: {lr}}}}}\n"
        for n, (d, lr) in enumerate([*GRID, (3, 1.0), (5, 1.0)])
    )
    workflow = WORKFLOW.replace("values: [0.001, 0.01, 0.1]", "values: [0.001, 0.01, 0.1, 1.0]")
    workflow = workflow.replace("maxTrialCount: 6", "maxTrialCount: 8")
    workflow = workflow.replace(
        "        trainingTask: train\n", "        trainingTask: train\n        trials:\n" + trials
    )
    repo = s.write_repo(tmp_path / "repo", workflow=workflow)
    code, out = optimize(repo, lab.url, capsys, "--branch", "proposal")
    rec = sweep_of(out)
    assert code == 0 and rec["status"] == "not-enough-data"
    assert rec["reason"] == "generation 3 is running: no lab_validation_loss for trial(s) 6, 7 in the last 7d"
    assert git(repo, "for-each-ref", "refs/heads/proposal") == ""


def test_a_workflow_deployed_twice_keeps_the_tuning_log_in_the_environment(
    lab: RunningPrometheus, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # the history came from prod only: its trials and the best parameters go to prod's overrides
    staging = s.ENVIRONMENT.replace("name: prod", "name: staging").replace("shop-prod", "shop-staging")
    staging = staging.replace("env/prod", "env/staging")
    repo = s.write_repo(tmp_path / "repo", workflow=WORKFLOW, environments={"prod": s.ENVIRONMENT, "staging": staging})
    code, out = optimize(repo, lab.url, capsys, "--branch", "generation-2")
    assert code == 0 and sweep_of(out)["status"] == "propose"
    assert git(repo, "diff", "--name-only", "main", "generation-2").split() == ["environments/prod.yaml"]
    overrides = yamledit.load(git(repo, "show", "generation-2:environments/prod.yaml"))["spec"]["overrides"]
    assert len(overrides["lab"]["tasks"]["tune"]["sweep"]["trials"]) == 6
    git(repo, "merge", "-q", "--ff-only", "generation-2")
    code, out = optimize(repo, lab.url, capsys, "--branch", "best")
    assert code == 0 and sweep_of(out)["details"]["bestTrial"] == BEST
    overrides = yamledit.load(git(repo, "show", "best:environments/prod.yaml"))["spec"]["overrides"]
    assert overrides["lab"]["tasks"]["train"]["env"] == {"lr": "0.01", "depth": "5"}
    assert "trials" not in spec_at(repo, "best")["tasks"]["tune"]["sweep"]  # staging's sweep is its own


KEYWORD_METRICS = ("bool", "nan", "inf", "sum")
"""Valid metric names that are PromQL keywords or literals: ``bool{…}``, ``nan{…}`` and
``inf{…}`` are parse errors (HTTP 400); ``sum`` parses (the parser reads it by context)."""


@pytest.fixture(scope="module")
def keywords(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningPrometheus]:
    series = []
    for metric in KEYWORD_METRICS:
        for trial, (depth, lr) in enumerate(GRID[:3]):
            labels = {"namespace": NAMESPACE, "workflow": "lab", "task": "tune", "trial": str(trial)}
            value = loss(depth, lr)
            series.append(SyntheticSeries(metric, labels, lambda t, v=value: v, days=0.5, step=300))
    factory = PrometheusFactory(tmp_path_factory.mktemp("prom-keywords"))
    try:
        yield factory.start(series)
    finally:
        factory.close()


@pytest.mark.parametrize("metric", KEYWORD_METRICS)
def test_an_objective_named_like_a_promql_keyword_is_read(
    keywords: RunningPrometheus, tmp_path: Path, capsys: pytest.CaptureFixture[str], metric: str
) -> None:
    """The schema admits any metric name; the query once put it bare before ``{``, which the
    real Prometheus refused, so ``optimize`` stopped on a query error instead of reading."""
    workflow = WORKFLOW.replace("metric: lab_validation_loss", f"metric: {metric}")
    repo = s.write_repo(tmp_path / "repo", workflow=workflow)
    code, out = optimize(repo, keywords.url, capsys, "--branch", "generation-2")
    assert code == 0
    rec = sweep_of(out)
    assert rec["status"] == "propose" and rec["new"] == "generation 2 (3 trials)"
    assert [t.get("objective") for t in rec["trials"][:3]] == [loss(*GRID[n]) for n in range(3)]
