"""The status pages of ``reconcile``: the loop's last rounds plus the audit timeline from git.

Routes: ``/`` (every environment of this replica) and ``/environments/<name>``; any other path
is no page (the server answers 404). The audit timeline is read from the local clone without
fetching (the loop fetches) and kept for ``timeline_ttl`` seconds, so a page refreshed by many
browsers costs one history walk per environment and period.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from pathlib import Path

from gitops_agent.history.audit import EventKind, timeline
from gitops_agent.reconcile.loop import Reconciler
from gitops_agent.reconcile.status_page import (
    MAX_EVENTS,
    EnvironmentSnapshot,
    TimelineRow,
    render_environment,
    render_index,
    render_not_found,
    snapshot,
)
from gitops_agent.spec.model import Environment, SpecSet

log = logging.getLogger(__name__)
ENVIRONMENTS = "/environments/"


class StatusSite:
    """Builds each page on request from the reconciler's ``observed`` records."""

    def __init__(self, repo: Path, specs: SpecSet, environments: Sequence[Environment], reconciler: Reconciler,
                 *, refresh_seconds: int = 10, timeline_ttl: float = 15.0) -> None:
        self._repo, self._specs, self._reconciler = repo, specs, reconciler
        self._environments = {env.name: env for env in environments}
        self._refresh = refresh_seconds
        self._ttl = timeline_ttl
        self._lock = threading.Lock()
        self._timelines: dict[str, tuple[float, tuple[TimelineRow, ...], dict[str, str], str]] = {}

    def page(self, path: str) -> tuple[int, str] | None:
        """(HTTP status, HTML) for ``path``; None when the path is not a page."""
        if path == "/":
            return 200, render_index([self._snapshot(env, with_timeline=False)
                                      for env in self._environments.values()], self._refresh)
        if path.startswith(ENVIRONMENTS):
            name = path[len(ENVIRONMENTS):].strip("/")
            env = self._environments.get(name)
            if env is None:
                return 404, render_not_found(name, self._refresh)
            return 200, render_environment(self._snapshot(env, with_timeline=True))
        return None

    def _snapshot(self, env: Environment, *, with_timeline: bool) -> EnvironmentSnapshot:
        observed = self._reconciler.observed(env.name)
        rows, sources, error = self._timeline(env.name) if with_timeline else ((), {}, "")
        revision = observed.revision if observed else ""
        return snapshot(env.name, env.namespace, env.branch, observed, source_commit=sources.get(revision, ""),
                        timeline=rows, timeline_error=error, self_heal=env.sync.self_heal,
                        refresh_seconds=self._refresh)

    def _timeline(self, name: str) -> tuple[tuple[TimelineRow, ...], dict[str, str], str]:
        """(newest events, environment commit → source commit, error) for one environment."""
        with self._lock:
            cached = self._timelines.get(name)
            if cached is not None and time.monotonic() - cached[0] < self._ttl:
                return cached[1], cached[2], cached[3]
            try:
                events = timeline(self._repo, self._specs, environment=name, fetch=False)
                rows = tuple(
                    TimelineRow(e.time, e.kind.value, e.author, e.message.splitlines()[0] if e.message else "",
                                e.commit or "")
                    for e in events[:MAX_EVENTS]
                )
                sources = {e.commit: e.source_commit for e in events
                           if e.kind in (EventKind.COMPILE, EventKind.ROLLBACK) and e.commit and e.source_commit}
                error = ""
            except Exception as failure:  # a panel of the page, never the page: say why it is empty
                log.warning("status page: audit timeline of %s not read: %s", name, failure)
                rows, sources, error = (), {}, str(failure) or type(failure).__name__
            self._timelines[name] = (time.monotonic(), rows, sources, error)
            return rows, sources, error
