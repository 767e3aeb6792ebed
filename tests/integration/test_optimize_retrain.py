"""Retraining on model decay against a real Prometheus with backfilled history: a decaying
accuracy series gives exactly one retrain proposal (not a second one on the next run, nor
after it is merged); a healthy one none. Expected numbers come from the series' formulas."""

from __future__ import annotations

import calendar
import json
import math
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gitops_agent.cli import run
from gitops_agent.optimize.retrain import MIN_POINTS
from tests.integration import optimize_scenarios as s
from tests.support.gitrepos import git
from tests.support.prometheus import (
    DAY,
    PrometheusFactory,
    RunningPrometheus,
    SyntheticSeries,
    free_port,
    history_end,
)

pytestmark = pytest.mark.integration
NAMESPACE = s.NAMESPACE
HEALTHY, START, END = 0.95, 0.95, 0.80
"""The healthy model keeps 0.95 (± 0.01 hourly wobble); the decaying one falls linearly from
0.95 to 0.80 over the last two days of its history."""
THRESHOLD = 0.9
HALF_DAY = 12 * 3600

WORKFLOW = """\
apiVersion: gitops-agent.io/v1alpha1
kind: Workflow
metadata: {name: vision}
spec:
  defaults: {image: registry.example.com/vision:1.0.0}
  tasks:
    prepare:
      command: [python, -m, vision.prepare]
    train:
      dependsOn: [prepare]
      command: [python, -m, vision.train]
    evaluate:
      dependsOn: [train]
      command: [python, -m, vision.evaluate]
  services:
    classifier:
      dependsOn: [evaluate]
      ports: {http: 8080}
  optimize:
    rightsizing: {enabled: false}
    retrain:
      - task: train
        query: avg(model_accuracy{namespace="$namespace", model="%s"})
        threshold: 0.9
        window: 1d
"""


def decaying(end: int, t: float) -> float:
    elapsed = min(1.0, max(0.0, 1 - (end - t) / (2 * DAY)))
    return START - (START - END) * elapsed


def healthy(t: float) -> float:
    return HEALTHY + 0.01 * math.sin(2 * math.pi * t / 3600)


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningPrometheus]:
    end = history_end()
    labels = {"namespace": NAMESPACE}
    series = [
        SyntheticSeries("model_accuracy", {**labels, "model": "decaying"}, lambda t: decaying(end, t), days=3),
        SyntheticSeries("model_accuracy", {**labels, "model": "healthy"}, healthy, days=3),
        # fresh labels only in the newest 12 hours: before, correct / labelled is 0 / 0 = NaN
        SyntheticSeries("model_labelled", labels, lambda t: 100.0 if end - t < HALF_DAY else 0.0, days=3),
        SyntheticSeries("model_correct", labels, lambda t: 70.0 if end - t < HALF_DAY else 0.0, days=3),
    ]
    factory = PrometheusFactory(tmp_path_factory.mktemp("prom"))
    try:
        yield factory.start(series, end=end)
    finally:
        factory.close()


def optimize(repo: Path, url: str, capsys: pytest.CaptureFixture[str], *extra: str) -> dict[str, Any]:
    code = run(["optimize", "prod", "--repo", str(repo), "--prometheus", url, "-o", "json", *extra])
    captured = capsys.readouterr()
    out = captured.out
    assert code == 0, captured.err
    document: dict[str, Any] = json.loads(out)
    return document


def retrain_rec(document: dict[str, Any]) -> dict[str, Any]:
    (rec,) = [r for r in document["recommendations"] if r["strategy"] == "retrain"]
    return rec


def expected_mean(end: int, at: float, pattern: Any) -> float:
    """The mean the 5m subquery sees over [at - 1d, at]: steps on multiples of 5 minutes,
    each the newest sample at most 5 minutes old (samples every minute up to ``end``)."""
    steps = [k * 300 for k in range(math.floor((at - DAY) / 300) + 1, math.floor(at / 300) + 1)]
    values = [pattern(min(step, end)) for step in steps if step - end < 300]
    return sum(values) / len(values)


def test_decaying_accuracy_gives_exactly_one_retrain_proposal(
    lab: RunningPrometheus, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = s.write_repo(tmp_path / "repo", workflow=WORKFLOW % "decaying")
    before = time.time()
    first = optimize(repo, lab.url, capsys)
    rec = retrain_rec(first)
    assert rec["status"] == "propose"
    assert (rec["name"], rec["field"], rec["old"]) == ("train", "runId", None)
    details = rec["details"]
    window_end = calendar.timegm(time.strptime(details["windowEnd"], "%Y-%m-%dT%H:%M:%SZ"))
    assert before - 1 <= window_end <= time.time()
    assert rec["new"] == "retrain-" + details["windowEnd"].replace("-", "").replace(":", "")
    expected = expected_mean(lab.end, window_end, lambda t: decaying(lab.end, t))
    assert details["mean"] == pytest.approx(expected, abs=2e-3)
    assert details["mean"] < THRESHOLD
    assert details["points"] >= (DAY - 3 * 3600) // 300 >= MIN_POINTS  # 21 hours of values at 5m

    proposal = first["proposal"]
    assert proposal["state"] == "created"
    branch = proposal["branch"]
    diff = git(repo, "diff", "main", branch, "--", "workflows/shop.yaml")
    changed = [line for line in diff.splitlines() if line[:1] in "+-" and line[:3] not in ("+++", "---")]
    assert changed == [f"+      runId: {rec['new']}"]
    message = git(repo, "log", "-1", "--format=%B", branch)
    assert f"Gitops-Agent-Retrain: vision/train {rec['new']}" in message
    assert f"mean {details['mean']:.6g} < 0.9 over 1d" in message
    assert 'sum_over_time(((avg(model_accuracy{namespace="shop-prod"' in message  # the query, as evidence

    # the same data again, even asked for another branch: the open proposal is kept, not repeated
    second = optimize(repo, lab.url, capsys, "--branch", "gitops-agent/optimize/prod-again")
    assert retrain_rec(second)["new"] == rec["new"]
    assert second["proposal"]["state"] == "unchanged"
    assert second["proposal"]["branch"] == branch
    assert git(repo, "rev-parse", branch) == proposal["commit"]
    assert "gitops-agent/optimize/prod-again" not in git(repo, "branch", "--list")

    # merged: the task's run covers this breach, so nothing is proposed
    git(repo, "merge", "-q", "--ff-only", branch)
    third = optimize(repo, lab.url, capsys)
    after = retrain_rec(third)
    assert (after["status"], after["old"]) == ("unchanged", rec["new"])
    assert "already retrains" in after["reason"]
    assert third["proposal"]["state"] == "nothing-to-propose"


def test_healthy_accuracy_proposes_nothing(
    lab: RunningPrometheus, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = s.write_repo(tmp_path / "repo", workflow=WORKFLOW % "healthy")
    document = optimize(repo, lab.url, capsys)
    rec = retrain_rec(document)
    assert rec["status"] == "unchanged"
    assert rec["details"]["mean"] == pytest.approx(HEALTHY, abs=2e-3)
    assert "model quality holds" in rec["reason"]
    assert document["proposal"]["state"] == "nothing-to-propose"
    assert git(repo, "branch", "--list", "gitops-agent/*") == ""


def test_a_model_without_series_is_not_enough_data(
    lab: RunningPrometheus, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = s.write_repo(tmp_path / "repo", workflow=WORKFLOW % "unknown")
    rec = retrain_rec(optimize(repo, lab.url, capsys))
    assert (rec["status"], rec["details"]["points"]) == ("not-enough-data", 0)


def test_a_query_prometheus_refuses_is_a_located_error(
    lab: RunningPrometheus, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    workflow = (WORKFLOW % "x").replace('avg(model_accuracy{namespace="$namespace", model="x"})', "avg(model_accuracy{")
    repo = s.write_repo(tmp_path / "repo", workflow=workflow)
    code = run(["optimize", "prod", "--repo", str(repo), "--prometheus", lab.url])
    err = capsys.readouterr().err
    assert code == 2, err
    where = "workflows/shop.yaml:23:16: spec.optimize.retrain[0].query: Prometheus refuses the query: "
    assert err.startswith(f"error: {where}"), err
    assert "parse error" in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert git(repo, "branch", "--list", "gitops-agent/*") == ""


def test_an_unreachable_prometheus_is_exit_3_with_only_a_retrain_policy(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = s.write_repo(tmp_path / "repo", workflow=WORKFLOW % "decaying")
    code = run(["optimize", "prod", "--repo", str(repo), "--prometheus", f"http://127.0.0.1:{free_port()}"])
    err = capsys.readouterr().err
    assert code == 3 and "cannot connect" in err and len(err.strip().splitlines()) == 1


def test_nan_values_of_a_ratio_are_left_out_of_the_mean(
    lab: RunningPrometheus, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ratio = 'sum(model_correct{namespace="shop-prod"}) / sum(model_labelled{namespace="shop-prod"})'
    workflow = (WORKFLOW % "x").replace('avg(model_accuracy{namespace="$namespace", model="x"})', ratio)
    repo = s.write_repo(tmp_path / "repo", workflow=workflow)
    rec = retrain_rec(optimize(repo, lab.url, capsys))
    assert rec["status"] == "propose"
    assert rec["details"]["mean"] == pytest.approx(0.7)
    # 12 hours of values at 5m (plus the lookback after the newest sample), not the whole window
    assert HALF_DAY // 300 <= rec["details"]["points"] <= HALF_DAY // 300 + 2


def test_a_fresh_clone_keeps_the_open_proposal_pushed_by_an_earlier_run(
    lab: RunningPrometheus, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """As a scheduled job in CI runs it: each run in a new clone that has only ``main``."""
    first = s.write_repo(tmp_path / "first", workflow=WORKFLOW % "decaying")
    origin = tmp_path / "origin.git"
    git(tmp_path, "init", "-q", "--bare", "-b", "main", str(origin))
    git(first, "remote", "add", "origin", str(origin))
    git(first, "push", "-q", "origin", "main")
    proposed = optimize(first, lab.url, capsys)
    rec, proposal = retrain_rec(proposed), proposed["proposal"]
    assert (rec["status"], proposal["state"], proposal["pushed"]) == ("propose", "created", True)

    second = tmp_path / "second"
    git(tmp_path, "clone", "-q", str(origin), str(second))
    again = optimize(second, lab.url, capsys, "--branch", "gitops-agent/optimize/prod-next-day")
    assert retrain_rec(again)["new"] == rec["new"]
    assert (again["proposal"]["state"], again["proposal"]["branch"]) == ("unchanged", proposal["branch"])
    remote_branches = git(second, "ls-remote", "--heads", "origin").split()
    assert f"refs/heads/{proposal['branch']}" in remote_branches
    assert "refs/heads/gitops-agent/optimize/prod-next-day" not in remote_branches
