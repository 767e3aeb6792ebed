"""Secret values never leave where they live.

Values are planted in three places: a Secret in the cluster that a workflow references
(and one the agent would prune, so its diff is printed), environment variables of the agent
process (tokens of the kind CI gives it), and a Secret object a spec author put into an
environment's ``resources:``. The real command line then compiles, commits, diffs, syncs,
records notes, plans with the live cluster and posts the plan as a pull-request comment to
a local HTTP server that stands in for GitHub. None of the values — raw or base64 — may
appear in any git object the agent wrote (environment branches, notes), in stdout/stderr
(text or JSON), in crash logs, or in any request body sent to the GitHub API. The Secret in
``resources:`` is refused: exit 2, the message names the file.
"""

from __future__ import annotations

import base64
import json
import os
import re
import secrets
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from tests.support.gitrepos import git, make_gitops_repo
from tests.support.reliability import ReliabilityCounters
from tools.testcluster.launcher import RunningCluster

pytestmark = pytest.mark.integration

ENTRY = [sys.executable, "-c", "from gitops_agent.cli import main; main()"]
ROOT = Path(__file__).resolve().parents[2]

ENVIRONMENT = """\
apiVersion: gitops-agent.io/v1alpha1
kind: Environment
metadata: {{name: leak}}
spec:
  namespace: {namespace}
  branch: env/leak
  workflows: [fraud-risk-scoring]
  resources: [manifests/leak]
  sync: {{prune: false, selfHeal: false, interval: 1m}}
"""


def variants(value: str) -> list[bytes]:
    """The value as it could appear: raw, base64 (as in Secret data) and JSON-escaped."""
    raw = value.encode()
    return [raw, base64.b64encode(raw), base64.b64encode(raw).rstrip(b"=")]


def assert_absent(haystack: bytes, planted: dict[str, str], where: str) -> None:
    for label, value in planted.items():
        for form in variants(value):
            assert form not in haystack, f"{label} leaked into {where}"


def all_objects(repo: Path, revs: list[str] | None = None) -> bytes:
    """Every git object (or those reachable from ``revs``), contents concatenated."""
    if revs is None:
        listing = subprocess.run(
            ["git", "cat-file", "--batch-all-objects", "--batch-check=%(objectname)"],
            cwd=repo,
            capture_output=True,
            check=True,
        ).stdout
    else:
        listing = b"\n".join(
            line.split(b" ")[0]
            for line in subprocess.run(
                ["git", "rev-list", "--objects", *revs], cwd=repo, capture_output=True, check=True
            ).stdout.splitlines()
        )
    return subprocess.run(["git", "cat-file", "--batch"], cwd=repo, input=listing + b"\n", capture_output=True).stdout


def test_planted_secret_values_never_leak(
    tmp_path: Path, kube_cluster: RunningCluster, httpserver: HTTPServer, reliability: ReliabilityCounters
) -> None:
    token = secrets.token_hex(8)
    planted = {
        "cluster secret": f"cluster-value-{token}",
        "pruned secret": f"pruned-value-{token}",
        "agent env token": f"ghp_env{token}",
        "agent env key": f"aws-env-{token}",
    }
    in_resources = f"resources-value-{token}"
    namespace = f"leak-{token[:6]}"

    repo = make_gitops_repo(tmp_path / "repo", workflows=("fraud-risk-scoring",))
    for env_file in (repo / "environments").glob("*.yaml"):
        env_file.unlink()
    (repo / "environments" / "leak.yaml").write_text(ENVIRONMENT.format(namespace=namespace))
    (repo / "manifests" / "leak").mkdir(parents=True)
    (repo / "manifests" / "leak" / "settings.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: leak-settings}\ndata: {mode: strict}\n"
    )
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "leak environment")
    base = git(repo, "rev-parse", "HEAD")

    api = kube_cluster.api()
    status, body = api.request(
        "POST", "/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}}
    )
    assert status == 201, body
    labels = {
        "app.kubernetes.io/managed-by": "gitops-agent",
        "gitops-agent.io/environment": "leak",
        "app.kubernetes.io/part-of": "fraud-risk-scoring",
        "app.kubernetes.io/name": "old-credentials",
    }
    for name, value, extra in (
        ("warehouse-credentials", planted["cluster secret"], {}),
        ("old-credentials", planted["pruned secret"], labels),
    ):
        status, body = api.request(
            "POST",
            f"/api/v1/namespaces/{namespace}/secrets",
            {
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": {"name": name, "labels": extra, "annotations": {
                    # applied by gitops-agent before git dropped it: it carries its tracking id
                    "gitops-agent.io/tracking-id": f"leak:/Secret:{namespace}/{name}"} if extra else {}},
                "stringData": {"password": value},
            },
        )
        assert status == 201, body

    github_bodies: list[bytes] = []

    def github(request: Request) -> Response:
        github_bodies.append(request.get_data())
        if request.method == "GET":
            return Response("[]", content_type="application/json")
        return Response(
            json.dumps({"id": 7, "body": "", "html_url": "http://example.invalid/c/7"}),
            status=201,
            content_type="application/json",
        )

    httpserver.expect_request(re.compile("^/repos/.*")).respond_with_handler(github)

    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("GIT_")},
        "PYTHONPATH": str(ROOT),
        "KUBECONFIG": str(kube_cluster.kubeconfig),
        "GITHUB_TOKEN": planted["agent env token"],
        "AWS_SECRET_ACCESS_KEY": planted["agent env key"],
        "GITHUB_REPOSITORY": "acme/ml-gitops",
        "GITHUB_API_URL": httpserver.url_for("/").rstrip("/"),
        "TMPDIR": str(tmp_path / "tmp"),
    }
    (tmp_path / "tmp").mkdir()
    outputs: list[bytes] = []

    def agent(*args: str, expect: int | tuple[int, ...] = 0) -> subprocess.CompletedProcess[bytes]:
        proc = subprocess.run([*ENTRY, *args, "--repo", str(repo)], env=env, capture_output=True, timeout=300)
        outputs.extend([proc.stdout, proc.stderr])
        allowed = expect if isinstance(expect, tuple) else (expect,)
        assert proc.returncode in allowed, f"{args}: exit {proc.returncode}\n{proc.stderr.decode()}"
        return proc

    agent("compile", "--commit", "-o", "json")
    agent("diff", "leak", "-o", "json", expect=1)
    agent("diff", "leak", "-v", expect=1)
    agent("sync", "leak", "-o", "json")
    dry = json.loads(agent("sync", "leak", "--prune", "--dry-run", "-o", "json", expect=(0, 1)).stdout)
    # The Secret to prune is in the change set, with a diff: its values had to be masked.
    deletes = [c for c in dry["changes"] if c["kind"] == "Secret" and c["action"] == "delete"]
    assert [c["name"] for c in deletes] == ["old-credentials"] and deletes[0]["diff"]
    agent("sync", "leak", "--prune", "-v")
    after = json.loads(agent("diff", "leak", "-o", "json", expect=(0, 1)).stdout)
    assert not any(c["name"] == "old-credentials" for c in after["changes"] if c["action"] != "unchanged")

    (repo / "manifests" / "leak" / "settings.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: leak-settings}\ndata: {mode: relaxed}\n"
    )
    git(repo, "commit", "-q", "-am", "relax")
    head = git(repo, "rev-parse", "HEAD")
    agent("plan", "--base", base, "--head", head, "--live", "--comment", "--pr", "12", expect=1)
    agent("plan", "--base", base, "--head", head, "-f", "json", "--live", expect=1)
    agent("audit", "leak", "--no-fetch")
    assert github_bodies, "the plan comment was not posted"

    # The Secret object in resources: refused, named, nothing committed.
    before = git(repo, "rev-parse", "env/leak")
    (repo / "manifests" / "leak" / "secret.yaml").write_text(
        f"apiVersion: v1\nkind: Secret\nmetadata: {{name: db}}\nstringData: {{password: {in_resources}}}\n"
    )
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "a secret in resources")
    refused = agent("compile", "--commit", expect=2)
    assert b"manifests/leak/secret.yaml" in refused.stderr
    assert git(repo, "rev-parse", "env/leak") == before
    reliability.add("secret values planted", len(planted) + 1)

    time.sleep(0.1)
    agent_refs = [r for r in git(repo, "for-each-ref", "--format=%(refname)").split() if "/env/" in r or "notes" in r]
    assert any("notes" in r for r in agent_refs), "no sync notes were recorded"
    assert_absent(all_objects(repo), planted, "a git object")
    assert_absent(all_objects(repo, agent_refs), {**planted, "resources secret": in_resources}, "an agent ref")
    assert_absent(b"\n".join(outputs), {**planted, "resources secret": in_resources}, "command output")
    for body in github_bodies:
        assert_absent(body, {**planted, "resources secret": in_resources}, "a GitHub request body")
    crash_logs = list(Path(tempfile.gettempdir()).glob("gitops-agent-crash-*")) + list(
        (tmp_path / "tmp").glob("gitops-agent-crash-*")
    )
    for log in crash_logs:
        if log.stat().st_mtime >= tmp_path.stat().st_mtime:
            assert_absent(log.read_bytes(), planted, f"crash log {log}")
    api.request("DELETE", f"/api/v1/namespaces/{namespace}")
