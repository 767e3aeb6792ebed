"""``gitops-agent reconcile [ENV…]``: the loop that keeps clusters equal to git."""

from __future__ import annotations

import os
import signal
import socket
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import FrameType
from typing import Annotated

import typer

from gitops_agent.adapters.kube import KubeCluster
from gitops_agent.commands.common import ContextOption, KubeconfigOption, RepoOption, VerboseOption, progress
from gitops_agent.commands.diff import connect, parse_seconds, record, setup_logging
from gitops_agent.commands.status_site import StatusSite
from gitops_agent.errors import EXIT_EXTERNAL, ClusterError, GitOpsAgentError, InvalidInputError
from gitops_agent.leader import DEFAULT_LEASE_NAME, LeaderElector, LeaderSettings, run_as_leader, select_shard
from gitops_agent.notes import read_task_runs, record_runs
from gitops_agent.reconcile.cache import CachedCluster
from gitops_agent.reconcile.loop import Desired, LoopEnvironment, LoopSettings, Reconciler, StatusServer
from gitops_agent.reconcile.runs import RunKey, TaskRun, latest_runs
from gitops_agent.render import render_ref, resolve_env_revision
from gitops_agent.spec import load_specs
from gitops_agent.spec.model import Environment
from gitops_agent.targets import target_for


class NotesRunLog:
    """Task-run facts of one environment in git notes, read again at most every ``max_age``
    seconds (another replica may have recorded some) and kept current in memory between reads."""

    def __init__(self, repo: Path, env: Environment, max_age: float = 60.0) -> None:
        self._repo, self._env, self._max_age = repo, env, max_age
        self._latest: dict[RunKey, TaskRun] = {}
        self._read_at: float | None = None

    def latest(self) -> Mapping[RunKey, TaskRun]:
        if self._read_at is None or time.monotonic() - self._read_at > self._max_age:
            try:
                self._latest = latest_runs(read_task_runs(self._repo, self._env.name, fetch=True))
                self._read_at = time.monotonic()
            except GitOpsAgentError as error:  # git unreachable: keep what is known
                progress(f"{self._env.name}: task-run records not read: {error}")
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
            progress(f"{self._env.name}: warning: {len(new)} task-run record(s) were not written: {error}")


def _loop_environment(
    repo: Path, env: Environment, kubeconfig: Path | None, context: str | None
) -> tuple[LoopEnvironment, CachedCluster]:
    cluster = CachedCluster(connect(kubeconfig, context, env))

    def head() -> str:
        return resolve_env_revision(repo, env, None)

    def render(revision: str) -> Desired:
        return Desired(revision, render_ref(repo, env, revision).objects)

    loop_env = LoopEnvironment(
        name=env.name,
        target=target_for(env, None),
        self_heal=env.sync.self_heal,
        head=head,
        render=render,
        cluster=cluster,
        record=lambda change_set, drift_fix: record(repo, env, change_set, context=context, drift_fix=drift_fix),
        runs=NotesRunLog(repo, env),
    )
    return loop_env, cluster


def reconcile(
    envs: Annotated[list[str] | None, typer.Argument(help="Environments (default: all).")] = None,
    interval: Annotated[
        str | None, typer.Option("--interval", help="Time between rounds (default: each environment's sync.interval).")
    ] = None,
    once: Annotated[bool, typer.Option("--once", help="One round per environment, then exit.")] = False,
    metrics_port: Annotated[
        int,
        typer.Option(
            "--metrics-port", help="Port of /metrics, /healthz and the status page (0: any free port; -1: none)."
        ),
    ] = 8080,
    repo: RepoOption = Path(),
    kubeconfig: KubeconfigOption = None,
    context: ContextOption = None,
    verbose: VerboseOption = False,
    leader_elect: Annotated[
        bool, typer.Option("--leader-elect", help="Reconcile only while holding the Lease (one active replica).")
    ] = False,
    lease_namespace: Annotated[str, typer.Option("--lease-namespace", help="Namespace of the Lease.")] = "gitops-agent",
    lease_name: Annotated[str, typer.Option("--lease-name", help="Name of the Lease.")] = DEFAULT_LEASE_NAME,
    lease_duration: Annotated[str, typer.Option("--lease-duration", help="How long a Lease counts.")] = "15s",
    renew_deadline: Annotated[
        str, typer.Option("--renew-deadline", help="Stop leading after failing to renew this long.")
    ] = "10s",
    retry_period: Annotated[str, typer.Option("--retry-period", help="Time between Lease attempts.")] = "2s",
    identity: Annotated[
        str | None, typer.Option("--identity", envvar="POD_NAME", help="This replica's name in the Lease.")
    ] = None,
    shard_index: Annotated[int, typer.Option("--shard-index", help="This replica's shard (0-based).")] = 0,
    shard_count: Annotated[
        int, typer.Option("--shard-count", help="Environments are split by crc32(name) % count.")
    ] = 1,
) -> int:
    """Follow the environment branches and keep the clusters equal to them (stop with SIGTERM)."""
    setup_logging(verbose)
    specs = load_specs(repo)
    names = envs or sorted(specs.environments)
    unknown = [name for name in names if name not in specs.environments]
    if unknown:
        raise InvalidInputError(
            f"environment {unknown[0]!r} not found (known: {', '.join(sorted(specs.environments))})"
        )
    names = select_shard(names, shard_index, shard_count)
    if not names:
        progress(f"shard {shard_index}/{shard_count} holds no environment; nothing to do")
        return 0
    elector = None
    lease_cluster = None
    if leader_elect:
        settings = LeaderSettings(
            namespace=lease_namespace,
            name=lease_name if shard_count == 1 else f"{lease_name}-shard-{shard_index}",
            identity=identity or f"{socket.gethostname()}-{os.getpid()}",
            lease_duration=parse_seconds(lease_duration, "--lease-duration"),
            renew_deadline=parse_seconds(renew_deadline, "--renew-deadline"),
            retry_period=parse_seconds(retry_period, "--retry-period"),
        )
        lease_cluster = KubeCluster(kubeconfig, context)
        elector = LeaderElector(lease_cluster, settings)
    environments = [specs.environments[name] for name in names]
    if interval is not None:
        seconds = parse_seconds(interval, "--interval")
    else:
        seconds = min(parse_seconds(env.sync.interval, f"{env.name}: sync.interval") for env in environments)
    built, unreachable = _build_environments(repo, environments, kubeconfig, context)
    reconciler = Reconciler([b[0] for b in built], LoopSettings(interval=seconds, once=once), progress=progress)
    leading = threading.Event()

    def healthy() -> bool:  # a follower waiting for the Lease is alive too
        return True if elector is not None and not leading.is_set() else reconciler.healthy()

    server = None
    if metrics_port >= 0 and not once:
        site = StatusSite(repo, specs, environments, reconciler, refresh_seconds=int(min(max(seconds, 5), 60)))
        server = StatusServer(reconciler.metrics, healthy, metrics_port, pages=site.page)
        server.start()
        progress(f"serving /metrics and /healthz on port {server.port}")
        progress(f"status page: http://localhost:{server.port}/")

    def stop(signum: int, frame: FrameType | None) -> None:
        progress(f"received signal {signum}: stopping after the current step")
        reconciler.stop.set()

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        progress(f"reconciling {', '.join(names)} every {seconds:g}s")
        if elector is None:
            code = reconciler.run()
        else:
            outer_stop = reconciler.stop

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

            code = run_as_leader(elector, lead, outer_stop, progress=progress)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if server is not None:
            server.stop()
        for _, cluster in built:
            cluster.close()
        if lease_cluster is not None:
            lease_cluster.close()
    progress("stopped")
    return EXIT_EXTERNAL if unreachable and code == 0 else code


def _build_environments(
    repo: Path, environments: list[Environment], kubeconfig: Path | None, context: str | None
) -> tuple[list[tuple[LoopEnvironment, CachedCluster]], list[str]]:
    """Each environment's loop state; one whose cluster cannot be reached is reported and left
    out (the others are still reconciled). Raises the error when no environment is left."""
    built: list[tuple[LoopEnvironment, CachedCluster]] = []
    failed: list[str] = []
    first: ClusterError | None = None
    for env in environments:
        try:
            built.append(_loop_environment(repo, env, kubeconfig, context))
        except ClusterError as error:
            progress(f"error: {error}; {env.name} is not reconciled")
            failed.append(env.name)
            first = first or error
    if first is not None and not built:
        raise first
    return built, failed


def register(app: typer.Typer) -> None:
    app.command("reconcile")(reconcile)
