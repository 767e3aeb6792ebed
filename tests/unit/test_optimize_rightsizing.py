"""Right-sizing formulas: percentile CPU, buffered peak memory, floors, rounding, OOM, data."""

from __future__ import annotations

import math

import pytest

from gitops_agent.optimize.model import Status, Target, TargetKind, UsageHistory
from gitops_agent.optimize.quantity import MI, format_cpu, round_cpu
from gitops_agent.optimize.rightsizing import recommend_cpu, recommend_memory
from gitops_agent.optimize.threshold import significant
from gitops_agent.spec.model import Autoscale, Resources, Rightsizing, frozen_map
from gitops_agent.vocabulary.quantities import quantity_float

TARGET = Target("imgrec", TargetKind.SERVICE, "classifier")
POLICY = Rightsizing()


def usage(cpu: float = 0.3, memory: float = 700 * MI, points: int = 10_000, oom: bool = False):
    return UsageHistory(cpu_cores=cpu, memory_peak=memory, points=points, pods=2, oom_killed=oom)


def test_over_provisioned_cpu_is_cut_to_the_percentile_rounded_up_to_5m() -> None:
    rec = recommend_cpu(TARGET, Resources(cpu="2", memory="4Gi"), usage(cpu=0.2913), POLICY)
    assert rec.status is Status.PROPOSE
    assert rec.new == "295m"  # 291.3m rounded up to a 5m step
    assert rec.edits[0].path == ("services", "classifier", "resources", "cpu")
    assert rec.edits[0].value == "295m"


def test_cpu_above_one_core_rounds_to_50m_and_floor_is_10m() -> None:
    assert round_cpu(1.201) == 1250
    assert format_cpu(2000) == "2"
    rec = recommend_cpu(TARGET, Resources(cpu="500m"), usage(cpu=0.0004), POLICY)
    assert rec.new == "10m"


def test_memory_is_peak_plus_buffer_for_request_and_limit() -> None:
    rec = recommend_memory(TARGET, Resources(cpu="1", memory="4Gi"), usage(memory=1024 * MI), POLICY)
    expected = math.ceil(1024 * 1.15)  # MiB
    assert rec.status is Status.PROPOSE
    assert rec.new == f"{expected}Mi"
    assert [(e.path[-1], e.value) for e in rec.edits] == [
        ("memory", f"{expected}Mi"),
        ("memory", f"{expected}Mi"),
    ]
    assert rec.edits[1].path == ("services", "classifier", "resources", "limits", "memory")


def test_memory_near_the_limit_grows() -> None:
    resources = Resources(cpu="1", memory="512Mi", limits=frozen_map({"memory": "512Mi"}))
    rec = recommend_memory(TARGET, resources, usage(memory=490 * MI), POLICY)
    assert rec.status is Status.PROPOSE
    assert quantity_float(str(rec.new)) == math.ceil(490 * 1.15) * MI


def test_memory_floor_is_64mi() -> None:
    rec = recommend_memory(TARGET, Resources(memory="1Gi"), usage(memory=3 * MI), POLICY)
    assert rec.new == "64Mi"


def test_oom_kill_bumps_from_the_peak_and_does_not_ratchet() -> None:
    resources = Resources(cpu="1", memory="512Mi", limits=frozen_map({"memory": "512Mi"}))
    rec = recommend_memory(TARGET, resources, usage(memory=500 * MI, oom=True), POLICY)
    assert rec.new == "600Mi"  # max(500 + 100, 500 x 1.2, 500 x 1.15)
    assert "OOMKilled" in rec.reason
    rec = recommend_memory(TARGET, resources, usage(memory=1000 * MI, oom=True), POLICY)
    assert rec.new == "1200Mi"  # x 1.2 beats + 100Mi above 500Mi
    bumped = Resources(memory="600Mi", limits=frozen_map({"memory": "600Mi"}))
    again = recommend_memory(TARGET, bumped, usage(memory=500 * MI, oom=True), POLICY)
    assert again.status is Status.UNCHANGED  # the same kill in the window: no second bump


@pytest.mark.parametrize("points", [0, 99])
def test_not_enough_data_below_100_points(points: int) -> None:
    history = usage(points=points) if points else None
    for rec in (
        recommend_cpu(TARGET, Resources(cpu="2"), history, POLICY),
        recommend_memory(TARGET, Resources(memory="4Gi"), history, POLICY),
    ):
        assert rec.status is Status.NOT_ENOUGH_DATA
        assert rec.edits == ()


def test_hpa_on_cpu_skips_cpu_but_not_memory() -> None:
    hpa = Autoscale(min=2, max=10, cpu_utilization=70)
    cpu = recommend_cpu(TARGET, Resources(cpu="2"), usage(), POLICY, autoscale=hpa)
    memory = recommend_memory(TARGET, Resources(memory="4Gi"), usage(), POLICY, autoscale=hpa)
    assert cpu.status is Status.SKIPPED and "HPA" in cpu.reason
    assert memory.status is Status.PROPOSE


def test_small_changes_stay_below_the_threshold() -> None:
    rec = recommend_cpu(TARGET, Resources(cpu="300m"), usage(cpu=0.32), POLICY)
    assert rec.status is Status.BELOW_THRESHOLD  # 300m -> 320m is 6.7%
    assert rec.edits == ()
    same = recommend_cpu(TARGET, Resources(cpu="320m"), usage(cpu=0.32), POLICY)
    assert same.status is Status.UNCHANGED
    assert significant(None, 1, 10) and not significant(100, 110, 10) and significant(100, 111, 10)


def test_unset_request_is_always_proposed() -> None:
    rec = recommend_cpu(TARGET, Resources(), usage(cpu=0.1), POLICY)
    assert rec.status is Status.PROPOSE and rec.old is None and rec.new == "100m"


def test_rounding_invariants_hold_for_any_usage() -> None:
    from hypothesis import given
    from hypothesis import strategies as st

    @given(
        cores=st.floats(min_value=1e-6, max_value=64, allow_nan=False),
        peak_mi=st.floats(min_value=0.5, max_value=200_000, allow_nan=False),
        oom=st.booleans(),
    )
    def check(cores: float, peak_mi: float, oom: bool) -> None:
        history = usage(cpu=cores, memory=peak_mi * MI, oom=oom)
        cpu = recommend_cpu(TARGET, Resources(), history, POLICY)
        milli = quantity_float(str(cpu.new)) * 1000
        step = 5 if milli < 1000 else 50
        assert round(milli) % step == 0
        assert milli >= max(10, cores * 1000 - 1e-6)
        assert milli < max(10, cores * 1000) + step + 1e-6
        memory = recommend_memory(TARGET, Resources(), history, POLICY)
        mib = quantity_float(str(memory.new)) / MI
        needed = peak_mi * 1.15
        if oom:
            needed = max(needed, peak_mi + 100, peak_mi * 1.2)
        assert mib == max(64, math.ceil(needed - 1e-9))

    check()
