"""``gitops-agent rollback ENV --to REF``: restore an earlier tree with a new commit, then sync."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Any

import typer

from gitops_agent.app.environment import load_environment
from gitops_agent.app.sync import ClusterAccess, sync_environment
from gitops_agent.commands.common import (
    ContextOption,
    KubeconfigOption,
    OutputFormat,
    OutputOption,
    RepoOption,
    VerboseOption,
    emit_json,
    parse_seconds,
    process_started,
    progress,
    say,
    setup_logging,
)
from gitops_agent.commands.format import print_change_set, raise_cluster_errors
from gitops_agent.errors import EXIT_OK
from gitops_agent.history.notes import SyncEvent
from gitops_agent.history.rollback import rollback_branch
from gitops_agent.reconcile.engine import SyncOptions


def rollback(
    env: Annotated[str, typer.Argument(help="Environment name.")],
    to: Annotated[str, typer.Option("--to", help="Earlier commit of the environment branch.")],
    no_sync: Annotated[bool, typer.Option("--no-sync", help="Only commit (and push).")] = False,
    wait: Annotated[bool, typer.Option("--wait", help="Wait for task order and health.")] = False,
    timeout: Annotated[str, typer.Option("--timeout", help="How long --wait waits.")] = "5m",
    repo: RepoOption = Path(),
    kubeconfig: KubeconfigOption = None,
    context: ContextOption = None,
    output: OutputOption = OutputFormat.TEXT,
    verbose: VerboseOption = False,
) -> int:
    """A new commit on the environment branch restoring REF's tree, then a sync."""
    started = process_started()
    setup_logging(verbose)
    options = SyncOptions(wait=wait, timeout=parse_seconds(timeout, "--timeout"))
    environment = load_environment(repo, env)
    result = rollback_branch(repo, environment, to)
    if result.commit is None:
        progress(f"{environment.branch} already has the tree of {result.target[:12]}")
    else:
        pushed = " and pushed" if result.pushed else ""
        progress(f"committed {result.commit[:12]} on {environment.branch}{pushed}: tree of {result.target[:12]}")
    change_set = None
    if not no_sync:
        change_set = sync_environment(
            repo,
            environment,
            result.head,
            options,
            ClusterAccess(kubeconfig, context),
            event=SyncEvent.ROLLBACK,
            progress=None if output == OutputFormat.JSON else progress,
            warn=progress,
        ).change_set
    if output == OutputFormat.JSON:
        document: dict[str, Any] = result.to_json()
        document["sync"] = change_set.to_json() if change_set is not None else None
        emit_json(document)
    elif change_set is not None:
        progress(f"sync of {environment.name} finished in {time.monotonic() - started:.1f}s")
        print_change_set(change_set, output)
    else:
        say(f"{environment.name}: {environment.branch} at {result.head[:12]} (not synced)")
    if change_set is not None and change_set.errors:
        raise_cluster_errors(change_set, "rollback sync failed")
    return EXIT_OK


def register(app: typer.Typer) -> None:
    app.command("rollback")(rollback)
