"""``gitops-agent rollback ENV --to REF``: restore an earlier tree with a new commit, then sync."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Any

import typer

from gitops_agent.commands.common import (
    ContextOption,
    KubeconfigOption,
    OutputFormat,
    OutputOption,
    RepoOption,
    VerboseOption,
    emit_json,
    process_started,
    progress,
    say,
)
from gitops_agent.commands.diff import (
    connect,
    load_environment,
    parse_seconds,
    print_change_set,
    raise_cluster_errors,
    record_observed_runs,
    recorded_runs,
    render_desired,
    setup_logging,
)
from gitops_agent.errors import EXIT_OK
from gitops_agent.notes import SyncEvent, SyncRecord, record_sync
from gitops_agent.reconcile.changeset import CHANGING, ChangeSet
from gitops_agent.reconcile.engine import SyncOptions
from gitops_agent.reconcile.engine import sync as sync_objects
from gitops_agent.rollback import rollback_branch
from gitops_agent.spec.model import Environment
from gitops_agent.targets import target_for


def _sync(
    repo: Path,
    environment: Environment,
    revision: str,
    options: SyncOptions,
    *,
    kubeconfig: Path | None,
    context: str | None,
    quiet: bool,
) -> ChangeSet:
    """Sync the environment to ``revision`` and record it as a rollback sync."""
    rendered = render_desired(repo, environment, revision)
    cluster = connect(kubeconfig, context, environment)
    try:
        change_set = sync_objects(
            cluster,
            list(rendered.objects),
            target_for(environment, rendered.revision, recorded_runs(repo, environment)),
            options,
            progress=None if quiet else progress,
        )
    finally:
        cluster.close()
    failed = len(change_set.errors)
    record_sync(
        repo,
        environment.name,
        revision,
        SyncRecord(
            summary=change_set.summary(),
            result=f"failed: {failed} object(s)" if failed else "succeeded",
            event=SyncEvent.ROLLBACK,
            context=context or environment.context,
            changes=tuple(f"{c.action} {c.ref}" for c in change_set.changes if c.action in CHANGING),
            health=str(change_set.health),
        ),
    )
    record_observed_runs(repo, environment, change_set)
    return change_set


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
        change_set = _sync(
            repo,
            environment,
            result.head,
            options,
            kubeconfig=kubeconfig,
            context=context,
            quiet=output == OutputFormat.JSON,
        )
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
