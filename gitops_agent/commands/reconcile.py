"""``gitops-agent reconcile [ENV…]``: the loop that keeps clusters equal to git."""

from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import Annotated

import typer

from gitops_agent.app.loop import LoopOptions, run_loop
from gitops_agent.app.sync import ClusterAccess
from gitops_agent.commands.common import (
    ContextOption,
    KubeconfigOption,
    RepoOption,
    VerboseOption,
    parse_seconds,
    progress,
    setup_logging,
)
from gitops_agent.errors import InvalidInputError
from gitops_agent.reconcile.leader import DEFAULT_LEASE_NAME, LeaderSettings, select_shard
from gitops_agent.spec import load_specs
from gitops_agent.spec.model import Environment


def _interval(interval: str | None, environments: list[Environment]) -> float:
    """--interval, else the shortest sync.interval of the environments (seconds)."""
    if interval is not None:
        return parse_seconds(interval, "--interval")
    return min(parse_seconds(env.sync.interval, f"{env.name}: sync.interval") for env in environments)


MAX_PORT = 65535
"""The highest TCP port (RFC 793's 16-bit port field)."""


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
    if not -1 <= metrics_port <= MAX_PORT:
        raise InvalidInputError(
            f"--metrics-port {metrics_port}: expected a port 1-{MAX_PORT}, 0 (any free port) or -1 (none)"
        )
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
    leader = None
    if leader_elect:
        leader = LeaderSettings(
            namespace=lease_namespace,
            name=lease_name if shard_count == 1 else f"{lease_name}-shard-{shard_index}",
            identity=identity or f"{socket.gethostname()}-{os.getpid()}",
            lease_duration=parse_seconds(lease_duration, "--lease-duration"),
            renew_deadline=parse_seconds(renew_deadline, "--renew-deadline"),
            retry_period=parse_seconds(retry_period, "--retry-period"),
        )
    environments = [specs.environments[name] for name in names]
    options = LoopOptions(_interval(interval, environments), once, metrics_port, leader)
    return run_loop(repo, specs, environments, ClusterAccess(kubeconfig, context), options, progress)


def register(app: typer.Typer) -> None:
    app.command("reconcile")(reconcile)
