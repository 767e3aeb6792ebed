"""Audit helpers: --since parsing, ordering within one second, one-line rendering."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from gitops_agent.errors import InvalidInputError
from gitops_agent.history.audit import AuditEvent, EventKind, format_event, parse_since
from gitops_agent.spec.model import frozen_map

NOW = datetime(2026, 11, 25, 12, 0, 0, tzinfo=UTC)


def test_since_accepts_durations_and_dates() -> None:
    assert parse_since(None) is None
    assert parse_since("7d", now=NOW) == NOW - timedelta(days=7)
    assert parse_since("1h30m", now=NOW) == NOW - timedelta(minutes=90)
    assert parse_since("2026-01-31") == datetime(2026, 1, 31, tzinfo=UTC)
    assert parse_since("2026-01-31T10:00:00+02:00") == datetime(2026, 1, 31, 8, tzinfo=UTC)
    with pytest.raises(InvalidInputError, match="--since last-week"):
        parse_since("last-week")


def _event(kind: EventKind, second: int, micro: int = 0, order: int = 0) -> AuditEvent:
    return AuditEvent(
        time=NOW.replace(second=second, microsecond=micro),
        kind=kind,
        environment="prod",
        commit=f"{kind.value}-{second}-{order}",
        author="a",
        message="m",
        order=order,
    )


def test_within_one_second_syncs_follow_commits_and_history_order_wins() -> None:
    events = [
        _event(EventKind.SPEC_COMMIT, 1, order=1),
        _event(EventKind.COMPILE, 1, order=1),
        _event(EventKind.SYNC, 1, micro=10),  # git times are whole seconds; notes are not
        _event(EventKind.COMPILE, 1, order=2),
        _event(EventKind.SPEC_COMMIT, 0, order=9),
        _event(EventKind.DRIFT_FIX, 2),
    ]
    newest_first = sorted(events, key=AuditEvent.sort_key, reverse=True)
    assert [(e.kind.value, e.time.second, e.order) for e in newest_first] == [
        ("drift-fix", 2, 0),
        ("sync", 1, 0),
        ("compile", 1, 2),
        ("compile", 1, 1),
        ("spec-commit", 1, 1),
        ("spec-commit", 0, 9),
    ]


def test_one_line_per_event() -> None:
    event = AuditEvent(
        time=NOW,
        kind=EventKind.ROLLBACK_SYNC,
        environment="prod",
        commit="c" * 40,
        author="Ann <ann@example.com>",
        message="succeeded",
        source_commit="s" * 40,
        details=frozen_map({"summary": {"update": 1, "create": 0}, "rollback_to": "r" * 40}),
    )
    line = format_event(event)
    assert line.startswith("2026-11-25 12:00:00  rollback-sync     prod       cccccccccccc")
    assert "Ann <ann@example.com>: succeeded (update 1)" in line
    assert "<- ssssssssssss" in line and "restores rrrrrrrrrrrr" in line
    assert event.to_json()["time"] == "2026-11-25T12:00:00.000000Z"
