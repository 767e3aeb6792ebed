"""The churn guard: only changes larger than the policy's ``minChangePercent`` are proposed."""

from __future__ import annotations


def change_percent(old: float | None, new: float) -> float:
    """``|new - old| / old x 100``; a value that was never set counts as an infinite change."""
    if old is None:
        return float("inf")
    if old == 0:
        return 0.0 if new == 0 else float("inf")
    return abs(new - old) / abs(old) * 100.0


def significant(old: float | None, new: float, min_change_percent: float) -> bool:
    """Whether moving ``old`` → ``new`` is worth a proposal (strictly above the threshold).

    An unchanged value is never significant, whatever the threshold.
    """
    if old is not None and old == new:
        return False
    return change_percent(old, new) > min_change_percent
