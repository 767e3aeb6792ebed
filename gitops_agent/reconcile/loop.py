"""The reconcile loop: follow the environment branches, self-heal drift, expose metrics.

Each round, per environment: ask git for the branch head (re-rendering only when it moved),
diff against a watch-fed cache of the live objects, and sync when the revision is new or
when drift was found and ``sync.selfHeal`` is on. Failures of the API server or the git
remote back off exponentially and never end the loop; the last rendered state keeps being
enforced while git is unreachable. ``/metrics`` (through ``prometheus_client``), ``/healthz``
and the read-only status pages are served by a small standard-library HTTP server.
"""

from __future__ import annotations

import gc
import logging
import random
import threading
import time
import urllib.parse
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Protocol

from gitops_agent.errors import ClusterError, ExternalError, GitOpsAgentError
from gitops_agent.reconcile.changeset import CHANGING, Action, Change, ChangeSet
from gitops_agent.reconcile.cluster import Cluster
from gitops_agent.reconcile.engine import SyncOptions, Target, plan, sync
from gitops_agent.reconcile.memo import PlanMemo
from gitops_agent.reconcile.metrics import Metrics
from gitops_agent.reconcile.objects import depends_on
from gitops_agent.reconcile.runs import RunKey, TaskRun
from gitops_agent.reconcile.status_page import Observed, observe, observe_failure
from gitops_agent.vocabulary.objects import Manifest, is_job, ref_of

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Desired:
    """What git wants for one environment at one revision."""

    revision: str
    objects: tuple[Manifest, ...]


class TaskRunLog(Protocol):
    """The recorded task-run facts of one environment."""

    def latest(self) -> Mapping[RunKey, TaskRun]:
        """The newest fact per run (read from git once, then kept current in memory)."""
        ...

    def record(self, revision: str, runs: Sequence[TaskRun]) -> None:
        """Keep new facts (a failure to write is reported, not raised)."""
        ...


@dataclass(frozen=True)
class LoopEnvironment:
    """One environment the loop reconciles: how to read git, how to reach the cluster."""

    name: str
    target: Target
    self_heal: bool
    head: Callable[[], str]
    """The environment branch's newest commit (fetches from the remote); may raise."""
    render: Callable[[str], Desired]
    """Render the branch at a revision; may raise."""
    cluster: Cluster
    record: Callable[[ChangeSet, bool], None] | None = None
    """Called after a sync that changed or failed something (``True``: it fixed drift)."""
    runs: TaskRunLog | None = None
    """Where task-run facts are read from and kept (git notes, by the caller)."""




@dataclass(frozen=True)
class LoopSettings:
    interval: float
    jitter: float = 0.1
    once: bool = False
    max_backoff: float = 300.0
    freeze_heap: bool = False
    """After the first round of a new revision, move the objects alive then (the render, the
    watch cache's lists) out of the cyclic garbage collector's passes (``gc.freeze``): its full
    passes over a large heap are most of a no-op round's CPU otherwise. They are still freed
    by reference counting when released; only reference cycles among them wait for the next
    revision (``gc.unfreeze`` and a collection). For the loop's own process (it changes the
    whole interpreter), not for a library caller."""


Page = Callable[[str], tuple[int, str] | None]
"""The status page for a URL path: (HTTP status, HTML), or None when the path is no page."""


@dataclass(frozen=True)
class _Served:
    """What one status server serves."""

    metrics: Metrics
    healthy: Callable[[], bool]
    pages: Page | None


class _StatusHandler(BaseHTTPRequestHandler):
    """The status server's requests; a subclass per server carries what it serves."""

    served: _Served

    def do_GET(self) -> None:
        self._serve(head=False)

    def do_HEAD(self) -> None:
        self._serve(head=True)

    def __getattr__(self, name: str) -> Callable[[], None]:
        if name.startswith("do_"):  # every other method, known or not: read-only here
            return self._not_allowed
        raise AttributeError(name)

    def _not_allowed(self) -> None:
        self.send_response(405)
        self.send_header("Allow", "GET, HEAD")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def _serve(self, *, head: bool) -> None:
        path = urllib.parse.unquote(self.path.split("?")[0])
        if path == "/metrics":
            body, content_type = self.served.metrics.exposition(self.headers.get("Accept", ""))
            self._answer(200, body, content_type, head)
        elif path == "/healthz":
            ok = self.served.healthy()
            self._answer(200 if ok else 503, b"ok\n" if ok else b"unhealthy\n", "text/plain", head)
        elif (page := self._page(path)) is not None:
            self._answer(page[0], page[1].encode(), "text/html; charset=utf-8", head)
        else:
            self._answer(404, b"not found\n", "text/plain", head)

    def _page(self, path: str) -> tuple[int, str] | None:
        pages = self.served.pages
        if pages is None:
            return None
        try:
            return pages(path)
        except Exception as error:  # one failed page must not end the server or print a traceback
            log.warning("status page %s failed: %s: %s", path, type(error).__name__, error)
            return 500, "<!doctype html><title>error</title><p>The page could not be built; see the log.</p>"

    def _answer(self, status: int, data: bytes, content_type: str, head: bool) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        # no script may run on the pages, whatever a name in them says
        self.send_header("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'")
        self.send_header("X-Content-Type-Options", "nosniff")
        self.end_headers()
        if not head:
            self.wfile.write(data)

    def log_message(self, format: str, *args: object) -> None:
        log.debug("status server: " + format, *args)


class StatusServer:
    """``/metrics``, ``/healthz`` and the status pages on a port (0: any free port; see ``port``).

    Read-only: GET and HEAD; any other method is answered 405 Method Not Allowed (RFC 9110).
    """

    def __init__(
        self, metrics: Metrics, healthy: Callable[[], bool], port: int, host: str = "", pages: Page | None = None
    ) -> None:
        """Bind ``host:port`` at once; ExternalError (exit 3) when the port cannot be had (in use,
        privileged without the right, out of the range 0-65535)."""
        handler = type("Handler", (_StatusHandler,), {"served": _Served(metrics, healthy, pages)})
        try:
            self._server = ThreadingHTTPServer((host, port), handler)
        except (OSError, OverflowError) as error:
            reason = error.strerror if isinstance(error, OSError) and error.strerror else str(error)
            raise ExternalError(f"cannot listen on port {port}: {reason.lower()}") from error
        self._server.daemon_threads = True
        self.port = int(self._server.server_address[1])
        self._thread = threading.Thread(target=self._server.serve_forever, name="status-server", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def freeze_long_lived() -> None:
    """Collect what a new revision left behind (earlier frozen objects included), then keep
    every object alive now out of later collections (Python ``gc.freeze``)."""
    gc.unfreeze()
    gc.collect()
    gc.freeze()


@dataclass
class _EnvState:
    desired: Desired | None = None
    failures: int = 0
    next_round: float = 0.0
    tasks_pending: bool = False
    """The last sync of this revision left objects waiting for their tasks: the sync of the
    revision is not finished, so the next round continues it (self-heal or not)."""
    observed: Observed | None = None
    """The last round's facts, for the status page."""
    memo: PlanMemo = field(default_factory=PlanMemo)
    """What earlier rounds proved unchanged (see :mod:`gitops_agent.reconcile.memo`)."""


@dataclass
class Reconciler:
    """Runs rounds for several environments until ``stop`` is set."""

    environments: Sequence[LoopEnvironment]
    settings: LoopSettings
    metrics: Metrics = field(default_factory=Metrics)
    stop: threading.Event = field(default_factory=threading.Event)
    progress: Callable[[str], None] = field(default=lambda _message: None)
    last_round: float = field(default_factory=time.monotonic)
    _states: dict[str, _EnvState] = field(default_factory=dict)

    def observed(self, name: str) -> Observed | None:
        """What the last round of environment ``name`` saw (None before its first round)."""
        state = self._states.get(name)
        return None if state is None else state.observed

    def healthy(self) -> bool:
        """Alive: a round finished recently (allowing for backoff)."""
        allowance = max(3 * self.settings.interval, 60.0) + self.settings.max_backoff
        return time.monotonic() - self.last_round < allowance

    def _delay(self, state: _EnvState) -> float:
        base = self.settings.interval
        if state.failures:
            base = min(self.settings.interval * (2 ** min(state.failures, 16)), self.settings.max_backoff)
        return base * (1 + random.uniform(-self.settings.jitter, self.settings.jitter))

    def run(self) -> int:
        """Loop until stopped (or one round with ``once``); exit code 0, or 3 after a failed --once.

        A later call continues where the last one stopped (the rendered revision, what earlier
        rounds proved, the backoff), as the next rounds of the same loop."""
        failed = False
        for env in self.environments:
            self._states.setdefault(env.name, _EnvState())  # a later run continues the rounds
        while not self.stop.is_set():
            now = time.monotonic()
            for env in self.environments:
                state = self._states[env.name]
                if now < state.next_round or self.stop.is_set():
                    continue
                ok = self.round(env, state)
                failed = failed or not ok
                state.failures = 0 if ok else state.failures + 1
                state.next_round = time.monotonic() + self._delay(state)
            self.last_round = time.monotonic()
            if self.settings.once:
                break
            upcoming = min(s.next_round for s in self._states.values())
            self.stop.wait(max(0.05, upcoming - time.monotonic()))
        return 3 if (failed and self.settings.once) else 0

    def round(self, env: LoopEnvironment, state: _EnvState) -> bool:
        """One round for one environment; False when something failed (it is counted)."""
        started = time.monotonic()
        new_revision = self._refresh_desired(env, state)
        desired = state.desired
        if desired is None:
            return False
        runs = env.runs.latest() if env.runs is not None else {}
        target = Target(**{**env.target.__dict__, "revision": desired.revision, "runs": runs})
        try:
            found = plan(env.cluster, desired.objects, target, memo=state.memo).change_set()
            if env.runs is not None and found.runs:
                env.runs.record(desired.revision, found.runs)
                target = Target(**{**target.__dict__, "runs": env.runs.latest()})
            drifted = [c for c in found.changes if c.action in CHANGING]
            self.metrics.set("gitops_agent_drifted_objects", len(drifted), environment=env.name)
            result: ChangeSet | None = None
            outcome = "success"
            if drifted and (new_revision or env.self_heal or (state.tasks_pending and not new_revision)):
                result = sync(env.cluster, list(desired.objects), target, SyncOptions())
                outcome = self._count_sync(env, state, desired, drifted, result, new_revision=new_revision)
            elif drifted:
                self.metrics.add("gitops_agent_drift_found_total", len(drifted), environment=env.name)
                self.progress(f"{env.name}: {len(drifted)} objects differ from git (selfHeal is off)")
            state.observed = observe(state.observed, desired.revision, desired.objects, found, result,
                                     drift_fix=not new_revision, at=time.time())
            if new_revision and self.settings.freeze_heap:
                freeze_long_lived()
        except GitOpsAgentError as error:
            state.observed = observe_failure(state.observed, desired.revision, desired.objects, str(error),
                                             at=time.time())
            self.metrics.add("gitops_agent_reconcile_errors_total", environment=env.name, source="cluster")
            self.metrics.add("gitops_agent_syncs_total", result="error", environment=env.name)
            self.progress(f"{env.name}: {error}")
            return False
        finally:
            duration = time.monotonic() - started
            self.metrics.observe("gitops_agent_sync_duration_seconds", duration, environment=env.name)
        if outcome == "success":
            self.metrics.set("gitops_agent_last_success_timestamp_seconds", time.time(), environment=env.name)
            return True
        return False

    def _refresh_desired(self, env: LoopEnvironment, state: _EnvState) -> bool:
        """Render git's head when it moved (True: a new revision). While git is unreachable the
        last state git gave is enforced; with none yet, ``state.desired`` stays None."""
        try:
            head = env.head()
            if state.desired is None or state.desired.revision != head:
                state.desired = env.render(head)
                self.progress(f"{env.name}: rendered {head[:12]} ({len(state.desired.objects)} objects)")
                return True
        except GitOpsAgentError as error:
            source = "cluster" if isinstance(error, ClusterError) else "git"
            self.metrics.add("gitops_agent_reconcile_errors_total", environment=env.name, source=source)
            self.progress(f"{env.name}: {error}")
            if state.desired is None:
                state.observed = observe_failure(state.observed, "", (), str(error), at=time.time())
        return False

    def _count_sync(
        self,
        env: LoopEnvironment,
        state: _EnvState,
        desired: Desired,
        drifted: Sequence[Change],
        result: ChangeSet,
        *,
        new_revision: bool,
    ) -> str:
        """Metrics, progress lines, the sync record and task runs of one sync; its outcome."""
        # creating a task's Job or a dependent object is the revision's scheduled work, not drift
        scheduled = {ref_of(o).key for o in desired.objects if is_job(o) or depends_on(o)}

        def is_drift(change: Change) -> bool:
            return not (change.action is Action.CREATE and change.ref.key in scheduled)

        state.tasks_pending = any(c.action is Action.WAITING for c in result.changes)
        fixed = [c for c in result.changes if c.action in CHANGING]
        errors = [c for c in result.changes if c.action is Action.ERROR]
        drift_fixed = [c for c in fixed if is_drift(c)]
        if not new_revision:
            found_drift = sum(1 for c in drifted if is_drift(c))
            self.metrics.add("gitops_agent_drift_found_total", found_drift, environment=env.name)
            self.metrics.add("gitops_agent_drift_fixed_total", len(drift_fixed), environment=env.name)
        self.metrics.add("gitops_agent_apply_errors_total", len(errors), environment=env.name)
        self.metrics.set("gitops_agent_drifted_objects", len(errors), environment=env.name)
        for change in fixed:
            self.progress(f"{env.name}: {change.action} {change.ref}")
        for change in errors:
            self.progress(f"{env.name}: error: {change.message}")
        outcome = "error" if errors else "success"
        self.metrics.add("gitops_agent_syncs_total", result=outcome, environment=env.name)
        if env.record is not None and (fixed or errors):
            env.record(result, not new_revision and bool(drift_fixed))
        if env.runs is not None:
            env.runs.record(desired.revision, result.runs)
        return outcome
