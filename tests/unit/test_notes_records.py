"""Sync records as JSON lines: time first (lines sort in time order), lossless round trip."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from gitops_agent.history.notes import SyncEvent, SyncNote, decode, encode, format_time


def _note(moment: datetime, **changes: object) -> SyncNote:
    values: dict[str, object] = {
        "time": moment,
        "event": SyncEvent.DRIFT_FIX,
        "environment": "prod",
        "revision": "a" * 40,
        "context": "prod-ctx",
        "user": "Ann <ann@example.com>",
        "result": "succeeded",
        "health": "Healthy",
        "summary": {"update": 2, "create": 0},
        "changes": ("update apps/v1 Deployment ml-prod/classifier",),
    }
    values.update(changes)
    return SyncNote(**values)  # type: ignore[arg-type]


def test_round_trip_and_time_first() -> None:
    note = _note(datetime(2026, 11, 25, 19, 3, 4, 120000, tzinfo=UTC))
    line = encode(note)
    assert "\n" not in line
    assert line.startswith('{"time":"2026-11-25T19:03:04.120000Z","event":"drift-fix"')
    assert decode(line) == note


def test_lines_that_are_not_records_are_skipped() -> None:
    assert decode("not json") is None
    assert decode('{"time": "2026-01-01T00:00:00Z"}') is None
    assert decode('{"time":"x","event":"sync","environment":"e","revision":"r"}') is None
    assert decode('{"time":"2026-01-01T00:00:00Z","event":"sync","environment":"e","revision":"r"}') is not None


@given(
    st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2200, 1, 1)),
    st.timedeltas(min_value=timedelta(microseconds=1), max_value=timedelta(days=400)),
)
def test_lexical_order_is_time_order(start: datetime, step: timedelta) -> None:
    earlier, later = start.replace(tzinfo=UTC), (start + step).replace(tzinfo=UTC)
    assert format_time(earlier) < format_time(later)
    assert encode(_note(earlier)) < encode(_note(later))
