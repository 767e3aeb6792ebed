"""Ask for finished task runs to run again: a ``rerun-requested`` fact in git notes per Job."""

from __future__ import annotations

from pathlib import Path

from gitops_agent.app.sync import render_desired
from gitops_agent.errors import InvalidInputError
from gitops_agent.history.notes import record_runs
from gitops_agent.reconcile.runs import RunOutcome, TaskRun, now, run_key
from gitops_agent.render.overlay import Rendered
from gitops_agent.spec.model import Environment
from gitops_agent.vocabulary.labels import PART_OF_LABEL, TASK_LABEL
from gitops_agent.vocabulary.objects import Manifest, is_job, labels_of, ref_of


def _matches(job: Manifest, name: str, workflow: str | None) -> bool:
    labels = labels_of(job)
    if workflow is not None and labels.get(PART_OF_LABEL) != workflow:
        return False
    return name in (labels.get(TASK_LABEL), ref_of(job).name)


def _scope_and_name(given: str, workflow: str | None) -> tuple[str | None, str]:
    """``WORKFLOW/TASK`` → (WORKFLOW, TASK); ``TASK`` or a Job's name → (``--workflow``, it).

    :raises InvalidInputError: an empty part (``/train``, ``wf/``), more than one ``/``, or a
        WORKFLOW that ``--workflow`` contradicts (exit 2) — never read as "any workflow".
    """
    if "/" not in given:
        return workflow, given
    scope, _, name = given.partition("/")
    if not scope or not name or "/" in name:
        raise InvalidInputError(f"{given}: expected TASK, WORKFLOW/TASK or a Job's name")
    if workflow is not None and workflow != scope:
        raise InvalidInputError(f"{given}: names workflow {scope!r}, but --workflow is {workflow!r}")
    return scope, name


def request_reruns(
    repo: Path, environment: Environment, ref: str | None, tasks: list[str], workflow: str | None
) -> tuple[Rendered, list[TaskRun]]:
    """Record a re-run request for the current Job of each named task (``TASK``,
    ``WORKFLOW/TASK`` or a Job's name) at ``ref`` (default: the branch head).

    Returns the rendered revision and the recorded requests. Raises InvalidInputError (exit 2)
    when a name matches no Job, or Jobs of several workflows.
    """
    rendered = render_desired(repo, environment, ref)
    jobs = [obj for obj in rendered.objects if is_job(obj)]
    requests: list[TaskRun] = []
    for given in tasks:
        scope, name = _scope_and_name(given, workflow)
        found = [job for job in jobs if _matches(job, name, scope or None)]
        known = sorted({str(labels_of(job).get(PART_OF_LABEL, "")) for job in jobs} - {""})
        if not found and scope and scope not in known:
            where = f"--workflow {scope}" if "/" not in given else given
            raise InvalidInputError(
                f"{where}: no workflow {scope!r} with tasks in environment {environment.name!r} "
                f"(workflows with tasks: {', '.join(known) or 'none'})"
            )
        if not found:
            raise InvalidInputError(
                f"{given}: no task or Job of that name in environment {environment.name!r} "
                "(WORKFLOW/TASK or --workflow names a task of one workflow)"
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
    return rendered, requests
