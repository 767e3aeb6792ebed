"""A finished task run is a fact, kept in git: a Job git still declares that finished and then
disappeared (TTL cleanup, a person's delete, a rebuilt cluster) is not created again for the same
identity; dependents proceed; a fresh clone knows what ran; ``rerun`` is the deliberate way to run
again; ``audit`` lists each run once. Against the local control plane, as a user runs the CLI."""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from gitops_agent.cli import run
from tests.integration.reconcile_helpers import kubectl, wait_for_job
from tests.support.gitrepos import GitRemote, git

pytestmark = pytest.mark.integration

DAG = """\
apiVersion: gitops-agent.io/v1alpha1
kind: Workflow
metadata: {name: pipeline}
spec:
  defaults: {image: registry.example.com/pipeline:1.0}
  tasks:
    prepare: {command: [python, -m, prepare]}
    train: {dependsOn: [prepare], command: [python, -m, train]}
    evaluate: {dependsOn: [train], command: [python, -m, evaluate]}
"""

MIGRATION = """\
apiVersion: batch/v1
kind: Job
metadata: {name: db-migrate}
spec:
  ttlSecondsAfterFinished: 5
  template:
    spec:
      restartPolicy: Never
      containers: [{name: migrate, image: registry.example.com/migrate:IMAGE}]
"""


@dataclass
class Repo:
    path: Path
    env: str
    namespace: str
    kubeconfig: Path

    def agent(self, capsys: pytest.CaptureFixture[str], command: str, *args: str) -> tuple[int, dict]:  # type: ignore[type-arg]
        capsys.readouterr()
        cluster = ["--kubeconfig", str(self.kubeconfig)] if command in ("diff", "sync") else []
        code = run([command, self.env, *args, "--repo", str(self.path), *cluster, "-o", "json"])
        out, err = capsys.readouterr()
        assert out, f"{args}: exit {code}: {err}"
        return code, json.loads(out)

    def jobs(self) -> dict[str, dict]:  # type: ignore[type-arg]
        """Live Jobs by task (or name), created by gitops-agent."""
        items = json.loads(kubectl(self.kubeconfig, "-n", self.namespace, "get", "jobs", "-o", "json"))["items"]
        return {i["metadata"].get("labels", {}).get("gitops-agent.io/task") or i["metadata"]["name"]: i for i in items}

    def finish(self, task: str) -> None:
        """Wait until the task's Job completed on the simulated nodes."""
        wait_for_job(self.kubeconfig, self.namespace, self.jobs()[task]["metadata"]["name"])

    def delete_job(self, task: str) -> None:
        name = self.jobs()[task]["metadata"]["name"]
        kubectl(self.kubeconfig, "-n", self.namespace, "delete", "job", name, "--wait=true")


def actions(document: dict) -> dict[tuple[str, str], str]:  # type: ignore[type-arg]
    return {(c["kind"], c["name"]): c["action"] for c in document["changes"]}


def job_actions(document: dict) -> list[str]:  # type: ignore[type-arg]
    return sorted(c["action"] for c in document["changes"] if c["kind"] == "Job")


def make_repo(path: Path, kube_cluster, *, workflow: str = "", migration: str = "") -> Repo:  # type: ignore[no-untyped-def]
    suffix = secrets.token_hex(3)
    env, namespace = f"runs{suffix}", f"runs-{suffix}"
    (path / "workflows").mkdir(parents=True, exist_ok=True)
    (path / "environments").mkdir(exist_ok=True)
    resources = ""
    if workflow:
        (path / "workflows" / "pipeline.yaml").write_text(workflow)
    if migration:
        (path / "manifests").mkdir(exist_ok=True)
        (path / "manifests" / "migrate.yaml").write_text(migration)
        resources = "  resources: [manifests/migrate.yaml]\n"
    (path / "environments" / f"{env}.yaml").write_text(
        "apiVersion: gitops-agent.io/v1alpha1\nkind: Environment\n"
        f"metadata: {{name: {env}}}\nspec:\n  namespace: {namespace}\n  branch: env/{env}\n"
        f"{'' if workflow else '  workflows: []' + chr(10)}{resources}"
    )
    if not (path / ".git").exists():
        git(path, "init", "-q", "-b", "main")
    git(path, "add", "-A")
    git(path, "commit", "-q", "-m", "specs")
    assert run(["compile", "--repo", str(path), "--commit"]) == 0
    return Repo(path, env, namespace, kube_cluster.kubeconfig)


@pytest.fixture
def dag_repo(tmp_path: Path, kube_cluster) -> Iterator[Repo]:  # type: ignore[no-untyped-def]
    repo = make_repo(tmp_path / "repo", kube_cluster, workflow=DAG)
    yield repo
    kubectl(kube_cluster.kubeconfig, "delete", "namespace", repo.namespace, "--wait=false", check=False)


def test_a_job_removed_by_its_ttl_after_success_is_not_run_again(
    tmp_path: Path, kube_cluster, capsys: pytest.CaptureFixture[str]  # type: ignore[no-untyped-def]
) -> None:
    repo = make_repo(tmp_path / "repo", kube_cluster, migration=MIGRATION.replace("IMAGE", "1.0"))
    try:
        code, first = repo.agent(capsys, "sync", "--wait")  # sees the Job succeed and records it
        assert code == 0 and actions(first)[("Job", "db-migrate")] == "create"
        assert [(r["job"], r["outcome"]) for r in first["runs"]] == [
            ("db-migrate", "started"), ("db-migrate", "succeeded")]

        deadline = time.monotonic() + 60  # the TTL controller deletes the finished Job
        while "db-migrate" in repo.jobs():
            assert time.monotonic() < deadline, "the TTL controller never deleted the Job"
            time.sleep(0.5)

        code, after = repo.agent(capsys, "diff")
        assert code == 0, after
        assert actions(after)[("Job", "db-migrate")] == "completed"
        code, synced = repo.agent(capsys, "sync")
        assert code == 0 and actions(synced)[("Job", "db-migrate")] == "completed"
        assert "db-migrate" not in repo.jobs()

        # a changed spec is a new identity: it runs
        (repo.path / "manifests" / "migrate.yaml").write_text(MIGRATION.replace("IMAGE", "2.0"))
        git(repo.path, "commit", "-q", "-am", "migration 2.0")
        assert run(["compile", "--repo", str(repo.path), "--commit"]) == 0
        code, changed = repo.agent(capsys, "sync")
        assert code == 0 and actions(changed)[("Job", "db-migrate")] == "create"
        assert "db-migrate" in repo.jobs()
    finally:
        kubectl(kube_cluster.kubeconfig, "delete", "namespace", repo.namespace, "--wait=false", check=False)


def test_dependents_run_once_after_an_upstream_job_is_deleted_and_nothing_reruns(
    dag_repo: Repo, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = dag_repo
    code, first = repo.agent(capsys, "sync")
    assert code == 0 and job_actions(first) == ["create", "waiting", "waiting"]
    repo.finish("prepare")
    code, second = repo.agent(capsys, "sync")
    assert code == 0 and job_actions(second) == ["create", "unchanged", "waiting"]
    repo.delete_job("prepare")  # a person cleans up after success
    repo.finish("train")
    code, third = repo.agent(capsys, "sync")  # evaluate still runs: prepare's success is recorded
    assert code == 0 and job_actions(third) == ["completed", "create", "unchanged"]
    repo.finish("evaluate")
    code, fourth = repo.agent(capsys, "sync")
    assert code == 0 and job_actions(fourth) == ["completed", "unchanged", "unchanged"]
    uids = {task: job["metadata"]["uid"] for task, job in repo.jobs().items()}
    assert sorted(uids) == ["evaluate", "train"]

    for task in ("train", "evaluate"):  # the cluster loses every Job
        repo.delete_job(task)
    code, again = repo.agent(capsys, "sync")
    assert code == 0 and job_actions(again) == ["completed", "completed", "completed"]
    assert repo.jobs() == {}

    code, audit = repo.agent(capsys, "audit", "--no-fetch")
    runs = [e for e in audit["events"] if e["kind"] == "task-run"]
    assert sorted((e["details"]["task"], e["details"]["outcome"]) for e in runs) == [
        ("evaluate", "succeeded"), ("prepare", "succeeded"), ("train", "succeeded")]


def test_rerun_is_a_recorded_act_and_runs_the_task_once_more(
    dag_repo: Repo, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = dag_repo
    repo.agent(capsys, "sync")
    repo.finish("prepare")
    repo.agent(capsys, "sync")
    before = repo.jobs()["prepare"]["metadata"]["uid"]
    code, requested = repo.agent(capsys, "rerun", "prepare")
    assert code == 0 and [r["outcome"] for r in requested["runs"]] == ["rerun-requested"]
    code, rerun = repo.agent(capsys, "sync")
    assert code == 0
    [entry] = [c for c in rerun["changes"] if c["kind"] == "Job" and "prepare" in c["name"]]
    assert entry["action"] == "update" and "re-run requested" in entry["message"]
    # the same template runs again: the API server's defaults (backoffLimit, the selector, the
    # controller-uid labels...) are no difference between the live Job and git's
    assert entry["diff"] == "" and entry.get("fields", []) == [], entry["diff"]
    assert repo.jobs()["prepare"]["metadata"]["uid"] != before
    code, audit = repo.agent(capsys, "audit", "--no-fetch")
    kinds = [e["kind"] for e in audit["events"] if e["details"].get("task") == "prepare"]
    assert kinds.count("rerun-requested") == 1 and kinds.count("task-run") == 2


def test_a_fresh_clone_knows_what_ran(
    git_remote: GitRemote, kube_cluster, capsys: pytest.CaptureFixture[str]  # type: ignore[no-untyped-def]
) -> None:
    first = git_remote.clone("first")
    repo = make_repo(first, kube_cluster, migration=MIGRATION.replace("IMAGE", "1.0"))
    try:
        git(first, "push", "-q", "origin", "main", f"env/{repo.env}")
        code, seen = repo.agent(capsys, "sync", "--wait")  # records and pushes the notes
        assert code == 0 and [r["outcome"] for r in seen["runs"]] == ["started", "succeeded"]
        kubectl(repo.kubeconfig, "-n", repo.namespace, "delete", "job", "db-migrate", "--ignore-not-found")

        fresh = Repo(git_remote.clone("fresh"), repo.env, repo.namespace, repo.kubeconfig)
        code, diffed = fresh.agent(capsys, "diff")
        assert code == 0, diffed
        assert actions(diffed)[("Job", "db-migrate")] == "completed"
        # another agent (a reconcile loop started from a third clone, as after a leader
        # takeover) reads the same facts from git and runs nothing again
        other = git_remote.clone("other-agent")
        assert run(["reconcile", repo.env, "--once", "--repo", str(other), "--kubeconfig", str(repo.kubeconfig),
                    "--metrics-port", "-1"]) == 0
        assert "db-migrate" not in repo.jobs()
    finally:
        kubectl(kube_cluster.kubeconfig, "delete", "namespace", repo.namespace, "--wait=false", check=False)


def test_a_job_seen_starting_then_removed_without_a_ttl_runs_again(
    tmp_path: Path, kube_cluster, capsys: pytest.CaptureFixture[str]  # type: ignore[no-untyped-def]
) -> None:
    """Deleted while it ran, or with its namespace: nothing says it finished, so it runs again."""
    no_ttl = MIGRATION.replace("  ttlSecondsAfterFinished: 5\n", "").replace("IMAGE", "1.0")
    repo = make_repo(tmp_path / "repo", kube_cluster, migration=no_ttl)
    try:
        code, first = repo.agent(capsys, "sync")
        assert code == 0 and [r["outcome"] for r in first["runs"]] == ["started"]
        kubectl(repo.kubeconfig, "-n", repo.namespace, "delete", "job", "db-migrate", "--wait=true")
        code, again = repo.agent(capsys, "sync")
        assert code == 0 and actions(again)[("Job", "db-migrate")] == "create"
    finally:
        kubectl(kube_cluster.kubeconfig, "delete", "namespace", repo.namespace, "--wait=false", check=False)
