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


def test_latency_quantile_test_uses_the_main_p95_bucket() -> None:
    from gitops_agent.optimize.experiments import as_slow_requests, quantile_bound
    from gitops_agent.optimize.model import LatencyHistory

    inf = float("inf")
    main = LatencyHistory(((0.1, 5_000), (0.5, 9_400), (1.0, 9_900), (inf, 10_000)))
    fast = LatencyHistory(((0.1, 3_000), (0.5, 5_900), (1.0, 5_995), (inf, 6_000)))
    assert quantile_bound(main, 0.95) == 1.0  # 0.5 holds 94%, 1.0 holds 99%
    assert quantile_bound(main, 0.5) == 0.1
    assert quantile_bound(LatencyHistory(((inf, 10),)), 0.95) is None
    slow_main, slow_fast, bound = as_slow_requests(main, fast, 0.95)
    assert bound == 1.0
    assert slow_main == TrafficHistory(10_000, 100) and slow_fast == TrafficHistory(6_000, 5)
    policy = Experiments(metric="latencyP95", confidence=0.95, min_samples=1000)
    rec = recommend_variant(TARGET, SERVICE, VARIANT, slow_main, slow_fast, policy, slow_bound=bound)
    assert rec.status is Status.PROPOSE and rec.new == "img:1.5"
    assert "slower than 1s (main's p95 bucket)" in rec.reason
    assert rec.details["variantSlowShare"] == round(5 / 6_000, 6)
    # the same histograms the other way round: the variant is slower, so it is removed
    slow_a, slow_b, bound = as_slow_requests(fast, main, 0.95)
    assert bound == 0.5  # fast's p95 bucket: 0.5 holds 98.3%
    rec = recommend_variant(TARGET, SERVICE, VARIANT, slow_a, slow_b, policy, slow_bound=bound)
    assert rec.status is Status.PROPOSE and rec.new == REMOVE
    none = recommend_variant(TARGET, SERVICE, VARIANT, None, None, policy)
    assert none.status is Status.INCONCLUSIVE and "histogram" in none.reason
