"""A plan in GitHub: the pull request of an Actions event, the sticky comment, the job summary."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from gitops_agent.adapters.github import GitHubClient, parse_repository
from gitops_agent.errors import InvalidInputError
from gitops_agent.plan.markdown import MARKER


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


def publish_comment(
    markdown: str,
    *,
    pr: int | None,
    repository: str | None,
    token: str | None,
    api_url: str,
    say: Callable[[str], None] = lambda _line: None,
) -> None:
    """Create or update the sticky plan comment on the pull request (found by its hidden marker).

    Raises InvalidInputError when the pull request, repository or token is missing, GitHubError
    when GitHub refuses.
    """
    if pr is None:
        raise InvalidInputError("--comment needs a pull request: pass --pr N or run on a pull_request event")
    if not repository:
        raise InvalidInputError("--comment needs --github-repository OWNER/NAME (or GITHUB_REPOSITORY)")
    if not token:
        raise InvalidInputError("--comment needs a token in GITHUB_TOKEN")
    client = GitHubClient(parse_repository(repository), token, api_url=api_url)
    comment, created = client.upsert_marked_comment(pr, MARKER, markdown)
    say(f"{'posted' if created else 'updated'} plan comment {comment.url or comment.id}")


def append_step_summary(markdown: str) -> None:
    """Append to the Actions job summary when running in Actions."""
    summary = os.environ.get("GITHUB_STEP_SUMMARY")
    if summary:
        with open(summary, "a", encoding="utf-8") as handle:
            handle.write(markdown + "\n")
