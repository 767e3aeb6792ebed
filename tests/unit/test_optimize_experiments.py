"""A/B variants: the mixture SPRT decides promote / remove / inconclusive; a broken split decides nothing."""

from __future__ import annotations

import math
import random
from dataclasses import replace

from gitops_agent.optimize.experiments import recommend_variant, split_of
from gitops_agent.optimize.model import REMOVE, Status, Target, TargetKind, TrafficHistory
from gitops_agent.optimize.sequential import MIXING_SD, chi_square_sf, msprt
from gitops_agent.spec.model import (
    Autoscale,
    Container,
    Experiments,
    Ingress,
    Route,
    Service,
    Variant,
)

TARGET = Target("imgrec", TargetKind.SERVICE, "classifier")
VARIANT = Variant(name="candidate", weight=20, image="img:1.5")
ROUTE = Route(gateway="inference", port="http")  # the weights split requests only through a route
SERVICE = Service(
    name="classifier", container=Container(image="img:1.4"), ports={"http": 8080}, variants=(VARIANT,), route=ROUTE
)
POLICY = Experiments(metric="errorRate", confidence=0.95, min_samples=1000)


def test_msprt_matches_the_mixture_likelihood_ratio() -> None:
    # Johari et al. 2022: Λ = sqrt(V/(V+τ²)) exp(τ²θ²/(2V(V+τ²))), p = min(1, 1/Λ)
    result = msprt(10_000, 100, 2_000, 40, alpha=0.05)
    pooled = 140 / 12_000
    v = pooled * (1 - pooled) * (1 / 10_000 + 1 / 2_000)
    tau2 = MIXING_SD**2
    ratio = math.sqrt(v / (v + tau2)) * math.exp(tau2 * 0.01**2 / (2 * v * (v + tau2)))
    assert math.isclose(result.effect, 0.01)
    assert math.isclose(result.p_value, min(1.0, 1 / ratio))
    half = math.sqrt(v * (v + tau2) / tau2 * (2 * math.log(20) + math.log((v + tau2) / v)))
    assert math.isclose(result.low, 0.01 - half) and math.isclose(result.high, 0.01 + half)
    # the always-valid interval is wider than the fixed-horizon 95% one (1.96 sd)
    assert half > 1.96 * math.sqrt(v)
    # no failures anywhere: nothing to test
    assert msprt(1_000, 0, 1_000, 0, alpha=0.05).p_value == 1.0


def test_chi_square_tail_matches_the_tables() -> None:
    # critical values of the chi-square distribution (0.05 and 0.001 upper tails)
    for df, x in ((1, 3.841458820694124), (2, 5.991464547107979), (3, 7.814727903251178), (4, 9.487729036781154)):
        assert math.isclose(chi_square_sf(x, df), 0.05, rel_tol=1e-9)
    assert math.isclose(chi_square_sf(10.827566170662733, 1), 0.001, rel_tol=1e-9)
    assert chi_square_sf(0.0, 2) == 1.0


def _daily_checks(seed: int, days: int, rates: tuple[float, float], per_day: int, alpha: float) -> tuple[bool, bool]:
    """An experiment checked every day on its cumulative counts: (mSPRT ever significant,
    the fixed-horizon z-test ever significant)."""
    rng = random.Random(seed)
    n1 = e1 = n2 = e2 = 0
    main_daily, variant_daily = per_day * 4 // 5, per_day // 5
    msprt_hit = z_hit = False
    for _ in range(days):
        n1 += main_daily
        n2 += variant_daily
        e1 += _binomial(rng, main_daily, rates[0])
        e2 += _binomial(rng, variant_daily, rates[1])
        msprt_hit |= msprt(n1, e1, n2, e2, alpha=alpha).significant
        pooled = (e1 + e2) / (n1 + n2)
        sd = math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
        z_hit |= sd > 0 and math.erfc(abs(e2 / n2 - e1 / n1) / sd / math.sqrt(2)) < alpha
    return msprt_hit, z_hit


def _binomial(rng: random.Random, n: int, p: float) -> int:
    """A binomial draw by its normal approximation (n p ≥ 20 here), rounded and clamped."""
    return max(0, min(n, round(rng.gauss(n * p, math.sqrt(n * p * (1 - p))))))


def test_an_aa_experiment_checked_daily_for_30_days_has_no_winner() -> None:
    msprt_hit, _ = _daily_checks(seed=7, days=30, rates=(0.01, 0.01), per_day=50_000, alpha=0.05)
    assert not msprt_hit
    # and the verdict itself stays inconclusive on the 30th day's counts
    main, variant = TrafficHistory(1_200_000, 12_000), TrafficHistory(300_000, 3_000)
    rec = recommend_variant(TARGET, SERVICE, VARIANT, main, variant, POLICY)
    assert rec.status is Status.INCONCLUSIVE and "mSPRT" in rec.reason


def test_false_winner_rate_stays_under_alpha_when_checked_daily() -> None:
    alpha, seeds = 0.05, 400
    results = [_daily_checks(seed, 30, (0.01, 0.01), 20_000, alpha) for seed in range(seeds)]
    msprt_rate = sum(m for m, _ in results) / seeds
    z_rate = sum(z for _, z in results) / seeds
    assert msprt_rate <= alpha
    # the fixed-horizon z-test, peeked at daily, calls far more false winners
    assert z_rate > 2 * alpha


def test_a_real_effect_is_found_by_the_daily_checks() -> None:
    found = [_daily_checks(seed, 30, (0.02, 0.01), 20_000, 0.05)[0] for seed in range(50)]
    assert all(found)


def test_a_mismatched_split_gets_no_verdict() -> None:
    # weight 20 but the variant got 30% of the requests; it also fails far less
    main, variant = TrafficHistory(35_000, 700), TrafficHistory(15_000, 30)
    split = split_of(SERVICE, {"classifier": 35_000, "classifier-candidate": 15_000})
    assert split is not None and split.mismatch
    rec = recommend_variant(TARGET, SERVICE, VARIANT, main, variant, POLICY, split=split)
    assert rec.status is Status.SAMPLE_RATIO_MISMATCH and rec.edits == ()
    assert "sample-ratio mismatch" in rec.reason and "observed split 70.00%/30.00%" in rec.reason
    assert rec.details["intendedSplit"] == "80.00%/20.00%"
    # the intended split (within chance) is fine
    fine = split_of(SERVICE, {"classifier": 40_050, "classifier-candidate": 9_950})
    assert fine is not None and not fine.mismatch


def test_split_over_several_variants() -> None:
    two = Service(
        name="s",
        container=Container(image="a"),
        variants=(Variant(name="b", weight=10), Variant(name="c", weight=30)),
        route=ROUTE,
    )
    check = split_of(two, {"s": 6_000, "s-b": 1_000, "s-c": 3_000})
    assert check is not None and check.chi_square == 0 and check.intended == (0.6, 0.1, 0.3)
    broken = split_of(two, {"s": 6_000, "s-b": 3_000, "s-c": 1_000})
    assert broken is not None and broken.mismatch


def test_clear_winner_is_promoted() -> None:
    rec = recommend_variant(TARGET, SERVICE, VARIANT, TrafficHistory(48_000, 960), TrafficHistory(12_000, 24), POLICY)
    assert rec.status is Status.PROPOSE and rec.new == "img:1.5"
    assert [(e.path, e.value) for e in rec.edits] == [
        (("services", "classifier", "image"), "img:1.5"),
        (("services", "classifier", "variants", "candidate"), REMOVE),
    ]


def test_clear_loser_is_removed() -> None:
    rec = recommend_variant(TARGET, SERVICE, VARIANT, TrafficHistory(48_000, 96), TrafficHistory(12_000, 600), POLICY)
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


def test_an_ingress_splits_by_the_weights_too() -> None:
    service = replace(SERVICE, route=None, ingress=Ingress(port="http"))
    check = split_of(service, {"classifier": 8_000, "classifier-candidate": 2_000})
    assert check is not None and check.intended == (0.8, 0.2) and not check.mismatch


def test_without_a_route_requests_follow_the_replicas() -> None:
    """The Service spreads requests over pods: a 20% variant of a 1-replica service has 1 of
    2 replicas and gets half the requests, which is no sample-ratio mismatch."""
    plain = replace(SERVICE, route=None)
    check = split_of(plain, {"classifier": 5_000, "classifier-candidate": 5_000})
    assert check is not None and check.intended == (0.5, 0.5) and not check.mismatch
    five = replace(plain, replicas=5)  # 4 + 1
    check = split_of(five, {"classifier": 8_000, "classifier-candidate": 2_000})
    assert check is not None and check.intended == (0.8, 0.2) and not check.mismatch


def test_an_autoscaled_service_without_a_route_has_no_fixed_split() -> None:
    scaled = replace(SERVICE, route=None, autoscale=Autoscale(min=2, max=10))
    assert split_of(scaled, {"classifier": 9_000, "classifier-candidate": 1_000}) is None
    routed = replace(scaled, route=ROUTE)  # the route keeps 80/20 whatever the HPA does
    check = split_of(routed, {"classifier": 9_000, "classifier-candidate": 1_000})
    assert check is not None and check.mismatch
