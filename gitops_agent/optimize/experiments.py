"""A/B variants: compare each variant with its service's main Deployment (a pure strategy).

Metric ``errorRate``: the share of 5xx responses in ``http_requests_total`` over the window.
``optimize`` runs on a schedule and looks at the experiment again on every run, so the verdict
comes from a sequential test whose error rate holds under repeated checking: the mixture
SPRT of :mod:`gitops_agent.optimize.sequential` (always-valid p-value and confidence
interval; a fixed-horizon z-test re-checked daily calls a false winner far more often than
its nominal level). With ``α = 1 - confidence``:

- fewer than ``minSamples`` requests on either side → **inconclusive** (too few samples);
- the observed split of requests between the main Deployment and the variants differs from
  the intended split (:func:`intended_shares`: the weights with a route or an ingress, the
  replica shares without; chi-square test, see
  :data:`~gitops_agent.optimize.sequential.SRM_ALPHA`) → **sample-ratio mismatch**, no
  verdict: the groups differ in more than the image;
- always-valid p-value ``< α`` and the variant fails less → **promote**: the variant's image
  becomes the service's image and the variant is removed;
- always-valid p-value ``< α`` and the variant fails more → **remove** the variant;
- otherwise → **inconclusive** (no significant difference yet).

Every verdict states the test, the effect (variant minus main) with its always-valid
interval and the observed split.

Metrics ``latencyP95`` / ``latencyP99`` (histogram ``http_request_duration_seconds``): a
quantile test on the same footing. ``L`` = the main Deployment's q-quantile bucket (the
smallest bucket bound ``le`` holding at least ``q`` of its requests, so at most ``1 - q`` of
them are slower); the "failures" of each side are its requests slower than ``L``, compared
with the same sequential test. A variant with significantly fewer slow requests has the
lower q-quantile and wins; significantly more, it loses. No finite bucket → inconclusive.
"""

from __future__ import annotations

import math
from dataclasses import replace

from gitops_agent.optimize.model import (
    REMOVE,
    Edit,
    Evidence,
    LatencyHistory,
    Recommendation,
    Status,
    Strategy,
    Target,
    TrafficHistory,
)
from gitops_agent.optimize.sequential import TEST_NAME, SplitCheck, msprt, sample_ratio
from gitops_agent.spec.model import Experiments, Service, Variant, frozen_map
from gitops_agent.spec.variants import MAIN_VARIANT, variant_replicas


def intended_shares(service: Service) -> dict[str, float] | None:
    """The intended share of requests per Deployment (the main one is named like the service).

    With a ``route`` or an ``ingress`` the weights split the requests: each variant its
    ``weight``%, the main Deployment the rest. Without, the Service spreads requests over
    the pods, so each Deployment's share is its share of the replicas as compiled
    (:func:`~gitops_agent.spec.variants.variant_replicas`: a 20% variant of a 1-replica
    service gets 1 of 2 replicas, half the requests). With ``autoscale`` and no route the HPA
    changes the main Deployment's replicas, so there is no fixed intended split (None).
    """
    if service.route is not None or service.ingress is not None:
        shares = {f"{service.name}-{v.name}": v.weight / 100 for v in service.variants}
        return {service.name: 1 - sum(shares.values()), **shares}
    if service.autoscale is not None:
        return None
    replicas = variant_replicas(service)
    total = sum(replicas.values())
    return {
        (service.name if name == MAIN_VARIANT else f"{service.name}-{name}"): count / total
        for name, count in replicas.items()
    }


def split_of(service: Service, requests: dict[str, float]) -> SplitCheck | None:
    """The sample-ratio check of a service's experiment from the requests per Deployment
    (None without a fixed intended split, when a group has no share or nothing was requested)."""
    shares = intended_shares(service)
    if shares is None:
        return None
    if any(share <= 0 for share in shares.values()) or sum(requests.get(n, 0.0) for n in shares) <= 0:
        return None
    return sample_ratio([requests.get(name, 0.0) for name in shares], list(shares.values()))


LATENCY_QUANTILES = {"latencyP95": 0.95, "latencyP99": 0.99}


def quantile_bound(history: LatencyHistory, quantile: float) -> float | None:
    """The smallest finite bucket bound holding at least ``quantile`` of the requests."""
    for le, count in history.buckets:
        if math.isfinite(le) and history.total > 0 and count >= quantile * history.total:
            return le
    return None


def as_slow_requests(
    main: LatencyHistory | None, candidate: LatencyHistory | None, quantile: float
) -> tuple[TrafficHistory | None, TrafficHistory | None, float | None]:
    """Both histograms as (requests, requests slower than the main's quantile bucket)."""
    if main is None or candidate is None:
        return None, None, None
    bound = quantile_bound(main, quantile)
    if bound is None:
        return None, None, None
    slow_main, slow_candidate = main.slower_than(bound), candidate.slower_than(bound)
    if slow_main is None or slow_candidate is None:
        return None, None, bound
    return (
        TrafficHistory(main.total, slow_main),
        TrafficHistory(candidate.total, slow_candidate),
        bound,
    )


def recommend_variant(
    target: Target,
    service: Service,
    variant: Variant,
    main: TrafficHistory | None,
    candidate: TrafficHistory | None,
    policy: Experiments,
    *,
    evidence: tuple[Evidence, ...] = (),
    slow_bound: float | None = None,
    split: SplitCheck | None = None,
) -> Recommendation:
    """Promote, remove, or wait for one variant of one service.

    For the latency metrics, ``main``/``candidate`` count requests slower than
    ``slow_bound`` as failures (see :func:`as_slow_requests`). ``split`` is the service's
    sample-ratio check (:func:`split_of`): with a mismatch no verdict is drawn.
    """
    field = f"variants.{variant.name}"
    base = Recommendation(
        Strategy.EXPERIMENTS,
        target,
        field,
        variant.image or service.container.image,
        None,
        Status.INCONCLUSIVE,
        "",
        evidence,
    )
    if policy.metric != "errorRate" and policy.metric not in LATENCY_QUANTILES:
        return replace(
            base,
            status=Status.SKIPPED,
            reason=f"metric {policy.metric!r} is not evaluated",
        )
    latency = policy.metric in LATENCY_QUANTILES
    if latency and slow_bound is None:
        return replace(
            base,
            reason="no request-duration histogram with a finite bucket for the main Deployment and the variant",
        )
    n1 = main.requests if main else 0.0
    n2 = candidate.requests if candidate else 0.0
    if main is None or candidate is None or min(n1, n2) < policy.min_samples:
        return replace(
            base,
            reason=(f"too few samples: main {n1:.0f}, variant {n2:.0f} requests (minSamples {policy.min_samples})"),
        )
    alpha = 1 - policy.confidence
    test = msprt(n1, main.errors, n2, candidate.errors, alpha=alpha)
    share = "SlowShare" if latency else "ErrorRate"
    values: dict[str, float | str] = {
        "metric": policy.metric,
        "test": TEST_NAME,
        "mainRequests": round(n1),
        f"main{share}": round(main.error_rate, 6),
        "variantRequests": round(n2),
        f"variant{share}": round(candidate.error_rate, 6),
        "effect": round(test.effect, 6),
        "effectLow": round(test.low, 6),
        "effectHigh": round(test.high, 6),
        "pValue": test.p_value,
        "confidence": policy.confidence,
    }
    what = "error rate"
    if latency and slow_bound is not None:
        values["slowerThanSeconds"] = slow_bound
        quantile = LATENCY_QUANTILES[policy.metric]
        what = f"share slower than {slow_bound:g}s (main's p{quantile * 100:g} bucket)"
    split_text = ""
    if split is not None:
        values["observedSplit"] = "/".join(f"{x:.2%}" for x in split.observed)
        values["intendedSplit"] = "/".join(f"{x:.2%}" for x in split.intended)
        values["srmPValue"] = split.p_value
        split_text = f"; observed split {values['observedSplit']} (intended {values['intendedSplit']})"
    details = frozen_map(values)
    summary = (
        f"{what} main {main.error_rate:.4%} vs {variant.name} {candidate.error_rate:.4%}; {TEST_NAME}: "
        f"effect {test.effect:+.4%} ({policy.confidence:g} always-valid interval {test.low:+.4%} to "
        f"{test.high:+.4%}), p = {test.p_value:.3g}{split_text}"
    )
    if split is not None and split.mismatch:
        return replace(
            base,
            status=Status.SAMPLE_RATIO_MISMATCH,
            details=details,
            reason=f"sample-ratio mismatch (chi-square p = {split.p_value:.3g}): no verdict; {summary}",
        )
    removal = Edit((*target.spec_path, "variants", variant.name), REMOVE)
    if not test.significant:
        return replace(
            base,
            details=details,
            reason=f"{summary}: not significant at {policy.confidence:g} confidence",
        )
    if test.effect < 0:
        image = variant.image or service.container.image
        edits = (removal,) if variant.image is None else (Edit((*target.spec_path, "image"), image), removal)
        return replace(
            base,
            old=service.container.image,
            new=image,
            status=Status.PROPOSE,
            edits=edits,
            details=details,
            field=f"{field} (promote)",
            reason=f"{summary}: the variant wins; its image becomes the service image",
        )
    return replace(
        base,
        new=REMOVE,
        status=Status.PROPOSE,
        edits=(removal,),
        details=details,
        field=f"{field} (remove)",
        reason=f"{summary}: the variant loses; it is removed",
    )
