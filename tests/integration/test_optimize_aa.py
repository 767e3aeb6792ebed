"""An A/A experiment checked daily for 30 days on a real Prometheus declares no winner.

The history: a service and its variant with the intended 80/20 split of 10 requests a
second, both failing 1% of requests, with binomial noise per hour (a deterministic draw
per workload and hour). Each day ``d`` the optimizer's own query plan, fetch and verdict run
at the end of day ``d`` over a window reaching back to the experiment's start (``{d}d``), as
a daily scheduled ``optimize --window`` would. The counts Prometheus returns are checked
against the sums of the formulas, so the verdicts are about the data described here.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator

import pytest

from gitops_agent.adapters.prometheus import PrometheusClient
from gitops_agent.optimize.model import Status, Strategy
from gitops_agent.optimize.recommend import fetch, plan_for, recommend
from gitops_agent.optimize.sequential import msprt
from gitops_agent.spec.build import build_workflow
from gitops_agent.spec.model import Workflow
from tests.support.prometheus import DAY, PrometheusFactory, RunningPrometheus, SyntheticSeries, history_end

pytestmark = pytest.mark.integration
NAMESPACE = "shop-aa"
DAYS = 30
HOUR = 3600
ERROR_RATE = 0.01
RATES = {"ranker": 8.0, "ranker-canary": 2.0}
"""Requests per second: the intended 80/20 split of weight 20."""

WORKFLOW = build_workflow(
    {
        "apiVersion": "gitops-agent.io/v1alpha1",
        "kind": "Workflow",
        "metadata": {"name": "shop"},
        "spec": {
            "services": {
                "ranker": {
                    "image": "registry.example.com/ranker:1.0.0",
                    "ports": {"http": 8080},
                    "route": {"gateway": "shop"},  # requests split by weight, not by replicas
                    "variants": {"canary": {"image": "registry.example.com/ranker:1.0.1", "weight": 20}},
                }
            },
            "optimize": {"rightsizing": {"enabled": False}, "experiments": {"metric": "errorRate"}},
        },
    },
    "workflows/shop.yaml",
)


def hourly_errors(workload: str, hour: int) -> float:
    """Failed requests in one hour: the binomial mean plus a normal draw of its spread."""
    n = RATES[workload] * HOUR
    z = random.Random(f"{workload}-{hour}").gauss(0.0, 1.0)
    return max(0.0, n * ERROR_RATE + z * math.sqrt(n * ERROR_RATE * (1 - ERROR_RATE)))


def history() -> list[SyntheticSeries]:
    series = []
    for workload, rate in RATES.items():
        labels = {"namespace": NAMESPACE, "pod": f"{workload}-7c9d8f6b5-aaaaa"}
        errors = lambda t, w=workload: hourly_errors(w, int(t // HOUR)) / HOUR  # noqa: E731
        ok = lambda t, w=workload, r=rate: r - hourly_errors(w, int(t // HOUR)) / HOUR  # noqa: E731
        for code, pattern in (("200", ok), ("500", errors)):
            series.append(
                SyntheticSeries(
                    "http_requests_total", {**labels, "code": code}, pattern, days=DAYS + 1, step=HOUR, counter=True
                )
            )
    return series


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningPrometheus]:
    end = history_end(step=HOUR)
    factory = PrometheusFactory(tmp_path_factory.mktemp("prom"))
    try:
        yield factory.start(history(), end=end, chunk_seconds=(DAYS + 2) * DAY)
    finally:
        factory.close()


def daily_verdicts(lab: RunningPrometheus, workflow: Workflow) -> list[tuple[int, dict[str, float | str], Status]]:
    client = PrometheusClient(lab.url, timeout=30)
    start = lab.end - DAYS * DAY
    out = []
    for day in range(1, DAYS + 1):
        plan = plan_for(NAMESPACE, [workflow], f"{day}d")
        fetched = fetch(client, plan, at=start + day * DAY)
        (rec,) = [r for r in recommend([workflow], fetched) if r.strategy is Strategy.EXPERIMENTS]
        out.append((day, dict(rec.details), rec.status))
    return out


def test_an_aa_experiment_checked_daily_for_30_days_declares_no_winner(lab: RunningPrometheus) -> None:
    verdicts = daily_verdicts(lab, WORKFLOW)
    assert len(verdicts) == DAYS
    winners = [(day, status) for day, _, status in verdicts if status is Status.PROPOSE]
    assert winners == []
    assert {status for _, _, status in verdicts} == {Status.INCONCLUSIVE}
    for _, details, _ in verdicts:
        assert details["test"].startswith("mSPRT")
        assert details["observedSplit"] == "80.00%/20.00%"  # the split matches: no mismatch
        assert float(details["effectLow"]) < 0 < float(details["effectHigh"])


def test_the_daily_counts_are_the_formulas_sums(lab: RunningPrometheus) -> None:
    """Day 30's verdict uses the counts the series describe (within the edge extrapolation
    of ``increase``), and the pure mSPRT on those sums agrees: no winner."""
    (_, details, _) = daily_verdicts(lab, WORKFLOW)[-1]
    start = lab.end - DAYS * DAY
    hours = range(start // HOUR + 1, (start + DAYS * DAY) // HOUR + 1)
    main_errors = sum(hourly_errors("ranker", h) for h in hours)
    variant_errors = sum(hourly_errors("ranker-canary", h) for h in hours)
    n_main, n_variant = RATES["ranker"] * DAYS * DAY, RATES["ranker-canary"] * DAYS * DAY
    expected = msprt(n_main, main_errors, n_variant, variant_errors, alpha=0.05)
    assert not expected.significant
    assert float(details["effect"]) == pytest.approx(
        variant_errors / n_variant - main_errors / n_main, abs=2e-4
    )
