"""A/B variants: compare each variant with its service's main Deployment (a pure strategy).

Metric ``errorRate``: the share of 5xx responses in ``http_requests_total`` over the window.
Test: two-proportion z-test, two-sided. With ``e`` errors out of ``n`` requests for the main
(1) and the variant (2), ``p = (e1 + e2) / (n1 + n2)``,
``z = (e2/n2 - e1/n1) / sqrt(p (1 - p) (1/n1 + 1/n2))`` and ``p-value = erfc(|z| / sqrt 2)``.

- fewer than ``minSamples`` requests on either side → **inconclusive** (too few samples);
- ``p-value < 1 - confidence`` and the variant fails less → **promote**: the variant's image
  becomes the service's image and the variant is removed;
- ``p-value < 1 - confidence`` and the variant fails more → **remove** the variant;
- otherwise → **inconclusive** (no significant difference).

Metrics ``latencyP95`` / ``latencyP99`` (histogram ``http_request_duration_seconds``): a
quantile test on the same footing. ``L`` = the main Deployment's q-quantile bucket (the
smallest bucket bound ``le`` holding at least ``q`` of its requests, so at most ``1 - q`` of
them are slower); the "failures" of each side are its requests slower than ``L``, compared
with the same z-test. A variant with significantly fewer slow requests has the lower
q-quantile and wins; significantly more, it loses. No finite bucket → inconclusive.
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
from gitops_agent.spec.model import Experiments, Service, Variant, frozen_map


def z_test(main: TrafficHistory, variant: TrafficHistory) -> tuple[float, float]:
    """``(z, two-sided p-value)`` of the variant's error rate against the main's."""
    n1, n2 = main.requests, variant.requests
    pooled = (main.errors + variant.errors) / (n1 + n2)
    spread = math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    if spread == 0:
        return 0.0, 1.0
    z = (variant.error_rate - main.error_rate) / spread
    return z, math.erfc(abs(z) / math.sqrt(2))


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
) -> Recommendation:
    """Promote, remove, or wait for one variant of one service.

    For the latency metrics, ``main``/``candidate`` count requests slower than
    ``slow_bound`` as failures (see :func:`as_slow_requests`).
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
    z, p_value = z_test(main, candidate)
    share = "SlowShare" if latency else "ErrorRate"
    values: dict[str, float | str] = {
        "metric": policy.metric,
        "mainRequests": round(n1),
        f"main{share}": round(main.error_rate, 6),
        "variantRequests": round(n2),
        f"variant{share}": round(candidate.error_rate, 6),
        "z": round(z, 3),
        "pValue": p_value,
        "confidence": policy.confidence,
    }
    what = "error rate"
    if latency and slow_bound is not None:
        values["slowerThanSeconds"] = slow_bound
        quantile = LATENCY_QUANTILES[policy.metric]
        what = f"share slower than {slow_bound:g}s (main's p{quantile * 100:g} bucket)"
    details = frozen_map(values)
    summary = (
        f"{what} main {main.error_rate:.4%} vs {variant.name} "
        f"{candidate.error_rate:.4%}, z = {z:.2f}, p = {p_value:.3g}"
    )
    alpha = 1 - policy.confidence
    removal = Edit((*target.spec_path, "variants", variant.name), REMOVE)
    if p_value >= alpha:
        return replace(
            base,
            details=details,
            reason=f"{summary}: not significant at {policy.confidence:g} confidence",
        )
    if z < 0:
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
