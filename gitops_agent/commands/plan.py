"""``gitops-agent plan --base REF --head REF``: the rendered-manifest difference of a change.

In GitHub Actions it also appends the plan to ``$GITHUB_STEP_SUMMARY`` and, with
``--comment``, posts or updates one sticky pull-request comment (found again by a hidden
marker). Exit 1 when something differs, 0 when nothing does.
"""

from __future__ import annotations

import json
import os
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer

from gitops_agent.adapters.github import DEFAULT_API_URL, GitHubClient, parse_repository
from gitops_agent.commands.common import (
    ContextOption,
    KubeconfigOption,
    RepoOption,
    VerboseOption,
    emit_json,
    progress,
)
from gitops_agent.commands.diff import setup_logging
from gitops_agent.errors import EXIT_DIFFERENCES, EXIT_OK, InvalidInputError
from gitops_agent.plan import Plan, compute_plan
from gitops_agent.plan_live import live_differ
from gitops_agent.plan_markdown import MARKER, render_markdown


class PlanFormat(StrEnum):
    MARKDOWN = "markdown"
    JSON = "json"


def pull_request_number(explicit: int | None, event_path: str | None) -> int | None:
    """``--pr``, else the pull request (or issue) of the Actions event file."""
    if explicit is not None:
        return explicit
    if not event_path:
        return None
    try:
        event: Any = json.loads(Path(event_path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise InvalidInputError(f"GITHUB_EVENT_PATH {event_path}: unreadable: {error}") from error
    for key in ("pull_request", "issue"):
        number = (event.get(key) or {}).get("number") if isinstance(event, dict) else None
        if isinstance(number, int):
            return number
    number = event.get("number") if isinstance(event, dict) else None
    return number if isinstance(number, int) else None


def publish_comment(markdown: str, *, pr: int | None, repository: str | None, token: str | None, api_url: str) -> None:
    """Create or update the sticky plan comment on the pull request."""
    if pr is None:
        raise InvalidInputError("--comment needs a pull request: pass --pr N or run on a pull_request event")
    if not repository:
        raise InvalidInputError("--comment needs --github-repository OWNER/NAME (or GITHUB_REPOSITORY)")
    if not token:
        raise InvalidInputError("--comment needs a token in GITHUB_TOKEN")
    client = GitHubClient(parse_repository(repository), token, api_url=api_url)
    comment, created = client.upsert_marked_comment(pr, MARKER, markdown)
    progress(f"{'posted' if created else 'updated'} plan comment {comment.url or comment.id}")


def append_step_summary(markdown: str) -> None:
    """Append to the Actions job summary when running in Actions."""
    summary = os.environ.get("GITHUB_STEP_SUMMARY")
    if summary:
        with open(summary, "a", encoding="utf-8") as handle:
            handle.write(markdown + "\n")


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
        )
    return EXIT_DIFFERENCES if result.changed else EXIT_OK


def register(app: typer.Typer) -> None:
    app.command("plan")(plan)
