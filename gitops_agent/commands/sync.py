"""``gitops-agent sync ENV``: apply drift fixes in order, prune, wait for health."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer

from gitops_agent.app.environment import load_environment
from gitops_agent.app.sync import ClusterAccess, sync_environment
from gitops_agent.commands.common import (
    ContextOption,
    KubeconfigOption,
    OutputFormat,
    OutputOption,
    RefOption,
    RepoOption,
    VerboseOption,
    live_progress,
    parse_seconds,
    process_started,
    progress,
    setup_logging,
)
from gitops_agent.commands.format import print_change_set, raise_cluster_errors
from gitops_agent.errors import EXIT_DIFFERENCES, EXIT_OK
from gitops_agent.reconcile.engine import SyncOptions


def sync(
    env: Annotated[str, typer.Argument(help="Environment name.")],
    ref: RefOption = None,
    prune: Annotated[bool, typer.Option("--prune", help="Delete owned objects git no longer has.")] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Show what would change; write nothing.")] = False,
    wait: Annotated[bool, typer.Option("--wait", help="Wait for task order and health.")] = False,
    timeout: Annotated[str, typer.Option("--timeout", help="How long --wait waits (e.g. 5m).")] = "5m",
    force_conflicts: Annotated[
        bool | None,
        typer.Option(
            "--force-conflicts/--no-force-conflicts",
            help="Take fields git sets over from other field managers (default: the environment's "
            "sync.force, true unless set false); --no-force-conflicts reports them as conflicts instead.",
        ),
    ] = None,
    allow_mass_prune: Annotated[
        bool,
        typer.Option("--allow-mass-prune", help="Allow pruning more than sync.maxPrunePercent."),
    ] = False,
    repo: RepoOption = Path(),
    kubeconfig: KubeconfigOption = None,
    context: ContextOption = None,
    output: OutputOption = OutputFormat.TEXT,
    verbose: VerboseOption = False,
) -> int:
    """Make the cluster match the environment branch (exit 3 when the cluster refused, or with --wait
    when a task failed or health was not reached in time)."""
    started = process_started()
    setup_logging(verbose)
    options = SyncOptions(
        prune=prune,
        dry_run=dry_run,
        wait=wait,
        timeout=parse_seconds(timeout, "--timeout"),
        force_conflicts=force_conflicts,
        allow_mass_prune=allow_mass_prune,
    )
    environment = load_environment(repo, env)
    outcome = sync_environment(
        repo,
        environment,
        ref,
        options,
        ClusterAccess(kubeconfig, context),
        progress=live_progress if output == OutputFormat.TEXT else None,
        warn=progress,
    )
    change_set = outcome.change_set
    if outcome.throttled:
        progress(f"the API server throttled {outcome.throttled} requests (429); all were retried")
    if output == OutputFormat.TEXT:  # what the person waited for, from the process's start
        progress(f"sync of {environment.name} finished in {time.monotonic() - started:.1f}s")
    print_change_set(change_set, output, show_unchanged=wait)  # --wait: every object and its health
    if change_set.errors:
        raise_cluster_errors(change_set, "sync failed")
    if dry_run and change_set.has_changes:
        return EXIT_DIFFERENCES
    return EXIT_OK


def register(app: typer.Typer) -> None:
    app.command("sync")(sync)
