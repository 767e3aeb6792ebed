"""``gitops-agent diff ENV``: the live cluster against git, what a sync would change."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated

import typer

from gitops_agent.adapters.kube import KubeCluster
from gitops_agent.commands.common import (
    ContextOption,
    KubeconfigOption,
    OutputFormat,
    OutputOption,
    RefOption,
    RepoOption,
    VerboseOption,
    configure_logging,
    emit_json,
    progress,
    say,
)
from gitops_agent.errors import EXIT_DIFFERENCES, EXIT_OK, ClusterError, GitOpsAgentError, InvalidInputError
from gitops_agent.notes import SyncEvent, SyncRecord, read_task_runs, record_runs, record_sync
from gitops_agent.reconcile.changeset import CHANGING, Action, ChangeSet
from gitops_agent.reconcile.engine import diff as diff_objects
from gitops_agent.reconcile.runs import RunKey, TaskRun, latest_runs
from gitops_agent.render import Rendered, render_ref
from gitops_agent.spec.cache import load_specs_cached
from gitops_agent.spec.model import Environment
from gitops_agent.targets import target_for
from gitops_agent.vocabulary.durations import parse_duration

_SYMBOL = {
    Action.CREATE: "+",
    Action.UPDATE: "~",
    Action.DELETE: "-",
    Action.WAITING: "…",
    Action.BLOCKED: "!",
    Action.ERROR: "x",
}


def setup_logging(verbose: bool) -> None:
    """Logs on stderr; the HTTP library's retry warnings only with ``-v``."""
    configure_logging(verbose)
    logging.getLogger("urllib3").setLevel(logging.DEBUG if verbose else logging.ERROR)


def load_environment(repo: Path, name: str) -> Environment:
    """The named environment of the repository (exit 2 when unknown or when any spec is
    invalid); unchanged spec files are not validated again (:mod:`gitops_agent.spec.cache`)."""
    specs = load_specs_cached(repo)
    if name not in specs.environments:
        known = ", ".join(sorted(specs.environments)) or "none"
        raise InvalidInputError(f"environment {name!r} not found (known: {known})")
    return specs.environments[name]


def connect(kubeconfig: Path | None, context: str | None, env: Environment) -> KubeCluster:
    """A connection to the environment's cluster (``--context`` overrides the environment's);
    ``ClusterError`` names the environment and its file when the kubeconfig cannot serve it."""
    try:
        return KubeCluster(kubeconfig, context or env.context)
    except ClusterError as error:
        raise ClusterError(f"environment {env.name} ({env.source}): {' '.join(str(error).split())}") from error


def render_desired(repo: Path, env: Environment, ref: str | None) -> Rendered:
    return render_ref(repo, env, ref)


def record(
    repo: Path, env: Environment, change_set: ChangeSet, *, context: str | None, drift_fix: bool = False
) -> None:
    """Append a sync record to the environment commit's note (a warning when git refuses)."""
    if not change_set.revision:
        return
    changes = tuple(
        f"{c.action} {c.ref.api_version} {c.ref.kind} {c.ref.namespace + '/' if c.ref.namespace else ''}{c.ref.name}"
        + (f" (changed out of band by {c.authors()})" if c.changed_by else "")
        for c in change_set.changes
        if c.action in CHANGING or c.action is Action.ERROR
    )
    drift = tuple(
        {"object": str(c.ref), "changedBy": [author.to_json() for author in c.changed_by]}
        for c in change_set.changes
        if c.changed_by and c.action in CHANGING
    )
    entry = SyncRecord(
        summary=change_set.summary(),
        result="failed" if change_set.errors else "succeeded",
        event=SyncEvent.DRIFT_FIX if drift_fix else SyncEvent.SYNC,
        context=context or env.context,
        changes=changes,
        health=str(change_set.health),
        drift=drift,
    )
    try:
        record_sync(repo, env.name, change_set.revision, entry)
    except GitOpsAgentError as error:
        progress(f"warning: the sync record was not written: {error}")


def recorded_runs(repo: Path, env: Environment) -> dict[RunKey, TaskRun]:
    """The newest recorded fact per task run of ``env`` (notes fetched from origin first)."""
    return latest_runs(read_task_runs(repo, env.name, fetch=True))


def record_observed_runs(repo: Path, env: Environment, change_set: ChangeSet) -> None:
    """Keep the task-run facts a sync observed in git (a warning when git refuses)."""
    if not change_set.revision or not change_set.runs:
        return
    try:
        record_runs(repo, env.name, change_set.revision, change_set.runs)
    except GitOpsAgentError as error:
        progress(f"warning: {len(change_set.runs)} task-run record(s) were not written: {error}")


def parse_seconds(value: str, flag: str) -> float:
    seconds = parse_duration(value)
    if seconds is None:
        raise InvalidInputError(f"{flag} {value}: expected a duration such as 30s, 5m or 1h")
    return float(seconds)


def print_change_set(change_set: ChangeSet, output: OutputFormat, *, show_unchanged: bool = False) -> None:
    """The change set as JSON (exactly one document) or as lines and diffs for people."""
    if output == OutputFormat.JSON:
        emit_json(change_set.to_json())
        return
    risks = change_set.risks()
    if risks:
        say("Risk summary:")
        for line in risks:
            say(f"  ! {line}")
    for change in change_set.changes:
        if change.action is Action.UNCHANGED and not show_unchanged:
            continue
        symbol = _SYMBOL.get(change.action, "=")
        line = f"{symbol} {change.action:<9} {change.ref} (wave {change.wave})"
        if show_unchanged and change.health is not None:
            line += f" [{change.health}]"
        if change.message:
            line += f": {change.message}"
        say(line)
        if change.changed_by:
            say(f"    changed out of band by {change.authors()}")
        for field_change in change.fields if change.action in CHANGING else ():
            say(f"    {field_change.text()}")
        if change.action is Action.UPDATE and change.diff:  # made only where it is shown
            for diff_line in change.diff.splitlines():
                color = {"+": typer.colors.GREEN, "-": typer.colors.RED}.get(diff_line[:1])
                if diff_line.startswith(("+++", "---")):
                    color = None
                typer.secho(f"    {diff_line}", fg=color)
    summary = change_set.summary()
    counts = ", ".join(
        f"{count} {action}"
        for action, count in summary.items()
        if count or action in ("create", "update", "delete", "unchanged")
    )
    revision = change_set.revision[:12] or "working tree"
    say(f"{change_set.environment} @ {revision}: {counts}; health {change_set.health}")
    for note in change_set.notes:
        say(f"note: {note}")


def diff(
    env: Annotated[str, typer.Argument(help="Environment name.")],
    ref: RefOption = None,
    repo: RepoOption = Path(),
    kubeconfig: KubeconfigOption = None,
    context: ContextOption = None,
    output: OutputOption = OutputFormat.TEXT,
    verbose: VerboseOption = False,
) -> int:
    """Compare the live cluster with the environment branch (exit 1 when they differ)."""
    setup_logging(verbose)
    environment = load_environment(repo, env)
    rendered = render_desired(repo, environment, ref)
    cluster = connect(kubeconfig, context, environment)
    try:
        target = target_for(environment, rendered.revision, recorded_runs(repo, environment))
        change_set = diff_objects(cluster, list(rendered.objects), target)
    finally:
        cluster.close()
    print_change_set(change_set, output)
    if change_set.errors:
        first = change_set.errors[0]
        raise_cluster_errors(change_set, f"{first.message}")
    return EXIT_DIFFERENCES if change_set.has_changes else EXIT_OK


def raise_cluster_errors(change_set: ChangeSet, headline: str) -> None:
    """Exit 3 with one line per failed object (after the change set was printed)."""
    errors = sorted(change_set.errors, key=lambda c: c.action is not Action.ERROR)
    lines = [c.message if c.message.startswith(str(c.ref)) else f"{c.ref}: {c.message}" for c in errors]
    count = len(lines)
    summary = lines[0] if count == 1 else f"{count} objects failed:\n  " + "\n  ".join(lines)
    raise ClusterError(summary or headline)


def register(app: typer.Typer) -> None:
    app.command("diff")(diff)
