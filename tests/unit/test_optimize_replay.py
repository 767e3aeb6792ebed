"""The replay of a right-sizing proposal over its window: counts, slack and the OOM bound."""

from __future__ import annotations

import pytest

from gitops_agent.optimize import replay as replay_module
from gitops_agent.optimize.model import Edit, Evidence, Recommendation, Status, Strategy, Target, TargetKind
from gitops_agent.optimize.queries import QueryKind, replay_counts, replay_query
from gitops_agent.optimize.replay import attach, current_value, replay
from gitops_agent.spec.model import Resources
from gitops_agent.vocabulary.quantities import quantity_float

MI = 1024 * 1024
TARGET = Target("shop", TargetKind.SERVICE, "api")
EVIDENCE = Evidence("max by (namespace, pod, container) (x)", "7d", "replay")


def proposal(field: str, old: str | None, new: str) -> Recommendation:
    path = ("services", "api", *field.split("."))
    return Recommendation(Strategy.RIGHTSIZING, TARGET, field, old, new, Status.PROPOSE, "why", (), (Edit(path, new),))


def attached(rec: Recommendation, resources: Resources, usage: list[float]) -> Recommendation:
    result = replay(usage, current_value(rec, resources), quantity_float(str(rec.new))) if usage else None
    return attach(rec, resources, result, EVIDENCE)


def memory_with_peaks(peaks: int, base_mi: float = 200, peak_mi: float = 400, total: int = 1000) -> list[float]:
    """``total`` samples at ``base_mi`` with ``peaks`` of them at ``peak_mi``."""
    return [(peak_mi if i % (total // peaks) == 0 else base_mi) * MI for i in range(total)][:total]


def test_known_peaks_give_the_known_would_have_oomed_count() -> None:
    usage = memory_with_peaks(peaks=40)
    result = replay(usage, 256 * MI, 460 * MI)
    assert result.samples == 1000 and result.over_before == 40 and result.over_after == 0
    mean = (960 * 200 + 40 * 400) / 1000
    assert result.slack_before == pytest.approx(1 - mean / 256)
    assert result.slack_after == pytest.approx(1 - mean / 460)


def test_a_memory_proposal_under_the_peaks_is_not_made() -> None:
    usage = memory_with_peaks(peaks=40)
    rec = attached(proposal("resources.memory", "1Gi", "300Mi"), Resources(memory="1Gi"), usage)
    assert rec.status is Status.OOM_RISK and rec.edits == () and not rec.proposed
    assert "not proposed: would-have-OOMed samples 0 -> 40 of 1000" in rec.reason
    assert rec.details["oomSamplesAfter"] == 40 and rec.details["oomSamplesBefore"] == 0


def test_a_safe_memory_proposal_carries_its_replay() -> None:
    usage = memory_with_peaks(peaks=40)
    resources = Resources(memory="256Mi", limits={"memory": "300Mi"})
    rec = attached(proposal("resources.memory", "256Mi", "460Mi"), resources, usage)
    assert rec.status is Status.PROPOSE and rec.edits
    # the limit (300Mi), not the request, is what OOM-kills
    assert rec.details["oomSamplesBefore"] == 40 and rec.details["oomSamplesAfter"] == 0
    assert "replay: would-have-OOMed samples 40 -> 0 of 1000; slack" in rec.reason
    assert rec.evidence[-1].observed.startswith("replay: would-have-OOMed")


def test_cpu_share_above_the_request_and_throttling_where_a_limit_is_set() -> None:
    usage = [0.1] * 90 + [0.6] * 10  # cores
    plain = attached(proposal("resources.cpu", "1", "500m"), Resources(cpu="1"), usage)
    assert plain.proposed and plain.details["overRequestSamplesAfter"] == 10
    assert plain.details["overRequestSamplesBefore"] == 0
    assert "above the request 0.0% -> 10.0% of 100 samples" in plain.reason
    assert "throttling" not in plain.reason
    assert plain.details["slackBefore"] == pytest.approx(1 - 0.15 / 1, abs=1e-4)
    assert plain.details["slackAfter"] == pytest.approx(1 - 0.15 / 0.5, abs=1e-4)
    limited = attached(proposal("resources.cpu", "1", "500m"), Resources(cpu="1", limits={"cpu": "1"}), usage)
    assert limited.proposed and "throttling risk: a CPU limit is set" in limited.reason


def test_nothing_to_replay_leaves_the_recommendation_alone() -> None:
    rec = proposal("resources.cpu", None, "500m")
    assert attached(rec, Resources(), []) == rec
    new = attached(rec, Resources(), [0.2, 0.3])
    assert new.details["replaySamples"] == 2 and "overRequestSamplesBefore" not in new.details
    # no before: the after value alone, never a dash that reads like a value ("- -> 0.0%")
    assert "replay: above the proposed request 0.0% of 2 samples; slack 50.0%" in new.reason
    assert "- ->" not in new.reason


def test_a_replay_without_a_before_count_shows_the_after_value_alone() -> None:
    """optimize counts CPU samples above the proposed request only (docs/optimize.md)."""
    result = replay_module.Replay(samples=2016, over_before=None, over_after=336, slack_before=0.86, slack_after=0.533)
    text = replay_module._describe(result, memory=False, cpu_limit=False)
    assert text == "above the proposed request 16.7% of 2016 samples; slack 86.0% -> 53.3%"
    memory = replay_module.Replay(samples=100, over_before=None, over_after=0, slack_before=None, slack_after=0.2)
    text = replay_module._describe(memory, memory=True, cpu_limit=False)
    assert text == "would-have-OOMed samples 0 of 100; slack 20.0%"


def test_replay_queries_count_in_prometheus_per_target() -> None:
    after = {("api", "api"): 460 * MI, ("api-canary", "api"): 460 * MI, ("shop-train", "train"): 2 * MI}
    before = {("api", "api"): 256 * MI}
    query = replay_query("shop", "7d", True, sorted(after), before, after)
    assert query.kind is QueryKind.MEMORY_REPLAY
    # one comparison with a literal per (workload, container), counted at 1m resolution
    assert query.promql.count('"stat", "after"') == 3 and query.promql.count('"stat", "before"') == 1
    assert '{namespace="shop",container=~"api",pod=~"(api)-[a-z0-9]+-[a-z0-9]{5}"} > 482344960)[7d:1m]' in query.promql
    # totals over every target's pods, from the raw samples
    assert "count_over_time(container_memory_working_set_bytes{" not in query.promql  # the plan counted them
    assert "sum_over_time(container_memory_working_set_bytes{" in query.promql
    assert 'pod=~"(api|api-canary|shop-train)-' in query.promql
    cpu = replay_query("shop", "7d", False, [("api", "api")], {}, {("api", "api"): 0.3})
    assert "rate(container_cpu_usage_seconds_total{" in cpu.promql and "> 0.3)[7d:5m]" in cpu.promql
    assert "increase(container_cpu_usage_seconds_total{" in cpu.promql and "[7d]) / 300" in cpu.promql
    assert '"before"' not in cpu.promql  # nothing given to compare before
    rows = [
        ({"workload": "api", "container": "api", "stat": "after"}, 2.0),
        ({"workload": "api", "container": "api", "stat": "count"}, 100.0),
        ({"workload": "api", "container": "api", "stat": "count"}, 50.0),
    ]
    assert replay_counts(rows) == {("api", "api"): {"after": 2.0, "count": 150.0}}
