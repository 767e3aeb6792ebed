"""The ``reconcile`` loop wired to a repository: environments, their clusters, the task-run
log in git notes, leader election, sharding and the /metrics and status-page server."""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

from gitops_agent.adapters.kube import KubeCluster
from gitops_agent.app.environment import connect
from gitops_agent.app.records import record
from gitops_agent.app.status_site import StatusSite
from gitops_agent.app.sync import ClusterAccess
from gitops_agent.app.targets import target_for
from gitops_agent.errors import EXIT_EXTERNAL, ClusterError, ExternalError, GitOpsAgentError
from gitops_agent.history.notes import SyncEvent, read_task_runs, record_runs
from gitops_agent.reconcile.cache import CachedCluster
from gitops_agent.reconcile.changeset import ChangeSet
from gitops_agent.reconcile.leader import LeaderElector, LeaderSettings, run_as_leader
from gitops_agent.reconcile.loop import Desired, LoopEnvironment, LoopSettings, Reconciler, StatusServer
from gitops_agent.reconcile.runs import RunKey, TaskRun, latest_runs
from gitops_agent.render.overlay import render_ref, resolve_env_revision
from gitops_agent.spec.model import Environment, SpecSet

Say = Callable[[str], None]


class NotesRunLog:
    """Task-run facts of one environment in git notes, read again at most every ``max_age``
    seconds (another replica may have recorded some) and kept current in memory between reads."""

    def __init__(self, repo: Path, env: Environment, say: Say, max_age: float = 60.0) -> None:
        self._repo, self._env, self._say, self._max_age = repo, env, say, max_age
        self._latest: dict[RunKey, TaskRun] = {}
        self._read_at: float | None = None

    def latest(self) -> Mapping[RunKey, TaskRun]:
        if self._read_at is None or time.monotonic() - self._read_at > self._max_age:
            try:
                self._latest = latest_runs(read_task_runs(self._repo, self._env.name, fetch=True))
                self._read_at = time.monotonic()
            except GitOpsAgentError as error:  # git unreachable: keep what is known
                self._say(f"{self._env.name}: task-run records not read: {error}")
        return dict(self._latest)

    def _is_new(self, run: TaskRun) -> bool:
        previous = self._latest.get(run.key)
        return previous is None or previous.outcome is not run.outcome

    def record(self, revision: str, runs: Sequence[TaskRun]) -> None:
        new = [run for run in runs if self._is_new(run)]
        if not new:
            return
        self._latest.update({r.key: r for r in new})
        try:
            record_runs(self._repo, self._env.name, revision, new)
        except GitOpsAgentError as error:
            self._say(f"{self._env.name}: warning: {len(new)} task-run record(s) were not written: {error}")


@dataclass(frozen=True)
class LoopOptions:
    """How the loop runs: seconds between rounds, one round only, the /metrics port (0: any
    free port, -1: none) and, for leader election, the Lease's settings (None: no election)."""

    interval: float
    once: bool = False
    metrics_port: int = 8080
    leader: LeaderSettings | None = None


def _loop_environment(
    repo: Path, env: Environment, access: ClusterAccess, say: Say
) -> tuple[LoopEnvironment, CachedCluster]:
    cluster = CachedCluster(connect(access.kubeconfig, access.context, env))

    def head() -> str:
        return resolve_env_revision(repo, env, None)

    def render(revision: str) -> Desired:
        return Desired(revision, render_ref(repo, env, revision).objects)

    def keep_record(change_set: ChangeSet, drift_fix: bool) -> None:
        event = SyncEvent.DRIFT_FIX if drift_fix else SyncEvent.SYNC
        record(repo, env, change_set, context=access.context, event=event, warn=say)

    loop_env = LoopEnvironment(
        name=env.name,
        target=target_for(env, None),
        self_heal=env.sync.self_heal,
        head=head,
        render=render,
        cluster=cluster,
        record=keep_record,
        runs=NotesRunLog(repo, env, say),
    )
    return loop_env, cluster


def build_environments(
    repo: Path, environments: Sequence[Environment], access: ClusterAccess, say: Say
) -> tuple[list[tuple[LoopEnvironment, CachedCluster]], list[str]]:
    """Each environment's loop state; one whose cluster cannot be reached is reported and left
    out (the others are still reconciled). Raises the ClusterError when no environment is left."""
    built: list[tuple[LoopEnvironment, CachedCluster]] = []
    failed: list[str] = []
    first: ClusterError | None = None
    for env in environments:
        try:
            built.append(_loop_environment(repo, env, access, say))
        except ClusterError as error:
            say(f"error: {error}; {env.name} is not reconciled")
            failed.append(env.name)
            first = first or error
    if first is not None and not built:
        raise first
    return built, failed


def _lead_with(reconciler: Reconciler, leading: threading.Event) -> Callable[[threading.Event], int]:
    """The work a leader does: run the loop until ``stop_work`` (the Lease lost) is set."""

    def lead(stop_work: threading.Event) -> int:
        leading.set()
        reconciler.metrics.set("gitops_agent_leader", 1.0)
        reconciler.last_round = time.monotonic()
        reconciler.stop = stop_work
        try:
            return reconciler.run()
        finally:
            reconciler.metrics.set("gitops_agent_leader", 0.0)
            leading.clear()

    return lead


def _start_server(
    repo: Path, specs: SpecSet, environments: Sequence[Environment], reconciler: Reconciler,
    options: LoopOptions, healthy: Callable[[], bool], say: Say,
) -> StatusServer | None:
    if options.metrics_port < 0 or options.once:
        return None
    refresh = int(min(max(options.interval, 5), 60))
    site = StatusSite(repo, specs, environments, reconciler, refresh_seconds=refresh)
    try:
        server = StatusServer(reconciler.metrics, healthy, options.metrics_port, pages=site.page)
    except ExternalError as error:
        raise ExternalError(f"--metrics-port: {error} (0: any free port; -1: none)") from error
    server.start()
    say(f"serving /metrics and /healthz on port {server.port}")
    say(f"status page: http://localhost:{server.port}/")
    return server


def run_loop(
    repo: Path, specs: SpecSet, environments: Sequence[Environment], access: ClusterAccess,
    options: LoopOptions, say: Say,
) -> int:
    """Reconcile ``environments`` until SIGTERM/SIGINT (or one round with ``once``).

    Returns the exit code: 0, or 3 when some environment's cluster could not be reached.
    Raises ClusterError when none can be.
    """
    elector, lease_cluster = None, None
    if options.leader is not None:
        lease_cluster = KubeCluster(access.kubeconfig, access.context)
        elector = LeaderElector(lease_cluster, options.leader)
    built, unreachable = build_environments(repo, environments, access, say)
    settings = LoopSettings(interval=options.interval, once=options.once, freeze_heap=True)
    reconciler = Reconciler([b[0] for b in built], settings, progress=say)
    leading = threading.Event()

    def healthy() -> bool:  # a follower waiting for the Lease is alive too
        return True if elector is not None and not leading.is_set() else reconciler.healthy()

    server = _start_server(repo, specs, environments, reconciler, options, healthy, say)

    def stop(signum: int, frame: FrameType | None) -> None:
        say(f"received signal {signum}: stopping after the current step")
        reconciler.stop.set()

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        say(f"reconciling {', '.join(env.name for env in environments)} every {options.interval:g}s")
        if elector is None:
            code = reconciler.run()
        else:
            code = run_as_leader(elector, _lead_with(reconciler, leading), reconciler.stop, progress=say)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if server is not None:
            server.stop()
        for _, cluster in built:
            cluster.close()
        if lease_cluster is not None:
            lease_cluster.close()
    say("stopped")
    return EXIT_EXTERNAL if unreachable and code == 0 else code
