"""GitHub issue/pull-request comments over the REST API, and the sticky-comment upsert.

Requests carry ``Authorization: Bearer <token>``, ``Accept: application/vnd.github+json`` and
``X-GitHub-Api-Version``; listings follow the ``Link: <…>; rel="next"`` header. Every
failure becomes a :class:`~gitops_agent.errors.GitHubError` naming the request.
"""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any

from gitops_agent.errors import GitHubError

API_VERSION = "2022-11-28"
DEFAULT_API_URL = "https://api.github.com"
_NEXT_LINK = re.compile(r'<([^>]+)>\s*;\s*rel="next"')


@dataclass(frozen=True)
class IssueComment:
    """One comment on an issue or pull request."""

    id: int
    body: str
    url: str


@dataclass(frozen=True)
class Response:
    status: int
    headers: dict[str, str]
    body: Any


def _error_message(raw: bytes) -> str:
    """GitHub's ``message`` field when the error body has one, else the body's start."""
    text = raw.decode("utf-8", errors="replace")
    try:
        message = json.loads(text).get("message")
    except (ValueError, AttributeError):
        message = None
    return str(message) if message else text[:300]


class CommentClient:
    """Lists, creates and updates the comments of one repository's issues and pull requests."""

    def __init__(
        self, *, repository: str, token: str, api_url: str = DEFAULT_API_URL, timeout: float = 30
    ) -> None:
        if repository.count("/") != 1:
            raise GitHubError(f"repository {repository!r}: expected owner/name")
        self.repository = repository
        self._token = token
        self._api_url = api_url.rstrip("/")
        self._timeout = timeout

    def _request(self, method: str, url: str, payload: Any | None = None) -> Response:
        data = None if payload is None else json.dumps(payload).encode("utf-8")
        request = urllib.request.Request(url, data=data, method=method)
        request.add_header("Authorization", f"Bearer {self._token}")
        request.add_header("Accept", "application/vnd.github+json")
        request.add_header("X-GitHub-Api-Version", API_VERSION)
        request.add_header("User-Agent", "gitops-agent")
        if data is not None:
            request.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(request, timeout=self._timeout) as answer:
                raw = answer.read()
                headers = {k.lower(): v for k, v in answer.headers.items()}
                return Response(answer.status, headers, json.loads(raw) if raw else None)
        except urllib.error.HTTPError as error:
            detail = _error_message(error.read())
            raise GitHubError(f"GitHub {method} {url}: HTTP {error.code}: {detail}") from error
        except (urllib.error.URLError, TimeoutError, OSError) as error:
            raise GitHubError(f"GitHub {method} {url}: {error}") from error
        except json.JSONDecodeError as error:
            raise GitHubError(f"GitHub {method} {url}: answer is not JSON") from error

    @staticmethod
    def _comment(raw: Any) -> IssueComment:
        try:
            return IssueComment(
                int(raw["id"]), str(raw.get("body") or ""), str(raw.get("html_url", ""))
            )
        except (KeyError, TypeError, ValueError) as error:
            raise GitHubError(f"GitHub answered an unexpected comment: {raw!r:.200}") from error

    def list_issue_comments(self, number: int) -> list[IssueComment]:
        """Every comment on issue or pull request ``number``, following pagination."""
        url: str | None = (
            f"{self._api_url}/repos/{self.repository}/issues/{number}/comments?per_page=100"
        )
        comments: list[IssueComment] = []
        while url is not None:
            answer = self._request("GET", url)
            if not isinstance(answer.body, list):
                raise GitHubError(f"GitHub GET {url}: expected a list of comments")
            comments.extend(self._comment(raw) for raw in answer.body)
            found = _NEXT_LINK.search(answer.headers.get("link", ""))
            url = found.group(1) if found else None
        return comments

    def create_issue_comment(self, number: int, body: str) -> IssueComment:
        url = f"{self._api_url}/repos/{self.repository}/issues/{number}/comments"
        return self._comment(self._request("POST", url, {"body": body}).body)

    def update_issue_comment(self, comment_id: int, body: str) -> IssueComment:
        url = f"{self._api_url}/repos/{self.repository}/issues/comments/{comment_id}"
        return self._comment(self._request("PATCH", url, {"body": body}).body)

    def upsert_marked_comment(
        self, number: int, marker: str, body: str
    ) -> tuple[IssueComment, bool]:
        """Update the first comment containing ``marker``, else create one; True when created."""
        if marker not in body:
            body = f"{marker}\n{body}"
        for comment in self.list_issue_comments(number):
            if marker in comment.body:
                return self.update_issue_comment(comment.id, body), False
        return self.create_issue_comment(number, body), True
