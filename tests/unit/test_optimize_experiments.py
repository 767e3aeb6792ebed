"""A/B variants: the z-test decides promote / remove / inconclusive."""

from __future__ import annotations

import math

from gitops_agent.optimize.experiments import recommend_variant, z_test
from gitops_agent.optimize.model import REMOVE, Status, Target, TargetKind, TrafficHistory
from gitops_agent.spec.model import Container, Experiments, Service, Variant

TARGET = Target("imgrec", TargetKind.SERVICE, "classifier")
VARIANT = Variant(name="candidate", weight=20, image="img:1.5")
SERVICE = Service(name="classifier", container=Container(image="img:1.4"), variants=(VARIANT,))
POLICY = Experiments(metric="errorRate", confidence=0.95, min_samples=1000)


def test_z_statistic_matches_the_textbook_formula() -> None:
    main, variant = TrafficHistory(10_000, 100), TrafficHistory(2_000, 40)
    z, p = z_test(main, variant)
    pooled = 140 / 12_000
    expected = (0.02 - 0.01) / math.sqrt(pooled * (1 - pooled) * (1 / 10_000 + 1 / 2_000))
    assert math.isclose(z, expected)
    assert math.isclose(p, math.erfc(expected / math.sqrt(2)))


def test_clear_winner_is_promoted() -> None:
    rec = recommend_variant(TARGET, SERVICE, VARIANT, TrafficHistory(50_000, 1_000), TrafficHistory(12_000, 24), POLICY)
    assert rec.status is Status.PROPOSE and rec.new == "img:1.5"
    assert [(e.path, e.value) for e in rec.edits] == [
        (("services", "classifier", "image"), "img:1.5"),
        (("services", "classifier", "variants", "candidate"), REMOVE),
    ]


def test_clear_loser_is_removed() -> None:
    rec = recommend_variant(TARGET, SERVICE, VARIANT, TrafficHistory(50_000, 100), TrafficHistory(12_000, 600), POLICY)
    assert rec.status is Status.PROPOSE and rec.new == REMOVE
    assert [e.path[-1] for e in rec.edits] == ["candidate"]


def test_inconclusive_when_few_samples_or_no_difference() -> None:
    few = recommend_variant(TARGET, SERVICE, VARIANT, TrafficHistory(50_000, 100), TrafficHistory(999, 500), POLICY)
    assert few.status is Status.INCONCLUSIVE and "too few samples" in few.reason
    same = recommend_variant(TARGET, SERVICE, VARIANT, TrafficHistory(50_000, 500), TrafficHistory(12_000, 125), POLICY)
    assert same.status is Status.INCONCLUSIVE and same.edits == ()
    missing = recommend_variant(TARGET, SERVICE, VARIANT, TrafficHistory(50_000, 500), None, POLICY)
    assert missing.status is Status.INCONCLUSIVE


def test_latency_metric_is_reported_not_evaluated() -> None:
    rec = recommend_variant(
        TARGET,
        SERVICE,
        VARIANT,
        TrafficHistory(1, 0),
        TrafficHistory(1, 0),
        Experiments(metric="latency"),
    )
    assert rec.status is Status.SKIPPED and rec.edits == ()
