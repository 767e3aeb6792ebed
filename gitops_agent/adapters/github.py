"""A small typed client for the GitHub REST API (pull requests), over ``requests``.

Configuration: ``GITHUB_API_URL`` (default ``https://api.github.com``), ``GITHUB_TOKEN``,
and the repository from ``GITHUB_REPOSITORY`` (``owner/name``) or the ``origin`` remote URL.
Every request goes through :meth:`GitHubClient._request`, which sends the headers GitHub
documents (``Authorization: Bearer``, ``Accept: application/vnd.github+json``,
``X-GitHub-Api-Version: 2022-11-28``) and turns every failure into one
:class:`~gitops_agent.errors.GitHubError` line carrying GitHub's ``message`` and ``errors``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import requests

from gitops_agent.errors import GitHubError, InvalidInputError
from gitops_agent.vocabulary.urls import http_url_problem

DEFAULT_API_URL = "https://api.github.com"
API_VERSION = "2022-11-28"
_REMOTE = re.compile(
    r"^(?:https?://[^/]+/|ssh://(?:[^@/]+@)?[^/]+/|[^@/:]+@[^:]+:)"
    r"(?P<owner>[^/]+)/(?P<name>[^/]+?)(?:\.git)?/?$"
)


@dataclass(frozen=True)
class Repository:
    owner: str
    name: str

    def __str__(self) -> str:
        return f"{self.owner}/{self.name}"


@dataclass(frozen=True)
class IssueComment:
    """One comment on an issue or pull request."""

    id: int
    body: str
    url: str


@dataclass(frozen=True)
class PullRequest:
    """An open pull request; ``created`` tells a new one from an updated one."""

    number: int
    url: str
    head: str
    base: str
    title: str
    created: bool


def parse_repository(text: str) -> Repository:
    """``owner/name``, ``https://github.com/owner/name(.git)`` or ``git@host:owner/name.git``."""
    value = text.strip()
    if re.fullmatch(r"[\w.-]+/[\w.-]+", value):
        owner, name = value.split("/")
        return Repository(owner, name.removesuffix(".git"))
    match = _REMOTE.match(value)
    if not match:
        raise InvalidInputError(f"cannot tell the GitHub repository from {text!r}")
    return Repository(match.group("owner"), match.group("name"))


class GitHubClient:
    """The REST calls gitops-agent makes; ``session`` is the test seam."""

    def __init__(
        self,
        repository: Repository,
        token: str,
        *,
        api_url: str = DEFAULT_API_URL,
        timeout: float = 30.0,
        session: requests.Session | None = None,
    ) -> None:
        self.repository = repository
        self.api_url = api_url.rstrip("/")
        self.timeout = timeout
        self._token = token
        self._session = session or requests.Session()

    @classmethod
    def from_environment(cls, remote_url: str | None, environ: Mapping[str, str] | None = None) -> GitHubClient:
        """Configure from ``GITHUB_TOKEN``, ``GITHUB_API_URL``, ``GITHUB_REPOSITORY``/remote."""
        env = os.environ if environ is None else environ
        token = env.get("GITHUB_TOKEN", "")
        if not token:
            raise InvalidInputError("GITHUB_TOKEN is not set: a token is needed to open a pull request")
        source = env.get("GITHUB_REPOSITORY") or remote_url
        if not source:
            raise InvalidInputError("no GitHub repository: set GITHUB_REPOSITORY=owner/name or add an origin remote")
        api_url = env.get("GITHUB_API_URL") or DEFAULT_API_URL
        if problem := http_url_problem(api_url):
            raise InvalidInputError(f"GITHUB_API_URL {api_url}: {problem}")
        return cls(parse_repository(source), token, api_url=api_url)

    def _request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        body: Mapping[str, Any] | None = None,
    ) -> Any:
        """One API call; the decoded JSON answer, or :class:`GitHubError`."""
        url = f"{self.api_url}{path}"
        headers = {
            "Authorization": f"Bearer {self._token}",
            "Accept": "application/vnd.github+json",
            "X-GitHub-Api-Version": API_VERSION,
            "User-Agent": "gitops-agent",
        }
        try:
            response = self._session.request(
                method, url, params=params, json=body, headers=headers, timeout=self.timeout
            )
        except requests.Timeout as error:
            raise GitHubError(f"GitHub API {method} {path}: no answer within {self.timeout:g}s") from error
        except requests.RequestException as error:
            raise GitHubError(f"GitHub API {method} {path}: cannot connect ({type(error).__name__})") from error
        if response.status_code >= 400:
            raise GitHubError(f"GitHub API {method} {path}: {_failure(response)}")
        if not response.content:
            return None
        try:
            return response.json()
        except ValueError as error:
            raise GitHubError(f"GitHub API {method} {path}: answer is not JSON") from error

    def default_branch(self) -> str:
        """The repository's default branch (``GET /repos/{owner}/{repo}``)."""
        repo = self.repository
        document = self._request("GET", f"/repos/{repo.owner}/{repo.name}")
        if not isinstance(document, dict) or not isinstance(document.get("default_branch"), str):
            raise GitHubError(f"GitHub API GET /repos/{repo}: no default_branch in the answer")
        return str(document["default_branch"])

    def find_pull_request(self, branch: str) -> PullRequest | None:
        """The open pull request whose head is ``branch`` of this repository, if any."""
        repo = self.repository
        found = self._request(
            "GET",
            f"/repos/{repo.owner}/{repo.name}/pulls",
            params={"head": f"{repo.owner}:{branch}", "state": "open"},
        )
        if not isinstance(found, list):
            raise GitHubError(f"GitHub API GET /repos/{repo}/pulls: unexpected answer")
        for item in found:
            if isinstance(item, dict) and item.get("head", {}).get("ref") == branch:
                return _pull_request(item, created=False)
        return None

    def open_or_update_pull_request(self, *, branch: str, base: str, title: str, body: str) -> PullRequest:
        """Open a pull request from ``branch`` into ``base``, or update the open one."""
        repo = self.repository
        existing = self.find_pull_request(branch)
        if existing is None:
            created = self._request(
                "POST",
                f"/repos/{repo.owner}/{repo.name}/pulls",
                body={"title": title, "head": branch, "base": base, "body": body},
            )
            return _pull_request(created, created=True)
        updated = self._request(
            "PATCH",
            f"/repos/{repo.owner}/{repo.name}/pulls/{existing.number}",
            body={"title": title, "body": body},
        )
        return _pull_request(updated, created=False)

    def list_issue_comments(self, number: int, *, per_page: int = 100) -> list[IssueComment]:
        """Every comment on issue or pull request ``number``, page by page."""
        repo = self.repository
        path = f"/repos/{repo.owner}/{repo.name}/issues/{number}/comments"
        comments: list[IssueComment] = []
        page = 1
        while True:
            found = self._request("GET", path, params={"per_page": str(per_page), "page": str(page)})
            if not isinstance(found, list):
                raise GitHubError(f"GitHub API GET {path}: unexpected answer")
            comments.extend(_issue_comment(item) for item in found)
            if len(found) < per_page:
                return comments
            page += 1

    def create_issue_comment(self, number: int, body: str) -> IssueComment:
        repo = self.repository
        path = f"/repos/{repo.owner}/{repo.name}/issues/{number}/comments"
        return _issue_comment(self._request("POST", path, body={"body": body}))

    def update_issue_comment(self, comment_id: int, body: str) -> IssueComment:
        repo = self.repository
        path = f"/repos/{repo.owner}/{repo.name}/issues/comments/{comment_id}"
        return _issue_comment(self._request("PATCH", path, body={"body": body}))

    def upsert_marked_comment(self, number: int, marker: str, body: str) -> tuple[IssueComment, bool]:
        """Update the first comment containing ``marker`` (a sticky comment), else create one.

        Returns the comment and whether it was created.
        """
        if marker not in body:
            body = f"{marker}\n{body}"
        for comment in self.list_issue_comments(number):
            if marker in comment.body:
                return self.update_issue_comment(comment.id, body), False
        return self.create_issue_comment(number, body), True


def _issue_comment(item: Any) -> IssueComment:
    try:
        return IssueComment(id=int(item["id"]), body=str(item.get("body") or ""), url=str(item.get("html_url", "")))
    except (KeyError, TypeError, ValueError, AttributeError) as error:
        raise GitHubError(f"GitHub API: unexpected comment document ({error})") from error


def _pull_request(item: Any, *, created: bool) -> PullRequest:
    try:
        return PullRequest(
            number=int(item["number"]),
            url=str(item.get("html_url") or item.get("url") or ""),
            head=str(item["head"]["ref"]),
            base=str(item["base"]["ref"]),
            title=str(item.get("title", "")),
            created=created,
        )
    except (KeyError, TypeError, ValueError) as error:
        raise GitHubError(f"GitHub API: unexpected pull request document ({error})") from error


def _failure(response: requests.Response) -> str:
    """``401 Bad credentials`` / ``422 Validation Failed: A pull request already exists…``."""
    try:
        document = response.json()
    except ValueError:
        document = None
    if not isinstance(document, dict):
        return f"HTTP {response.status_code}"
    text = f"{response.status_code} {document.get('message', '')}".strip()
    details = []
    for error in document.get("errors") or []:
        if isinstance(error, dict):
            details.append(str(error.get("message") or f"{error.get('field', '')} {error.get('code', '')}".strip()))
        else:
            details.append(str(error))
    return text + (f": {'; '.join(details)}" if details else "")
