"""Statistics of A/B verdicts that stay valid when ``optimize`` checks again and again.

**Mixture sequential probability ratio test (mSPRT)** for a difference of proportions
(Johari, Koomen, Pekelis, Walsh, "Always Valid Inference: Continuous Monitoring of A/B
Tests", Operations Research 70(3), 2022, section 4). With ``e1`` of ``n1`` failures on the
main Deployment and ``e2`` of ``n2`` on the variant, the effect is ``θ = e2/n2 - e1/n1``
(variant minus main), its variance under the null hypothesis of equal rates is
``V = p(1 - p)(1/n1 + 1/n2)`` with ``p = (e1 + e2)/(n1 + n2)``, and with a normal mixing
distribution ``N(0, τ²)`` over the alternatives the mixture likelihood ratio is

    Λ = sqrt(V / (V + τ²)) · exp(τ² θ² / (2 V (V + τ²)))

The always-valid p-value is ``min(1, 1/Λ)``: however often the test is checked, the chance
that it ever drops below ``α`` on an experiment without an effect is at most ``α`` (Ville's
inequality). Inverting the test gives the always-valid confidence interval

    θ ± sqrt(V (V + τ²)/τ² · (2 log(1/α) + log((V + τ²)/V)))

``τ`` is :data:`MIXING_SD` (one percentage point): the size of effect the test is tuned to;
any ``τ`` keeps the guarantee, a far-off one only costs power.

**Sample-ratio mismatch (SRM)**: Pearson's chi-square goodness-of-fit test of the observed
requests per Deployment against the intended shares, ``k - 1`` degrees of freedom. Below
:data:`SRM_ALPHA` (0.0005, the threshold of Fabijan et al., "Diagnosing Sample Ratio
Mismatch in Online Controlled Experiments", KDD 2019) the split is broken and no verdict is
drawn: the groups differ in more than the treatment.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

MIXING_SD = 0.01
SRM_ALPHA = 0.0005
TEST_NAME = "mSPRT (normal mixture, tau 0.01)"


@dataclass(frozen=True)
class SequentialResult:
    """One check of the mSPRT: the effect (variant minus main, a difference of shares),
    its always-valid ``(low, high)`` interval at the given ``alpha``, and the p-value."""

    effect: float
    low: float
    high: float
    p_value: float
    alpha: float

    @property
    def significant(self) -> bool:
        return self.p_value < self.alpha


def msprt(n1: float, e1: float, n2: float, e2: float, *, alpha: float, tau: float = MIXING_SD) -> SequentialResult:
    """The mSPRT of the failure shares ``e2/n2`` against ``e1/n1`` (counts, ``n > 0``).

    Raises ValueError when a side has no requests. With no failure (or only failures) on
    both sides the variance is zero and nothing is significant.
    """
    if n1 <= 0 or n2 <= 0:
        raise ValueError("both sides need requests")
    effect = e2 / n2 - e1 / n1
    pooled = (e1 + e2) / (n1 + n2)
    variance = pooled * (1 - pooled) * (1 / n1 + 1 / n2)
    if variance <= 0:
        return SequentialResult(effect, effect, effect, 1.0, alpha)
    spread = variance + tau**2
    log_ratio = 0.5 * math.log(variance / spread) + tau**2 * effect**2 / (2 * variance * spread)
    p_value = 1.0 if log_ratio <= 0 else math.exp(-log_ratio)
    half = math.sqrt(variance * spread / tau**2 * (2 * math.log(1 / alpha) + math.log(spread / variance)))
    return SequentialResult(effect, effect - half, effect + half, p_value, alpha)


@dataclass(frozen=True)
class SplitCheck:
    """Observed shares of the requests, the intended shares, Pearson's chi-square and its
    p-value (``k - 1`` degrees of freedom); ``mismatch`` when below :data:`SRM_ALPHA`."""

    observed: tuple[float, ...]
    intended: tuple[float, ...]
    chi_square: float
    p_value: float

    @property
    def mismatch(self) -> bool:
        return self.p_value < SRM_ALPHA


def sample_ratio(counts: Sequence[float], shares: Sequence[float]) -> SplitCheck:
    """Chi-square test of ``counts`` (requests per group) against ``shares`` (summing to 1).

    Raises ValueError for fewer than two groups, a non-positive share or no requests.
    """
    if len(counts) != len(shares) or len(counts) < 2:
        raise ValueError("need two or more groups, one share each")
    if any(share <= 0 for share in shares):
        raise ValueError("every intended share must be positive")
    total = sum(counts)
    if total <= 0:
        raise ValueError("no requests")
    norm = sum(shares)
    intended = tuple(share / norm for share in shares)
    chi = sum((count - total * share) ** 2 / (total * share) for count, share in zip(counts, intended, strict=True))
    observed = tuple(count / total for count in counts)
    return SplitCheck(observed, intended, chi, chi_square_sf(chi, len(counts) - 1))


def chi_square_sf(x: float, df: int) -> float:
    """``P(X >= x)`` for a chi-square variable with ``df`` (≥ 1) degrees of freedom: the
    closed forms of the regularized upper incomplete gamma function for integer ``df``
    (Abramowitz & Stegun 26.4.4 and 26.4.5)."""
    if df < 1:
        raise ValueError("df must be at least 1")
    if x <= 0:
        return 1.0
    half = x / 2
    if df % 2 == 0:
        term, total = 1.0, 1.0
        for i in range(1, df // 2):
            term *= half / i
            total += term
        return min(1.0, math.exp(-half) * total)
    root = math.sqrt(x)
    tail = math.erfc(root / math.sqrt(2))
    term, total = root, 0.0
    for i in range(1, (df - 1) // 2 + 1):
        total += term
        term *= x / (2 * i + 1)
    density = math.exp(-half) * math.sqrt(2 / math.pi)
    return min(1.0, tail + density * total)
