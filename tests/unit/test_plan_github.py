"""The sticky plan comment and step summary, against a local server that checks each request."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer

from gitops_agent.adapters.github import API_VERSION, GitHubClient, Repository
from gitops_agent.app.pull_request import append_step_summary, publish_comment, pull_request_number
from gitops_agent.errors import GitHubError, InvalidInputError
from gitops_agent.plan.markdown import MARKER

TOKEN = "ghs_test_token"
HEADERS = {
    "Authorization": f"Bearer {TOKEN}",
    "Accept": "application/vnd.github+json",
    "X-GitHub-Api-Version": API_VERSION,
}


def _client(server: HTTPServer) -> GitHubClient:
    return GitHubClient(Repository("acme", "gitops"), TOKEN, api_url=server.url_for(""))


def _comment(cid: int, body: str) -> dict[str, object]:
    return {"id": cid, "body": body, "html_url": f"https://github.test/c/{cid}"}


def test_existing_sticky_comment_on_a_later_page_is_updated(httpserver: HTTPServer) -> None:
    first_page = [_comment(i, f"review comment {i}") for i in range(1, 101)]
    httpserver.expect_ordered_request(
        "/repos/acme/gitops/issues/7/comments",
        method="GET",
        query_string={"per_page": "100", "page": "1"},
        headers=HEADERS,
    ).respond_with_json(first_page)
    httpserver.expect_ordered_request(
        "/repos/acme/gitops/issues/7/comments",
        method="GET",
        query_string={"per_page": "100", "page": "2"},
        headers=HEADERS,
    ).respond_with_json([_comment(101, "nit"), _comment(102, f"{MARKER}\nold plan")])
    httpserver.expect_ordered_request(
        "/repos/acme/gitops/issues/comments/102",
        method="PATCH",
        headers={**HEADERS, "Content-Type": "application/json"},
        json={"body": f"{MARKER}\nnew plan"},
    ).respond_with_json(_comment(102, f"{MARKER}\nnew plan"))

    comment, created = _client(httpserver).upsert_marked_comment(7, MARKER, f"{MARKER}\nnew plan")

    assert (comment.id, created) == (102, False)
    httpserver.check_assertions()
    assert len(httpserver.log) == 3


def test_without_a_sticky_comment_one_is_created(httpserver: HTTPServer) -> None:
    httpserver.expect_ordered_request(
        "/repos/acme/gitops/issues/9/comments", method="GET", headers=HEADERS
    ).respond_with_json([_comment(1, "hello")])
    httpserver.expect_ordered_request(
        "/repos/acme/gitops/issues/9/comments",
        method="POST",
        headers={**HEADERS, "Content-Type": "application/json"},
        json={"body": f"{MARKER}\nplan"},
    ).respond_with_json(_comment(10, f"{MARKER}\nplan"), status=201)

    comment, created = _client(httpserver).upsert_marked_comment(9, MARKER, "plan")

    assert (comment.id, created) == (10, True)
    httpserver.check_assertions()


def test_publish_comment_reads_the_pull_request_from_the_event(httpserver: HTTPServer, tmp_path: Path) -> None:
    event = tmp_path / "event.json"
    event.write_text(
        json.dumps(
            {
                "action": "synchronize",
                "number": 12,
                "pull_request": {"number": 12, "head": {"sha": "abc"}},
            }
        )
    )
    httpserver.expect_ordered_request(
        "/repos/acme/gitops/issues/12/comments", method="GET", headers=HEADERS
    ).respond_with_json([])
    httpserver.expect_ordered_request(
        "/repos/acme/gitops/issues/12/comments", method="POST", json={"body": f"{MARKER}\nx"}
    ).respond_with_json(_comment(5, f"{MARKER}\nx"), status=201)
    publish_comment(
        f"{MARKER}\nx",
        pr=pull_request_number(None, str(event)),
        repository="acme/gitops",
        token=TOKEN,
        api_url=httpserver.url_for("/"),
    )
    httpserver.check_assertions()


def test_refusals_become_github_errors(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/repos/acme/gitops/issues/3/comments").respond_with_json(
        {"message": "Resource not accessible by integration"}, status=403
    )
    with pytest.raises(GitHubError, match="403 Resource not accessible"):
        _client(httpserver).list_issue_comments(3)


def test_unreachable_api_is_a_github_error() -> None:
    client = GitHubClient(Repository("acme", "gitops"), TOKEN, api_url="http://127.0.0.1:9")
    with pytest.raises(GitHubError):
        client.create_issue_comment(1, "x")


def test_missing_pull_request_or_token_is_invalid_input(tmp_path: Path) -> None:
    assert pull_request_number(4, None) == 4
    assert pull_request_number(None, None) is None
    push_event = tmp_path / "push.json"
    push_event.write_text(json.dumps({"ref": "refs/heads/main"}))
    assert pull_request_number(None, str(push_event)) is None
    with pytest.raises(InvalidInputError, match="pull request"):
        publish_comment("x", pr=None, repository="a/b", token="t", api_url="http://127.0.0.1:9")
    with pytest.raises(InvalidInputError, match="GITHUB_TOKEN"):
        publish_comment("x", pr=1, repository="a/b", token=None, api_url="http://127.0.0.1:9")


def test_step_summary_is_appended(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    summary = tmp_path / "summary.md"
    summary.write_text("# earlier step\n")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    append_step_summary("## plan")
    assert summary.read_text() == "# earlier step\n## plan\n"
