"""Durations: one syntax everywhere a duration is read (specs, flags, ``--since``, optimize windows).

Prometheus' duration syntax without its sub-second and year units
(https://prometheus.io/docs/prometheus/latest/querying/basics/#float-literals-and-time-durations):
whole numbers with a unit, ``w`` (weeks), ``d`` (days), ``h``, ``m`` or ``s``, combined from the
largest unit down, each at most once: ``30s``, ``5m``, ``1h30m``, ``7d``, ``2w``, ``1w2d3h``.
Every such string is also a valid PromQL range, so an optimize window goes into a query as written.
Go's ``time.ParseDuration`` forms that Kubernetes tools print for whole seconds (``15s``,
``1h0m0s``) read the same; fractions (``1.5h``) and ``ms``/``y`` are refused. A duration is
greater than zero and at most 10 years, except where a field allows zero (:func:`is_zero_duration`).
"""

from __future__ import annotations

import re

PATTERN = r"^(?=[0-9])([0-9]+w)?([0-9]+d)?([0-9]+h)?([0-9]+m)?([0-9]+s)?$"
"""The syntax as a regular expression (the JSON Schemas' ``duration`` pattern is the same)."""
_DURATION = re.compile(PATTERN)
_UNIT_SECONDS = (7 * 86400, 86400, 3600, 60, 1)
MAX_SECONDS = 10 * 365 * 86400
MAX_LENGTH = 32


def parse_duration(value: object) -> int | None:
    """Seconds in ``value``; None unless it is a duration greater than zero and at most 10 years."""
    if not isinstance(value, str) or len(value) > MAX_LENGTH:
        return None
    match = _DURATION.match(value)
    if not match:
        return None
    total = sum(int(group[:-1]) * unit for group, unit in zip(match.groups(), _UNIT_SECONDS, strict=True) if group)
    if total <= 0 or total > MAX_SECONDS:
        return None
    return total


def duration_problem(value: object) -> str | None:
    """Why a string that has duration syntax is still not usable (zero or too long), or None.

    Strings without duration syntax are left to the schema (None here).
    """
    if isinstance(value, str) and _DURATION.match(value) and parse_duration(value) is None:
        return "must be greater than zero and at most 10 years"
    return None


def is_zero_duration(value: object) -> bool:
    """``0s``, ``0m``, ``0h0m``…: a duration of nothing, valid only where a field says so."""
    return isinstance(value, str) and bool(_DURATION.match(value)) and not value.strip("0wdhms")
