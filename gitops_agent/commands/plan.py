"""``gitops-agent plan --base REF --head REF``: the rendered-manifest difference of a change.

In GitHub Actions it also appends the plan to ``$GITHUB_STEP_SUMMARY`` and, with
``--comment``, posts or updates one sticky pull-request comment (found again by a hidden
marker). Exit 1 when something differs, 0 when nothing does.
"""

from __future__ import annotations

import os
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from gitops_agent.adapters.github import DEFAULT_API_URL
from gitops_agent.app.live_plan import live_differ
from gitops_agent.app.pull_request import append_step_summary, publish_comment, pull_request_number
from gitops_agent.commands.common import (
    ContextOption,
    KubeconfigOption,
    RepoOption,
    VerboseOption,
    emit_json,
    progress,
    setup_logging,
)
from gitops_agent.errors import EXIT_DIFFERENCES, EXIT_OK, InvalidInputError
from gitops_agent.plan.build import Plan, compute_plan
from gitops_agent.plan.markdown import render_markdown
from gitops_agent.vocabulary.urls import http_url_problem


class PlanFormat(StrEnum):
    MARKDOWN = "markdown"
    JSON = "json"


def plan(
    base: Annotated[str, typer.Option("--base", help="The revision the change starts from.")],
    head: Annotated[str, typer.Option("--head", help="The revision with the change.")],
    format_: Annotated[
        PlanFormat,
        typer.Option("--format", "-f", "-o", help="markdown for people and comments, json for programs."),
    ] = PlanFormat.MARKDOWN,
    env: Annotated[list[str] | None, typer.Option("--env", "-e", help="Environment(s) to plan (default: all).")] = None,
    live: Annotated[bool, typer.Option("--live", help="Also diff head against each environment's cluster.")] = False,
    comment: Annotated[bool, typer.Option("--comment", help="Post or update the sticky pull-request comment.")] = False,
    pr: Annotated[
        int | None,
        typer.Option("--pr", help="Pull request number (default: from the Actions event)."),
    ] = None,
    github_repository: Annotated[
        str | None,
        typer.Option("--github-repository", envvar="GITHUB_REPOSITORY", help="OWNER/NAME."),
    ] = None,
    github_api_url: Annotated[
        str, typer.Option("--github-api-url", envvar="GITHUB_API_URL", help="GitHub REST API root.")
    ] = DEFAULT_API_URL,
    repo: RepoOption = Path(),
    kubeconfig: KubeconfigOption = None,
    context: ContextOption = None,
    verbose: VerboseOption = False,
) -> int:
    """Rendered-manifest difference between two revisions, per environment."""
    setup_logging(verbose)
    if comment and (problem := http_url_problem(github_api_url)):
        raise InvalidInputError(f"--github-api-url {github_api_url}: {problem}")
    result: Plan = compute_plan(
        repo,
        base,
        head,
        environments=env or (),
        live=live_differ(kubeconfig, context) if live else None,
    )
    markdown = render_markdown(result)
    if format_ is PlanFormat.JSON:
        emit_json(result.to_json())
    else:
        typer.echo(markdown)
    append_step_summary(markdown)
    if comment:
        publish_comment(
            markdown,
            pr=pull_request_number(pr, os.environ.get("GITHUB_EVENT_PATH")),
            repository=github_repository,
            token=os.environ.get("GITHUB_TOKEN"),
            api_url=github_api_url,
            say=progress,
        )
    return EXIT_DIFFERENCES if result.changed else EXIT_OK


def register(app: typer.Typer) -> None:
    app.command("plan")(plan)
