"""The replay of a right-sizing proposal over its window: counts, slack and the OOM bound."""

from __future__ import annotations

import math

import pytest

from gitops_agent.optimize.model import Edit, Evidence, Recommendation, Status, Strategy, Target, TargetKind
from gitops_agent.optimize.replay import MAX_POINTS, attach, replay, step_for
from gitops_agent.spec.model import Resources

MI = 1024 * 1024
TARGET = Target("shop", TargetKind.SERVICE, "api")
EVIDENCE = Evidence("max by (namespace, pod, container) (x)", "7d", "replay")


def proposal(field: str, old: str | None, new: str) -> Recommendation:
    path = ("services", "api", *field.split("."))
    return Recommendation(Strategy.RIGHTSIZING, TARGET, field, old, new, Status.PROPOSE, "why", (), (Edit(path, new),))


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
    rec = attach(proposal("resources.memory", "1Gi", "300Mi"), Resources(memory="1Gi"), usage, EVIDENCE)
    assert rec.status is Status.OOM_RISK and rec.edits == () and not rec.proposed
    assert "not proposed: would-have-OOMed samples 0 -> 40 of 1000" in rec.reason
    assert rec.details["oomSamplesAfter"] == 40 and rec.details["oomSamplesBefore"] == 0


def test_a_safe_memory_proposal_carries_its_replay() -> None:
    usage = memory_with_peaks(peaks=40)
    resources = Resources(memory="256Mi", limits={"memory": "300Mi"})
    rec = attach(proposal("resources.memory", "256Mi", "460Mi"), resources, usage, EVIDENCE)
    assert rec.status is Status.PROPOSE and rec.edits
    # the limit (300Mi), not the request, is what OOM-kills
    assert rec.details["oomSamplesBefore"] == 40 and rec.details["oomSamplesAfter"] == 0
    assert "replay: would-have-OOMed samples 40 -> 0 of 1000; slack" in rec.reason
    assert rec.evidence[-1].observed.startswith("replay: would-have-OOMed")


def test_cpu_share_above_the_request_and_throttling_where_a_limit_is_set() -> None:
    usage = [0.1] * 90 + [0.6] * 10  # cores
    plain = attach(proposal("resources.cpu", "1", "500m"), Resources(cpu="1"), usage, EVIDENCE)
    assert plain.proposed and plain.details["overRequestSamplesAfter"] == 10
    assert plain.details["overRequestSamplesBefore"] == 0
    assert "above the request 0.0% -> 10.0% of 100 samples" in plain.reason
    assert "throttling" not in plain.reason
    assert plain.details["slackBefore"] == pytest.approx(1 - 0.15 / 1, abs=1e-4)
    assert plain.details["slackAfter"] == pytest.approx(1 - 0.15 / 0.5, abs=1e-4)
    limited = attach(
        proposal("resources.cpu", "1", "500m"), Resources(cpu="1", limits={"cpu": "1"}), usage, EVIDENCE
    )
    assert limited.proposed and "throttling risk: a CPU limit is set" in limited.reason


def test_nothing_to_replay_leaves_the_recommendation_alone() -> None:
    rec = proposal("resources.cpu", None, "500m")
    assert attach(rec, Resources(), [], EVIDENCE) == rec
    new = attach(rec, Resources(), [0.2, 0.3], EVIDENCE)
    assert new.details["replaySamples"] == 2 and "overRequestSamplesBefore" not in new.details


def test_range_steps_stay_under_the_point_limit() -> None:
    assert step_for(7 * 86400, 60) == 60  # 10080 points
    assert step_for(14 * 86400, 60) == 120
    for days in (1, 7, 14, 30, 90):
        step = step_for(days * 86400, 60)
        assert days * 86400 / step <= MAX_POINTS and step % 60 == 0
        assert math.ceil(days * 86400 / (step - 60 or 1)) > MAX_POINTS or step == 60
