"""Durations: ``30s``, ``5m``, ``4h``, ``7d``, combined from the largest unit down (``1h30m``)."""

from __future__ import annotations

import re

_DURATION = re.compile(r"^(?=[0-9])(?:([0-9]+)d)?(?:([0-9]+)h)?(?:([0-9]+)m)?(?:([0-9]+)s)?$")
_MAX_SECONDS = 10 * 365 * 86400


def duration_problem(value: object) -> str | None:
    """Why a string that has duration syntax is still not usable (zero or too long), or None.

    Strings without duration syntax are left to the schema (None here).
    """
    if isinstance(value, str) and _DURATION.match(value) and parse_duration(value) is None:
        return "must be greater than zero and at most 10 years"
    return None


def parse_duration(value: object) -> int | None:
    """Seconds in ``value``; None unless it is a valid duration greater than zero."""
    if not isinstance(value, str) or len(value) > 32:
        return None
    match = _DURATION.match(value)
    if not match:
        return None
    days, hours, minutes, seconds = (int(g) if g else 0 for g in match.groups())
    total = ((days * 24 + hours) * 60 + minutes) * 60 + seconds
    if total <= 0 or total > _MAX_SECONDS:
        return None
    return total


def is_zero_duration(value: object) -> bool:
    """``0s``, ``0m``, ``0h0m``…: a duration of nothing, valid only where a field says so."""
    return isinstance(value, str) and bool(_DURATION.match(value)) and not value.strip("0dhms")
