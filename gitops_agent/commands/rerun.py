"""``gitops-agent rerun ENV TASK…``: ask for tasks that finished to run again, as a recorded act.

A finished task run is a fact (kept in git notes): the reconciler never creates a finished Job
again by itself. ``rerun`` records a ``rerun-requested`` fact for the current Job of each named
task (or Job name) at the environment branch's head; the next ``sync`` (or the loop) deletes the
finished Job, if it is still there, and creates it again. Exit 2 when a name matches no Job.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from gitops_agent.app.environment import load_environment
from gitops_agent.app.rerun import request_reruns
from gitops_agent.commands.common import OutputFormat, OutputOption, RefOption, RepoOption, emit_json, say
from gitops_agent.errors import EXIT_OK


def rerun(
    env: Annotated[str, typer.Argument(help="Environment name.")],
    tasks: Annotated[
        list[str], typer.Argument(help="Tasks to run again: TASK, WORKFLOW/TASK or a Job's name.")
    ],
    workflow: Annotated[
        str | None, typer.Option("--workflow", help="Only tasks of this workflow (when names repeat).")
    ] = None,
    ref: RefOption = None,
    repo: RepoOption = Path(),
    output: OutputOption = OutputFormat.TEXT,
) -> int:
    """Record that finished tasks must run again; the next sync recreates their Jobs."""
    environment = load_environment(repo, env)
    rendered, requests = request_reruns(repo, environment, ref, tasks, workflow)
    if output == OutputFormat.JSON:
        emit_json({"environment": env, "revision": rendered.revision, "runs": [r.to_json() for r in requests]})
    else:
        for request in requests:
            say(f"re-run requested: Job/{request.namespace}/{request.job} (task {request.task or '-'}); "
                "the next sync creates it again")
    return EXIT_OK


def register(app: typer.Typer) -> None:
    app.command("rerun")(rerun)
