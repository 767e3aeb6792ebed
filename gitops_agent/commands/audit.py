"""``gitops-agent audit [ENV] [--since D]``: spec commits → environment commits → syncs."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from gitops_agent.commands.common import (
    OutputFormat,
    OutputOption,
    RepoOption,
    VerboseOption,
    configure_logging,
    emit_json,
    say,
)
from gitops_agent.errors import EXIT_OK
from gitops_agent.history.audit import format_event, parse_since, timeline, to_json
from gitops_agent.spec import load_specs


def audit(
    env: Annotated[str | None, typer.Argument(help="Only this environment.")] = None,
    since: Annotated[str | None, typer.Option("--since", help="Only events newer than 7d, 12h, or a date.")] = None,
    no_fetch: Annotated[
        bool, typer.Option("--no-fetch", help="Read local refs only; do not fetch from origin.")
    ] = False,
    repo: RepoOption = Path(),
    output: OutputOption = OutputFormat.TEXT,
    verbose: VerboseOption = False,
) -> int:
    """The history, newest first: spec commits, compiles, syncs, drift fixes, task runs, proposals, rollbacks."""
    configure_logging(verbose)
    specs = load_specs(repo)
    events = timeline(repo, specs, environment=env, since=parse_since(since), fetch=not no_fetch)
    if output == OutputFormat.JSON:
        emit_json(to_json(events, env))
    else:
        for event in events:
            say(format_event(event))
        if not events:
            say("no events")
    return EXIT_OK


def register(app: typer.Typer) -> None:
    app.command("audit")(audit)
