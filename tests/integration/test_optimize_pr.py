"""``optimize --pr``: the branch is pushed and a pull request opened, then updated, through
the GitHub REST API as documented (a local HTTP server checks every request)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from pytest_httpserver import HTTPServer

from gitops_agent.cli import run
from tests.integration import optimize_scenarios as s
from tests.integration.optimize_scenarios import scenario_prometheus  # noqa: F401 (fixture)
from tests.support.gitrepos import git

pytestmark = pytest.mark.integration

BRANCH = "gitops-agent/optimize/prod-pr"
TOKEN = "ghp_test_token_123"
HEADERS = {
    "Authorization": f"Bearer {TOKEN}",
    "Accept": "application/vnd.github+json",
    "X-GitHub-Api-Version": "2022-11-28",
}
PULLS = "/repos/acme/shop/pulls"


def pull(number: int) -> dict[str, Any]:
    return {
        "number": number,
        "html_url": f"https://github.com/acme/shop/pull/{number}",
        "head": {"ref": BRANCH, "label": f"acme:{BRANCH}"},
        "base": {"ref": "main"},
        "title": "t",
        "state": "open",
    }


@pytest.fixture
def repo(tmp_path: Path, httpserver: HTTPServer, monkeypatch: pytest.MonkeyPatch) -> Path:
    bare = tmp_path / "remote.git"
    git(tmp_path, "init", "-q", "--bare", "-b", "main", str(bare))
    repo = s.write_repo(tmp_path / "repo")
    git(repo, "remote", "add", "origin", str(bare))
    git(repo, "push", "-q", "origin", "main")
    monkeypatch.setenv("GITHUB_TOKEN", TOKEN)
    monkeypatch.setenv("GITHUB_API_URL", httpserver.url_for("/").rstrip("/"))
    monkeypatch.setenv("GITHUB_REPOSITORY", "acme/shop")
    return repo


def optimize_pr(repo: Path, url: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, Any, str]:
    code = run(["optimize", "prod", "--repo", str(repo), "--prometheus", url, "--branch", BRANCH, "--pr", "-o", "json"])
    captured = capsys.readouterr()
    return code, json.loads(captured.out) if captured.out.strip() else None, captured.err


def expect_list(httpserver: HTTPServer, answer: list[dict[str, Any]]) -> None:
    httpserver.expect_ordered_request(
        PULLS,
        method="GET",
        headers=HEADERS,
        query_string={"head": f"acme:{BRANCH}", "state": "open"},
    ).respond_with_json(answer)


def test_pull_request_is_created_then_updated(
    repo: Path,
    httpserver: HTTPServer,
    scenario_prometheus: Any,  # noqa: F811
    capsys: pytest.CaptureFixture[str],
) -> None:
    expect_list(httpserver, [])
    httpserver.expect_ordered_request(PULLS, method="POST", headers=HEADERS).respond_with_json(pull(7), status=201)
    code, doc, err = optimize_pr(repo, scenario_prometheus.url, capsys)
    assert code == 0, err
    httpserver.check_assertions()
    assert doc["pullRequest"] == {"number": 7, "url": "https://github.com/acme/shop/pull/7", "created": True}
    posted = json.loads(httpserver.log[-1][0].get_data())
    assert posted["head"] == BRANCH and posted["base"] == "main"
    assert posted["title"] == "gitops-agent: optimize prod (10 change(s))"
    assert "| `shop/service/api` | `resources.cpu` | 2 | 300m |" in posted["body"]
    assert "quantile_over_time(0.95" in posted["body"]
    # every right-sizing proposal carries its replay; every A/B verdict its test and split
    api_row = next(line for line in posted["body"].splitlines() if "`shop/service/api` | `resources.memory`" in line)
    assert "replay: would-have-OOMed samples 0 -> 0 of" in api_row and "slack" in api_row
    ranker_row = next(line for line in posted["body"].splitlines() if "`shop/service/ranker`" in line)
    assert (
        "mSPRT" in ranker_row and "always-valid interval" in ranker_row and "observed split 80.00%/20.00%" in ranker_row
    )
    assert httpserver.log[-1][0].headers["Content-Type"] == "application/json"
    # the branch was pushed
    bare = repo.parent / "remote.git"
    assert git(bare, "rev-parse", BRANCH) == git(repo, "rev-parse", BRANCH)

    # the same data again: no new commit, the open pull request is updated in place
    httpserver.clear()
    expect_list(httpserver, [pull(7)])
    httpserver.expect_ordered_request(f"{PULLS}/7", method="PATCH", headers=HEADERS).respond_with_json(pull(7))
    first = git(repo, "rev-parse", BRANCH)
    code, doc, err = optimize_pr(repo, scenario_prometheus.url, capsys)
    assert code == 0, err
    httpserver.check_assertions()
    assert doc["proposal"]["state"] == "unchanged"
    assert doc["pullRequest"]["created"] is False
    patched = json.loads(httpserver.log[-1][0].get_data())
    assert set(patched) == {"title", "body"}
    assert git(repo, "rev-parse", BRANCH) == first


@pytest.mark.parametrize(
    ("status", "answer", "expected"),
    [
        (
            401,
            {"message": "Bad credentials", "documentation_url": "https://docs.github.com/rest"},
            "401 Bad credentials",
        ),
        (
            422,
            {
                "message": "Validation Failed",
                "errors": [
                    {
                        "resource": "PullRequest",
                        "code": "custom",
                        "message": f"A pull request already exists for acme:{BRANCH}.",
                    }
                ],
            },
            "422 Validation Failed: A pull request already exists",
        ),
    ],
)
def test_api_errors_exit_3_and_keep_the_branch(
    repo: Path,
    httpserver: HTTPServer,
    scenario_prometheus: Any,  # noqa: F811
    capsys: pytest.CaptureFixture[str],
    status: int,
    answer: dict[str, Any],
    expected: str,
) -> None:
    if status == 401:
        httpserver.expect_request(PULLS, method="GET").respond_with_json(answer, status=401)
    else:
        expect_list(httpserver, [])
        httpserver.expect_ordered_request(PULLS, method="POST").respond_with_json(answer, status=422)
    code, doc, err = optimize_pr(repo, scenario_prometheus.url, capsys)
    assert code == 3
    assert doc is None
    assert expected in err and "Traceback" not in err
    assert err.splitlines()[-1].startswith("error: GitHub API ")
    assert git(repo, "rev-parse", "--verify", BRANCH)  # the proposal is kept
    assert git(repo.parent / "remote.git", "rev-parse", BRANCH) == git(repo, "rev-parse", BRANCH)


def test_pr_without_token_is_invalid_input_before_any_query(
    repo: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.delenv("GITHUB_TOKEN")
    code = run(["optimize", "prod", "--repo", str(repo), "--prometheus", "http://127.0.0.1:1", "--pr"])
    assert code == 2
    assert "GITHUB_TOKEN" in capsys.readouterr().err
    assert git(repo, "for-each-ref", "refs/heads/").count("\n") == 0


def test_detached_head_targets_the_default_branch(
    repo: Path,
    httpserver: HTTPServer,
    scenario_prometheus: Any,  # noqa: F811
    capsys: pytest.CaptureFixture[str],
) -> None:
    git(repo, "checkout", "-q", "--detach", "HEAD")
    httpserver.expect_ordered_request("/repos/acme/shop", method="GET", headers=HEADERS).respond_with_json(
        {"full_name": "acme/shop", "default_branch": "trunk"}
    )
    expect_list(httpserver, [])
    httpserver.expect_ordered_request(PULLS, method="POST", headers=HEADERS).respond_with_json(pull(9), status=201)
    code, doc, err = optimize_pr(repo, scenario_prometheus.url, capsys)
    assert code == 0, err
    httpserver.check_assertions()
    assert json.loads(httpserver.log[-1][0].get_data())["base"] == "trunk"
    assert doc["pullRequest"]["number"] == 9
