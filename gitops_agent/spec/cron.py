"""Cron schedules as Kubernetes CronJobs accept them (five fields or an ``@`` macro).

Fields: minute 0-59, hour 0-23, day of month 1-31, month 1-12 or JAN-DEC, day of week
0-6 or SUN-SAT (names case-insensitive). Each field is ``*``, ``?`` (day fields), a value,
a range ``a-b``, with an optional step ``/n``, or a comma-separated list of those.
Macros: ``@yearly``, ``@annually``, ``@monthly``, ``@weekly``, ``@daily``, ``@midnight``,
``@hourly``. Time-zone prefixes (``TZ=``) are refused: Kubernetes rejects them.
"""

from __future__ import annotations

MACROS = frozenset(
    {"@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly"}
)
_MONTHS = ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"]
_DAYS = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"]
_FIELDS: tuple[tuple[str, int, int, dict[str, int]], ...] = (
    ("minute", 0, 59, {}),
    ("hour", 0, 23, {}),
    ("day of month", 1, 31, {}),
    ("month", 1, 12, {name: i + 1 for i, name in enumerate(_MONTHS)}),
    ("day of week", 0, 6, {name: i for i, name in enumerate(_DAYS)}),
)


def cron_problem(expression: str) -> str | None:
    """Why ``expression`` is not a valid schedule, or None when it is."""
    text = expression.strip()
    if not text:
        return "is empty; expected five cron fields such as '0 2 * * *'"
    if text.upper().startswith(("TZ=", "CRON_TZ=")):
        return "time-zone prefixes (TZ=) are not supported in schedules"
    if text.startswith("@"):
        if text.lower() in MACROS:
            return None
        return "unknown macro; use one of " + ", ".join(sorted(MACROS))
    fields = text.split()
    if len(fields) != 5:
        return (
            f"has {len(fields)} fields; expected five (minute hour day-of-month month"
            " day-of-week), e.g. '0 2 * * *'"
        )
    for value, (name, low, high, names) in zip(fields, _FIELDS, strict=True):
        problem = _field_problem(value, low, high, names, allow_question=name.startswith("day"))
        if problem:
            return f"{name} field {value!r}: {problem}"
    return None


def _field_problem(
    field: str, low: int, high: int, names: dict[str, int], *, allow_question: bool
) -> str | None:
    for part in field.split(","):
        problem = _item_problem(part, low, high, names, allow_question=allow_question)
        if problem:
            return problem
    return None


def _item_problem(part: str, low: int, high: int, names: dict[str, int], *, allow_question: bool) -> str | None:
    """One list item: ``*``, ``?``, a value or a range, with an optional ``/step``."""
    if not part:
        return "empty list item"
    base, slash, step = part.partition("/")
    if slash and (not _decimal(step) or int(step) == 0):
        return f"step {step!r} must be a positive number"
    if base in ("*", "?"):
        return "'?' is only allowed in the day fields" if base == "?" and not allow_question else None
    start_text, dash, end_text = base.partition("-")
    start, problem = _bounded(start_text, low, high, names)
    if problem or not dash:
        return problem
    end, problem = _bounded(end_text, low, high, names)
    if problem:
        return problem
    return f"range {start}-{end} runs backwards" if end < start else None


def _bounded(text: str, low: int, high: int, names: dict[str, int]) -> tuple[int, str | None]:
    """The value of ``text`` and why it is not one within ``low``-``high`` (None when it is)."""
    value = _value(text, names)
    if value is None:
        return 0, f"{text!r} is not a number" + (" or name" if names else "")
    if not low <= value <= high:
        return value, f"{value} is out of range {low}-{high}"
    return value, None


def _decimal(text: str) -> bool:
    """ASCII digits only: ``str.isdigit`` also takes '²' and '٣', which cron (and Go's
    strconv, which parses the CronJob's schedule) do not."""
    return text.isascii() and text.isdigit()


def _value(text: str, names: dict[str, int]) -> int | None:
    if _decimal(text) and len(text) <= 4:
        return int(text)
    return names.get(text.upper())
