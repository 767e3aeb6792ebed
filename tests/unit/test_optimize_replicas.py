"""HPA bounds from the load's peak and trough, and the PDB floor."""

from __future__ import annotations

import math

import pytest

from gitops_agent.optimize.model import LoadHistory, RequestLoad, Status, Target, TargetKind
from gitops_agent.optimize.replicas import PEAK_HEADROOM, pdb_floor, recommend_bounds
from gitops_agent.spec.model import (
    Autoscale,
    Container,
    Disruption,
    Resources,
    Rightsizing,
    Service,
)

TARGET = Target("imgrec", TargetKind.SERVICE, "classifier")


def service(min_: int = 2, max_: int = 10, disruption: Disruption | None = None) -> Service:
    return Service(
        name="classifier",
        container=Container(image="img:1", resources=Resources(cpu="500m", memory="1Gi")),
        autoscale=Autoscale(min=min_, max=max_, cpu_utilization=70),
        disruption=disruption,
    )


def test_bounds_follow_trough_and_peak() -> None:
    load = LoadHistory(peak_cores=4.2, trough_cores=0.9)
    recs = {r.field: r for r in recommend_bounds(TARGET, service(), load, Rightsizing())}
    per_replica = 0.5 * 0.70
    assert recs["autoscale.min"].new == math.ceil(0.9 / per_replica)  # 3
    assert recs["autoscale.max"].new == math.ceil(4.2 * PEAK_HEADROOM / per_replica)  # 15
    assert all(r.status is Status.PROPOSE for r in recs.values())
    assert recs["autoscale.max"].edits[0].path == ("services", "classifier", "autoscale", "max")


def test_pdb_floor_raises_min() -> None:
    assert pdb_floor(Disruption(min_available=3)) == 4
    assert pdb_floor(Disruption(min_available="50%")) == 2
    assert pdb_floor(Disruption(max_unavailable=1)) == 2
    assert pdb_floor(None) == 1


def test_pdb_floor_allows_one_eviction_for_every_budget_shape() -> None:
    # percentages round up (the disruption controller): 90% of 9 is 9, of 10 is 9
    assert pdb_floor(Disruption(min_available="90%")) == 10
    assert pdb_floor(Disruption(min_available="75%")) == 4
    assert pdb_floor(Disruption(min_available=0)) == 1
    # maxUnavailable n: n + 1, so one pod is still serving while n are evicted
    assert pdb_floor(Disruption(max_unavailable=3)) == 4
    assert pdb_floor(Disruption(max_unavailable="25%")) == 2
    assert pdb_floor(Disruption(max_unavailable="60%")) == 3
    # no replica count lets these budgets evict (or keep) anything: no floor to raise
    assert pdb_floor(Disruption(max_unavailable=0)) == 1
    assert pdb_floor(Disruption(min_available="100%")) == 1
    load = LoadHistory(peak_cores=0.5, trough_cores=0.05)
    recs = recommend_bounds(TARGET, service(disruption=Disruption(min_available="90%")), load, Rightsizing())
    assert recs[0].new == 10 and recs[1].new == 11 and recs[0].details["pdbFloor"] == 10


def test_request_rate_raises_bounds_where_cpu_does_not_follow_traffic() -> None:
    # CPU flat at 0.7 cores (a model in memory), traffic from 10/s to 40/s, 15/s on average
    load = LoadHistory(peak_cores=0.7, trough_cores=0.7, mean_cores=0.7)
    traffic = RequestLoad(peak_rps=40.0, trough_rps=10.0, mean_rps=15.0)
    per_replica = 0.5 * 0.70
    rps_per_replica = per_replica * 15.0 / 0.7  # 7.5/s at the CPU target
    cpu_only = {r.field: r.new for r in recommend_bounds(TARGET, service(), load, Rightsizing())}
    assert cpu_only == {"autoscale.min": 2, "autoscale.max": math.ceil(0.7 * PEAK_HEADROOM / per_replica)}
    recs = {r.field: r for r in recommend_bounds(TARGET, service(), load, Rightsizing(), requests=traffic)}
    assert recs["autoscale.min"].new == math.ceil(10.0 / rps_per_replica)  # 2
    assert recs["autoscale.max"].new == math.ceil(40.0 * PEAK_HEADROOM / rps_per_replica)  # 7
    assert recs["autoscale.max"].details["rpsPerReplica"] == pytest.approx(rps_per_replica)
    assert "requests trough 10/s, peak 40/s" in recs["autoscale.max"].reason
    # without a CPU mean the cost of a request is unknown: the CPU alone decides
    no_mean = LoadHistory(peak_cores=0.7, trough_cores=0.7)
    assert (
        recommend_bounds(TARGET, service(), no_mean, Rightsizing(), requests=traffic)[1].new
        == cpu_only["autoscale.max"]
    )
    load = LoadHistory(peak_cores=0.5, trough_cores=0.05)
    recs = recommend_bounds(TARGET, service(disruption=Disruption(min_available=3)), load, Rightsizing())
    assert recs[0].new == 4
    assert recs[1].new == 5  # the peak needs 2, but max leaves the HPA room above min


def test_no_bounds_without_cpu_hpa_and_not_enough_data() -> None:
    plain = Service(name="classifier", container=Container(image="img:1"))
    assert recommend_bounds(TARGET, plain, LoadHistory(1, 1), Rightsizing()) == []
    recs = recommend_bounds(TARGET, service(), None, Rightsizing(), enough_data="only 5 samples")
    assert {r.status for r in recs} == {Status.NOT_ENOUGH_DATA}


def test_unchanged_and_below_threshold() -> None:
    per_replica = 0.35
    load = LoadHistory(peak_cores=per_replica * 10 / PEAK_HEADROOM, trough_cores=per_replica * 2)
    recs = recommend_bounds(TARGET, service(2, 10), load, Rightsizing())
    assert [r.status for r in recs] == [Status.UNCHANGED, Status.UNCHANGED]
    recs = recommend_bounds(TARGET, service(2, 10), load, Rightsizing(min_change_percent=50))
    assert [r.status for r in recs] == [Status.UNCHANGED, Status.UNCHANGED]
    load = LoadHistory(peak_cores=per_replica * 10.5 / PEAK_HEADROOM, trough_cores=0.1)
    recs = recommend_bounds(TARGET, service(2, 10), load, Rightsizing(min_change_percent=20))
    assert recs[1].new == 11 and recs[1].status is Status.BELOW_THRESHOLD
