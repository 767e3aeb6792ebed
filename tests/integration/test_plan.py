"""`plan` on real git histories, compiled and rendered with the real kustomize."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from gitops_agent.cli import run
from gitops_agent.plan.build import ChangeKind, Plan, compute_plan
from gitops_agent.plan.markdown import COMMENT_LIMIT, MARKER, render_markdown
from tests.integration.history_helpers import make_history
from tests.support.gitrepos import git, make_gitops_repo
from tools.testcluster.launcher import RunningCluster

pytestmark = pytest.mark.integration

SECRET_B64 = "c3VwZXItc2VjcmV0LXZhbHVl"
SECRET_PLAIN = "hunter2-plaintext"


def _commit(repo: Path, message: str) -> str:
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", message)
    return git(repo, "rev-parse", "HEAD")


def _write_secret(repo: Path, token: str | None) -> None:
    """A Secret placeholder (its values filled in by the cluster), or one with values."""
    text = "apiVersion: v1\nkind: Secret\nmetadata:\n  name: api-token\ntype: Opaque\n"
    if token is not None:
        text += f"data:\n  token: {token}\nstringData:\n  password: {SECRET_PLAIN}\n"
    (repo / "manifests" / "common" / "secret.yaml").write_text(text)


@pytest.fixture
def history(tmp_path: Path) -> tuple[Path, str, str]:
    """base: the examples; head: prod's classifier rescaled, a workflow removed, a Secret added."""
    repo = make_gitops_repo(tmp_path / "gitops")
    base = git(repo, "rev-parse", "HEAD")
    prod = repo / "environments" / "prod.yaml"
    prod.write_text(
        prod.read_text().replace(
            "classifier: {replicas: 4, autoscale: {min: 4, max: 20}}",
            "classifier: {replicas: 6, autoscale: {min: 6, max: 20}}",
        )
    )
    (repo / "workflows" / "fraud-risk-scoring.yaml").unlink()
    _write_secret(repo, None)
    head = _commit(repo, "Rescale prod classifier, drop fraud scoring, add API token")
    return repo, base, head


def _by_env(plan: Plan) -> dict[str, dict[str, list[str]]]:
    return {
        env.environment: {c.value: sorted(str(d.key) for d in env.changes if d.change is c) for c in ChangeKind}
        for env in plan.environments
    }


def test_added_changed_removed_per_environment(history: tuple[Path, str, str]) -> None:
    repo, base, head = history
    plan = compute_plan(repo, base, head)
    changes = _by_env(plan)
    assert set(changes) == {"dev", "staging", "prod"}
    assert changes["prod"] == {
        "added": ["Secret/ml-prod/api-token"],
        "changed": ["HorizontalPodAutoscaler/ml-prod/classifier"],
        "removed": [],
        "re-runs": [],
    }
    for env in ("dev", "staging"):
        assert changes[env]["added"] == [f"Secret/ml-{env}/api-token"]
        assert changes[env]["changed"] == []
        removed = changes[env]["removed"]
        assert f"CronJob/ml-{env}/fraud-risk-scoring-rescore-nightly" in removed
        assert f"PrometheusRule/ml-{env}/fraud-risk-scoring" in removed
        assert all("fraud-risk-scoring" in key for key in removed)
        assert len([k for k in removed if k.startswith("Job/")]) == 5
    prod = next(env for env in plan.environments if env.environment == "prod")
    hpa = next(d for d in prod.changes if d.change is ChangeKind.CHANGED)
    assert "-  minReplicas: 4\n+  minReplicas: 6\n" in hpa.diff
    assert [(f.path, f.old, f.new) for f in hpa.fields] == [("spec.minReplicas", 4, 6)]
    assert "HorizontalPodAutoscaler/ml-prod/classifier: minReplicas 4 → 6 (+50%)" in prod.risks()
    assert prod.unchanged > 10


def test_secret_values_never_reach_any_output(
    history: tuple[Path, str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    """Values in git are refused with a located error that does not repeat them; Secrets that
    do get rendered are diffed with their values masked (see tests/unit/test_plan_diff.py)."""
    repo, base, head = history
    plan = compute_plan(repo, base, head, environments=["dev"])
    added = next(d for d in plan.environments[0].changes if d.key.kind == "Secret")
    assert "+kind: Secret\n" in added.diff and "+type: Opaque\n" in added.diff
    _write_secret(repo, SECRET_B64)
    leaked = _commit(repo, "Commit an API token by mistake")
    for fmt in ("markdown", "json"):
        assert run(["plan", "--repo", str(repo), "--base", head, "--head", leaked, "--format", fmt]) == 2
        out = capsys.readouterr()
        assert f"{leaked[:12]}:manifests/common/secret.yaml:" in out.err
        assert "must not be committed" in out.err
        for secret in (SECRET_B64, SECRET_PLAIN):
            assert secret not in out.out + out.err


def test_exit_codes_formats_and_environment_filter(
    history: tuple[Path, str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    repo, base, head = history
    assert run(["plan", "--repo", str(repo), "--base", base, "--head", base]) == 0
    assert "**No differences.**" in capsys.readouterr().out
    code = run(
        [
            "plan",
            "--repo",
            str(repo),
            "--base",
            base,
            "--head",
            head,
            "--format",
            "json",
            "--env",
            "prod",
        ]
    )
    assert code == 1
    document = json.loads(capsys.readouterr().out)
    assert [e["environment"] for e in document["environments"]] == ["prod"]
    assert document["environments"][0]["summary"]["changed"] == 1
    assert document["changed"] is True
    assert run(["plan", "--repo", str(repo), "--base", base, "--head", head]) == 1
    out = capsys.readouterr().out
    assert out.startswith(MARKER)
    assert run(["plan", "--repo", str(repo), "--base", base, "--head", head, "--env", "qa"]) == 2
    assert "qa" in capsys.readouterr().err
    assert run(["plan", "--repo", str(repo), "--base", "no-such-ref", "--head", head]) == 2


def test_step_summary_written_in_actions(
    history: tuple[Path, str, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    repo, base, head = history
    summary = tmp_path / "summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    assert run(["plan", "--repo", str(repo), "--base", base, "--head", head, "-o", "json"]) == 1
    assert json.loads(capsys.readouterr().out)["changed"] is True
    text = summary.read_text()
    assert text.startswith(MARKER) and "| `prod` | 1 | 1 | 0 |" in text


def _huge_workflow(services: int) -> str:
    lines = [
        "apiVersion: gitops-agent.io/v1alpha1",
        "kind: Workflow",
        "metadata: {name: bulk-scoring}",
        "spec:",
        "  defaults:",
        "    image: registry.example.com/bulk:1.0.0",
        "    resources: {cpu: 100m, memory: 128Mi}",
        "  services:",
    ]
    for i in range(services):
        lines += [
            f"    scorer-{i:03d}:",
            f"      command: [python, -m, bulk.serve, --shard, '{i}']",
            "      ports: {http: 8080}",
            "      replicas: 2",
            "      probes: {readiness: {path: /healthz, port: http}}",
        ]
    return "\n".join(lines) + "\n"


def test_huge_change_stays_under_the_comment_limit(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    repo = make_gitops_repo(tmp_path / "gitops")
    base = git(repo, "rev-parse", "HEAD")
    (repo / "workflows" / "bulk-scoring.yaml").write_text(_huge_workflow(120))
    head = _commit(repo, "Add 120 scoring shards")
    plan = compute_plan(repo, base, head, environments=["dev", "staging"])
    # 240 task objects and the workflow's dashboard ConfigMap
    assert all(env.count(ChangeKind.ADDED) == 241 for env in plan.environments)
    text = render_markdown(plan)
    assert len(text) <= COMMENT_LIMIT
    assert "> **Plan truncated to fit a GitHub comment:**" in text
    assert "| `dev` | 241 | 0 | 0 |" in text and "| `staging` | 241 | 0 | 0 |" in text
    assert run(["plan", "--repo", str(repo), "--base", base, "--head", head]) == 1
    assert len(capsys.readouterr().out) <= COMMENT_LIMIT + 1


def test_live_diffs_head_against_the_cluster(
    kube_cluster: RunningCluster,
    namespace: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    h = make_history(tmp_path, namespace, kube_cluster.kubeconfig)
    synced = git(h.repo, "rev-parse", "HEAD")
    h.compile()
    h.sync()
    capsys.readouterr()
    live = ["--live", "--kubeconfig", str(kube_cluster.kubeconfig), "--format", "json"]
    assert h.cli("plan", "--base", synced, "--head", synced, *live) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["changed"] is False
    assert document["live"][0]["summary"]["changed"] == 0
    assert document["live"][0]["summary"]["unchanged"] >= 3

    head = h.change_spec(tag="1.4", replicas=2, message="echo 1.4")
    assert h.cli("plan", "--base", synced, "--head", head, *live) == 1
    document = json.loads(capsys.readouterr().out)
    (live_env,) = document["live"]
    assert live_env["environment"] == namespace
    changed = [c for c in live_env["changes"] if c["action"] == "changed"]
    assert [(c["kind"], c["name"]) for c in changed] == [("Deployment", "echo")]
    assert "registry.example.com/echo:1.4" in changed[0]["diff"]
    assert document["environments"][0]["summary"]["changed"] == 1
    assert h.cli("plan", "--base", synced, "--head", head, "--live", "--kubeconfig", str(kube_cluster.kubeconfig)) == 1
    assert f"#### live `{namespace}` (head against the cluster)" in capsys.readouterr().out


def test_an_invalid_spec_is_located_at_its_revision(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    repo = make_gitops_repo(tmp_path / "gitops")
    base = git(repo, "rev-parse", "HEAD")
    spec = repo / "workflows" / "image-recognition.yaml"
    spec.write_text(spec.read_text().replace("dependsOn: [train]", "dependsOn: [trian]"))
    head = _commit(repo, "typo")
    assert run(["plan", "--repo", str(repo), "--base", base, "--head", head]) == 2
    err = capsys.readouterr().err
    assert f"{head[:12]}:workflows/image-recognition.yaml:" in err
    assert "trian" in err


def test_environments_that_appear_or_disappear(tmp_path: Path) -> None:
    repo = tmp_path / "gitops"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    (repo / "README.md").write_text("specs arrive in the next commit\n")
    empty = _commit(repo, "Start")
    make_gitops_repo(repo)
    full = git(repo, "rev-parse", "HEAD")
    first = compute_plan(repo, empty, full)
    assert [(e.environment, e.note) for e in first.environments] == [
        ("dev", "new environment"),
        ("prod", "new environment"),
        ("staging", "new environment"),
    ]
    assert all(e.summary["added"] > 10 and e.summary["removed"] == 0 for e in first.environments)
    (repo / "environments" / "staging.yaml").unlink()
    dropped = _commit(repo, "Retire staging")
    plan = compute_plan(repo, full, dropped)
    staging = next(e for e in plan.environments if e.environment == "staging")
    assert staging.note == "environment removed"
    assert staging.summary["removed"] == first.environments[2].summary["added"]
    assert all(not e.changes for e in plan.environments if e.environment != "staging")


def test_comment_is_posted_then_updated_in_place(
    history: tuple[Path, str, str],
    httpserver: HTTPServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Two pushes to one pull request: the first run creates the comment, the second edits it."""
    repo, base, head = history
    event = tmp_path / "event.json"
    event.write_text(json.dumps({"pull_request": {"number": 42}}))
    monkeypatch.setenv("GITHUB_EVENT_PATH", str(event))
    monkeypatch.setenv("GITHUB_TOKEN", "ghs_plan")
    monkeypatch.setenv("GITHUB_REPOSITORY", "acme/gitops")
    monkeypatch.setenv("GITHUB_API_URL", httpserver.url_for("").rstrip("/"))
    headers = {
        "Authorization": "Bearer ghs_plan",
        "Accept": "application/vnd.github+json",
        "X-GitHub-Api-Version": "2022-11-28",
    }
    comments = "/repos/acme/gitops/issues/42/comments"
    posted: list[str] = []

    def create(request: Request) -> Response:
        body = request.get_json()["body"]
        posted.append(body)
        return Response(json.dumps({"id": 9, "body": body, "html_url": "u"}), 201)

    httpserver.expect_ordered_request(comments, method="GET", headers=headers).respond_with_json(
        [{"id": 1, "body": "LGTM"}]
    )
    httpserver.expect_ordered_request(comments, method="POST", headers=headers).respond_with_handler(create)
    assert run(["plan", "--repo", str(repo), "--base", base, "--head", head, "--comment"]) == 1
    httpserver.check_assertions()
    assert posted[0].startswith(MARKER) and "| `prod` | 1 | 1 | 0 |" in posted[0]

    # Same plan again: the first run's stdout is exactly the body the comment is edited to.
    httpserver.clear()
    httpserver.expect_ordered_request(comments, method="GET", headers=headers).respond_with_json(
        [{"id": 1, "body": "LGTM"}, {"id": 9, "body": posted[0]}]
    )
    httpserver.expect_ordered_request(
        "/repos/acme/gitops/issues/comments/9",
        method="PATCH",
        headers=headers,
        json={"body": capsys.readouterr().out.removesuffix("\n")},
    ).respond_with_json({"id": 9, "body": "updated"})
    assert run(["plan", "--repo", str(repo), "--base", base, "--head", head, "--comment"]) == 1
    httpserver.check_assertions()


def test_live_plan_with_an_unreachable_cluster_exits_3(
    history: tuple[Path, str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    repo, base, head = history
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: gone\n"
        "clusters: [{name: gone, cluster: {server: 'https://127.0.0.1:1'}}]\n"
        "users: [{name: u, user: {token: t}}]\n"
        "contexts: [{name: gone, context: {cluster: gone, user: u}}]\n"
    )
    code = run(
        [
            "plan",
            "--repo",
            str(repo),
            "--base",
            base,
            "--head",
            head,
            "--env",
            "dev",
            "--live",
            "--kubeconfig",
            str(kubeconfig),
        ]
    )
    err = capsys.readouterr().err
    assert code == 3, err
    assert "Traceback" not in err and err.startswith("error: ")


def test_a_task_image_bump_reads_as_re_runs_with_the_image_change(tmp_path: Path) -> None:
    repo = make_gitops_repo(tmp_path / "gitops")
    base = git(repo, "rev-parse", "HEAD")
    spec = repo / "workflows" / "image-recognition.yaml"
    spec.write_text(spec.read_text().replace("imgrec-train:1.4.0", "imgrec-train:1.4.1"))
    head = _commit(repo, "Bump the training image")
    plan = compute_plan(repo, base, head, environments=["dev"])
    [env] = plan.environments
    reruns = [d for d in env.changes if d.change is ChangeKind.RERUNS]
    assert [d.key.name.rsplit("-", 1)[0] for d in reruns] == ["image-recognition-train"]
    assert env.count(ChangeKind.ADDED) == env.count(ChangeKind.REMOVED) == 0
    [image] = [f for f in reruns[0].fields if f.path.endswith(".image")]
    assert (image.old, image.new) == (
        "registry.example.com/imgrec-train:1.4.0", "registry.example.com/imgrec-train:1.4.1")
    markdown = render_markdown(plan)
    assert markdown.index("#### Risk summary") < markdown.index("| environment |")
    assert "imgrec-train:1.4.0 → registry.example.com/imgrec-train:1.4.1" in markdown
