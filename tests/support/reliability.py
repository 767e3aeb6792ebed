"""Counters of the reliability suite, printed in pytest's terminal summary.

Tests take the session fixture ``reliability`` and call ``reliability.add(name, n)``; at the
end of the run the terminal summary prints one line per counter (fuzz cases run, faults
injected, throttled requests survived, objects verified after recovery …), so the numbers
recorded in the README can be checked against any run.
"""

from __future__ import annotations

from collections import Counter

import pytest

_COUNTERS = pytest.StashKey[Counter[str]]()


class ReliabilityCounters:
    """Named integer counters shared by the whole session."""

    def __init__(self, counters: Counter[str]) -> None:
        self._counters = counters

    def add(self, name: str, amount: int = 1) -> None:
        self._counters[name] += amount

    def get(self, name: str) -> int:
        return self._counters[name]


def _counters(config: pytest.Config) -> Counter[str]:
    if _COUNTERS not in config.stash:
        config.stash[_COUNTERS] = Counter()
    return config.stash[_COUNTERS]


@pytest.fixture(scope="session")
def reliability(request: pytest.FixtureRequest) -> ReliabilityCounters:
    """The session's reliability counters."""
    return ReliabilityCounters(_counters(request.config))


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, config: pytest.Config) -> None:
    counters = config.stash.get(_COUNTERS, None)
    if not counters:
        return
    terminalreporter.section("reliability")
    for name in sorted(counters):
        terminalreporter.write_line(f"{name}: {counters[name]}")
