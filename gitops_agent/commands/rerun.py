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

from gitops_agent.commands.common import OutputFormat, OutputOption, RefOption, RepoOption, emit_json, say
from gitops_agent.commands.diff import load_environment, render_desired
from gitops_agent.errors import EXIT_OK, InvalidInputError
from gitops_agent.notes import record_runs
from gitops_agent.reconcile.runs import RunOutcome, TaskRun, now, run_key
from gitops_agent.vocabulary.labels import PART_OF_LABEL, TASK_LABEL
from gitops_agent.vocabulary.objects import Manifest, is_job, labels_of, ref_of


def _matches(job: Manifest, name: str, workflow: str | None) -> bool:
    labels = labels_of(job)
    if workflow is not None and labels.get(PART_OF_LABEL) != workflow:
        return False
    return name in (labels.get(TASK_LABEL), ref_of(job).name)


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
    rendered = render_desired(repo, environment, ref)
    jobs = [obj for obj in rendered.objects if is_job(obj)]
    requests: list[TaskRun] = []
    for given in tasks:
        scope, _, name = given.rpartition("/") if "/" in given else (workflow, "", given)
        found = [job for job in jobs if _matches(job, name, scope or None)]
        if not found:
            raise InvalidInputError(
                f"{given}: no task or Job of that name in environment {env!r} (WORKFLOW/TASK or --workflow "
                "names a task of one workflow)"
            )
        owners = sorted({str(labels_of(job).get(PART_OF_LABEL, "")) for job in found})
        if len(owners) > 1:
            choices = ", ".join(f"{owner}/{name}" for owner in owners)
            raise InvalidInputError(f"{given}: tasks of several workflows have that name; say which: {choices}")
        for job in found:
            namespace = ref_of(job).namespace or environment.namespace
            labels = labels_of(job)
            requests.append(
                TaskRun(
                    namespace=namespace,
                    job=ref_of(job).name,
                    template_hash=run_key(job)[2],
                    outcome=RunOutcome.RERUN,
                    time=now(),
                    task=str(labels.get(TASK_LABEL, "")),
                    workflow=str(labels.get(PART_OF_LABEL, "")),
                    revision=rendered.revision or "",
                )
            )
    if rendered.revision:
        record_runs(repo, environment.name, rendered.revision, requests)
    if output == OutputFormat.JSON:
        emit_json({"environment": env, "revision": rendered.revision, "runs": [r.to_json() for r in requests]})
    else:
        for request in requests:
            say(f"re-run requested: Job/{request.namespace}/{request.job} (task {request.task or '-'}); "
                "the next sync creates it again")
    return EXIT_OK


def register(app: typer.Typer) -> None:
    app.command("rerun")(rerun)
