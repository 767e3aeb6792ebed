"""HPA bounds from the load's peak and trough, and the PDB floor."""

from __future__ import annotations

import math

from gitops_agent.optimize.model import LoadHistory, Status, Target, TargetKind
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
