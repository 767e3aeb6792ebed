"""Prometheus failing part-way through ``optimize --pr``: nothing is proposed.

A proxy in front of a real Prometheus (backfilled history) answers the first K queries
from Prometheus and then fails: 503, a malformed body, an answer slower than ``--timeout``,
or the connection is dropped. For every fault and several K the command exits 3 with one
clear line; no proposal branch exists locally or on the remote, ``main`` and the working tree
are unchanged, and the GitHub API (a local stand-in) received no request at all.

Then SIGINT/SIGTERM at random moments of a slowed-down ``optimize`` (a subprocess): the
proposal branch is either absent or a complete commit whose specs load, ``git fsck`` is
clean, no lock file is left, and an interrupted run exits 130.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from gitops_agent.spec import load_specs
from tests.integration import optimize_scenarios as s
from tests.integration.optimize_scenarios import scenario_prometheus  # noqa: F401 (fixture)
from tests.support.gitrepos import git
from tests.support.reliability import ReliabilityCounters

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
ENTRY_READY = [
    sys.executable,
    "-c",
    "import sys; from gitops_agent.cli import main; sys.stderr.write('ready\\n'); sys.stderr.flush(); main()",
]
BRANCH = "gitops-agent/optimize/prod-faults"


@dataclass
class FlakyProxy:
    """Forwards the first ``healthy`` queries to Prometheus, then injects ``fault``."""

    upstream: str
    healthy: int = 0
    fault: str = "503"
    delay: float = 0.0
    seen: int = field(default=0)

    def __call__(self, request: Request) -> Response:
        self.seen += 1
        time.sleep(self.delay)
        if self.seen > self.healthy:
            if self.fault == "503":
                return Response("Service Unavailable", status=503)
            if self.fault == "malformed":
                return Response('{"status": "success", "data": {"resultType": "vector", "result": [', status=200)
            if self.fault == "slow":
                time.sleep(3)
            if self.fault == "html":
                return Response("<html>proxy error</html>", status=200, content_type="text/html")
        answer = requests.request(
            request.method,
            f"{self.upstream}{request.path}",
            params=request.args,
            data=request.form,
            timeout=30,
        )
        return Response(answer.content, status=answer.status_code, content_type="application/json")


@pytest.fixture
def proxy_server() -> Iterator[HTTPServer]:
    server = HTTPServer()
    server.start()
    try:
        yield server
    finally:
        server.clear()
        server.stop()


@pytest.fixture
def repo_with_remote(tmp_path: Path) -> Path:
    repo = s.write_repo(tmp_path / "repo")
    bare = tmp_path / "remote.git"
    git(tmp_path, "init", "-q", "--bare", "-b", "main", str(bare))
    git(repo, "remote", "add", "origin", str(bare))
    git(repo, "push", "-q", "origin", "main")
    return repo


def state(repo: Path) -> tuple[str, str, str, str]:
    return (
        git(repo, "for-each-ref", "--format=%(refname) %(objectname)"),
        git(repo, "--git-dir", str(repo.parent / "remote.git"), "for-each-ref", "--format=%(refname) %(objectname)"),
        git(repo, "status", "--porcelain"),
        git(repo, "rev-parse", "HEAD"),
    )


def agent_env(github: HTTPServer) -> dict[str, str]:
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith("GIT_")},
        "PYTHONPATH": str(ROOT),
        "GITHUB_TOKEN": "test-token",
        "GITHUB_REPOSITORY": "acme/shop-gitops",
        "GITHUB_API_URL": github.url_for("/").rstrip("/"),
    }


def count_queries(scenario: Any, proxy_server: HTTPServer, repo: Path, github: HTTPServer) -> int:
    """How many queries a complete run makes (through a proxy that never fails)."""
    proxy = FlakyProxy(scenario.url, healthy=10**6)
    proxy_server.expect_request("/api/v1/query").respond_with_handler(proxy)
    proxy_server.expect_request("/api/v1/query_range").respond_with_handler(proxy)
    proc = subprocess.run(
        [*ENTRY_READY, "optimize", "prod", "--repo", str(repo), "--prometheus", proxy_server.url_for("/").rstrip("/")],
        env=agent_env(github),
        capture_output=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr.decode()
    proxy_server.clear()
    return proxy.seen


@pytest.mark.timeout(900)
def test_prometheus_failing_part_way_proposes_nothing(
    scenario_prometheus: Any,  # noqa: F811
    repo_with_remote: Path,
    proxy_server: HTTPServer,
    httpserver: HTTPServer,
    tmp_path: Path,
    reliability: ReliabilityCounters,
) -> None:
    dry = s.write_repo(tmp_path / "dry")
    total = count_queries(scenario_prometheus, proxy_server, dry, httpserver)
    assert total >= 3
    httpserver.expect_request("/", method="GET").respond_with_data("{}")  # any GitHub call is recorded
    before = state(repo_with_remote)
    for fault in ("503", "malformed", "slow", "html"):
        for healthy in sorted({0, total // 2, total - 1}):
            proxy = FlakyProxy(scenario_prometheus.url, healthy=healthy, fault=fault)
            proxy_server.clear()
            proxy_server.expect_request("/api/v1/query").respond_with_handler(proxy)
            proxy_server.expect_request("/api/v1/query_range").respond_with_handler(proxy)
            proc = subprocess.run(
                [
                    *ENTRY_READY,
                    "optimize",
                    "prod",
                    "--repo",
                    str(repo_with_remote),
                    "--prometheus",
                    proxy_server.url_for("/").rstrip("/"),
                    "--timeout",
                    "2s",
                    "--pr",
                    "--branch",
                    BRANCH,
                ],
                env=agent_env(httpserver),
                capture_output=True,
                timeout=300,
            )
            reliability.add("Prometheus faults injected")
            err = proc.stderr.decode().removeprefix("ready\n")
            assert proc.returncode == 3, f"{fault} after {healthy}: exit {proc.returncode}\n{err}"
            lines = [line for line in err.splitlines() if line.strip()]
            assert len(lines) == 1 and lines[0].startswith("error: Prometheus"), (fault, healthy, lines)
            assert proxy.seen == healthy + 1, "it went on querying after a failure"
            assert state(repo_with_remote) == before, f"{fault} after {healthy}: something was written"
            assert [entry for entry, _ in httpserver.log] == [], "the GitHub API was called"


@pytest.mark.timeout(900)
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_signal_at_any_moment_of_optimize(
    scenario_prometheus: Any,  # noqa: F811
    tmp_path: Path,
    proxy_server: HTTPServer,
    httpserver: HTTPServer,
    signum: signal.Signals,
    reliability: ReliabilityCounters,
) -> None:
    repo = s.write_repo(tmp_path / "repo")
    proxy = FlakyProxy(scenario_prometheus.url, healthy=10**6, delay=0.05)
    proxy_server.expect_request("/api/v1/query").respond_with_handler(proxy)
    proxy_server.expect_request("/api/v1/query_range").respond_with_handler(proxy)
    rng = random.Random(f"optimize-{signum.name}")
    argv = [*ENTRY_READY, "optimize", "prod", "--repo", str(repo), "--branch", BRANCH, "-o", "json"]
    argv += ["--prometheus", proxy_server.url_for("/").rstrip("/")]
    env = agent_env(httpserver)

    def start() -> subprocess.Popen[bytes]:
        proc = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
        assert proc.stderr is not None and proc.stderr.readline() == b"ready\n"
        return proc

    timing = start()
    started = time.monotonic()
    out, err = timing.communicate(timeout=300)
    assert timing.returncode == 0, err.decode()
    full = time.monotonic() - started
    git(repo, "branch", "-D", BRANCH)
    main = git(repo, "rev-parse", "main")
    interrupted = 0
    for _ in range(10):
        proc = start()
        time.sleep(rng.uniform(0.0, full * 1.1))
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signum)
        out, err = proc.communicate(timeout=300)
        reliability.add("signals injected")
        if proc.returncode != 0:
            interrupted += 1
            assert proc.returncode == 130, err.decode()
            assert b"Traceback" not in err
        else:
            assert json.loads(out)["proposal"]["branch"] == BRANCH
        assert git(repo, "rev-parse", "main") == main
        assert git(repo, "status", "--porcelain") == ""
        assert not list((repo / ".git").rglob("*.lock"))
        fsck = subprocess.run(["git", "fsck", "--strict", "--no-dangling"], cwd=repo, capture_output=True, text=True)
        assert fsck.returncode == 0, fsck.stderr
        proposal = subprocess.run(
            ["git", "rev-parse", "--verify", "--quiet", BRANCH], cwd=repo, capture_output=True, text=True
        ).stdout.strip()
        if proposal:
            assert git(repo, "rev-parse", f"{proposal}^") == main  # one complete commit on main
            checkout = tmp_path / f"check-{proposal[:8]}"
            if not checkout.exists():
                git(repo, "worktree", "add", "-q", "--detach", str(checkout), proposal)
                load_specs(checkout)  # the proposed specs are complete and valid
                git(repo, "worktree", "remove", "--force", str(checkout))
            git(repo, "branch", "-D", BRANCH)
    assert interrupted >= 3, "too few runs were actually interrupted to prove anything"
