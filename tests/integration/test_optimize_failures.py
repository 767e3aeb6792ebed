"""Prometheus down or answering garbage: exit 3 with one clear line, no branch, no commit."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from pytest_httpserver import HTTPServer

from gitops_agent.cli import run
from tests.integration import optimize_scenarios as s
from tests.support.gitrepos import git
from tests.support.prometheus import free_port

pytestmark = pytest.mark.integration


def run_optimize(repo: Path, url: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = run(["optimize", "prod", "--repo", str(repo), "--prometheus", url, "--timeout", "2s"])
    captured = capsys.readouterr()
    return code, captured.err


def assert_untouched(repo: Path, head: str) -> None:
    assert git(repo, "rev-parse", "HEAD") == head
    assert git(repo, "for-each-ref", "refs/heads/").count("\n") == 0  # only main
    assert git(repo, "status", "--porcelain") == ""


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return s.write_repo(tmp_path / "repo")


def test_prometheus_down(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    head = git(repo, "rev-parse", "HEAD")
    code, err = run_optimize(repo, f"http://127.0.0.1:{free_port()}", capsys)
    assert code == 3
    assert "cannot connect" in err and "Traceback" not in err
    assert len(err.strip().splitlines()) <= 2  # progress-free: one error line
    assert_untouched(repo, head)


@pytest.mark.parametrize(
    ("status", "body", "expected"),
    [
        (503, "Service Unavailable", "HTTP 503"),
        (
            400,
            json.dumps({"status": "error", "errorType": "bad_data", "error": "parse error"}),
            "bad_data: parse error",
        ),
        (
            422,
            json.dumps({"status": "error", "errorType": "execution", "error": "query too big"}),
            "execution: query too big",
        ),
        (200, "{not json", "malformed answer"),
        (200, json.dumps({"status": "error", "error": "oops"}), "malformed answer"),
        (
            200,
            json.dumps(
                {
                    "status": "success",
                    "data": {
                        "resultType": "vector",
                        "result": [{"metric": {"pod": "api-7c9d8f6b5-aaaaa"}, "value": [1, "NaN"]}],
                    },
                }
            ),
            "NaN",
        ),
    ],
)
def test_prometheus_errors(
    repo: Path,
    httpserver: HTTPServer,
    capsys: pytest.CaptureFixture[str],
    status: int,
    body: str,
    expected: str,
) -> None:
    head = git(repo, "rev-parse", "HEAD")
    httpserver.expect_request("/api/v1/query").respond_with_data(body, status=status, content_type="application/json")
    code, err = run_optimize(repo, httpserver.url_for("/").rstrip("/"), capsys)
    assert code == 3, err
    assert expected in err and "Traceback" not in err
    assert err.startswith("error: Prometheus ")
    assert_untouched(repo, head)


def test_prometheus_timeout(repo: Path, httpserver: HTTPServer, capsys: pytest.CaptureFixture[str]) -> None:
    import time

    def slow(request: object) -> object:
        from werkzeug import Response

        time.sleep(3)
        return Response("{}", status=200)

    head = git(repo, "rev-parse", "HEAD")
    httpserver.expect_request("/api/v1/query").respond_with_handler(slow)
    code, err = run_optimize(repo, httpserver.url_for("/").rstrip("/"), capsys)
    assert code == 3
    assert "no answer within 2s" in err
    assert_untouched(repo, head)


def test_missing_prometheus_url_is_invalid_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    env = s.ENVIRONMENT.replace(
        '  prometheus: {url: "http://prometheus.monitoring:9090"}   # replaced by --prometheus in tests\n', ""
    )
    repo = s.write_repo(tmp_path / "r", environments={"prod": env})
    code = run(["optimize", "prod", "--repo", str(repo)])
    assert code == 2
    assert "prometheus.url" in capsys.readouterr().err
    assert run(["optimize", "nope", "--repo", str(repo)]) == 2
    assert run(["optimize", "prod", "--repo", str(repo), "--window", "7 days"]) == 2


def test_failure_after_good_answers_leaves_no_partial_proposal(
    repo: Path, httpserver: HTTPServer, capsys: pytest.CaptureFixture[str]
) -> None:
    head = git(repo, "rev-parse", "HEAD")
    answers = iter([200, 200, 500])
    calls: list[int] = []

    def handler(request: object) -> object:
        from werkzeug import Response

        status = next(answers, 500)
        calls.append(status)
        if status != 200:
            return Response("internal error", status=status)
        body = {
            "status": "success",
            "data": {
                "resultType": "vector",
                "result": [
                    {
                        "metric": {"namespace": s.NAMESPACE, "pod": "api-7c9d8f6b5-aaaaa", "container": "api"},
                        "value": [1, "0.3"],
                    }
                ],
            },
        }
        return Response(json.dumps(body), status=200, content_type="application/json")

    httpserver.expect_request("/api/v1/query").respond_with_handler(handler)
    code, err = run_optimize(repo, httpserver.url_for("/").rstrip("/"), capsys)
    assert code == 3 and "HTTP 500" in err
    assert calls == [200, 200, 500]  # two good answers, then the failure stopped the run
    assert_untouched(repo, head)


def test_failing_replay_is_exit_3_with_a_short_line(
    repo: Path, httpserver: HTTPServer, capsys: pytest.CaptureFixture[str]
) -> None:
    """The usage queries answer, the replay of the proposals (a long query) fails: one short
    error line, nothing committed."""
    head = git(repo, "rev-parse", "HEAD")
    api = {"namespace": s.NAMESPACE, "pod": "api-7c9d8f6b5-aaaaa", "container": "api"}
    answers = {
        "max by (namespace, pod, container) (quantile_over_time": 0.3,
        "max by (namespace, pod, container) (max_over_time(container_memory": 600 * s.MI,
        "sum by (namespace, pod, container) (count_over_time(container_memory": 10_000,
    }
    replays: list[str] = []

    def handler(request: Any) -> Any:
        from werkzeug import Response

        query = request.values.get("query", "")
        if '"stat", "count"' in query:
            replays.append(query)
            return Response("internal error", status=500)
        value = next((v for prefix, v in answers.items() if query.startswith(prefix)), None)
        result = [] if value is None else [{"metric": api, "value": [1, str(value)]}]
        body = {"status": "success", "data": {"resultType": "vector", "result": result}}
        return Response(json.dumps(body), status=200, content_type="application/json")

    httpserver.expect_request("/api/v1/query").respond_with_handler(handler)
    code, err = run_optimize(repo, httpserver.url_for("/").rstrip("/"), capsys)
    assert code == 3 and "HTTP 500" in err and "Traceback" not in err
    assert replays and len(replays[0]) > 400  # the replay was reached, and its query is long
    [line] = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(line) < 400 and "characters)" in line
    assert_untouched(repo, head)
