"""A sweep synced to the real control plane: the compiled Indexed Job and the ConfigMap of
its trials are created, the Job's pods (one per trial, on the simulated nodes) carry their
completion index and mount the trials, the Job completes, and ``diff`` shows no drift; a
new generation in git is a new Job over the updated ConfigMap."""

from __future__ import annotations

import json
import secrets
import time
from pathlib import Path
from typing import Any

import pytest

from gitops_agent.cli import run
from tests.integration.reconcile_helpers import delete_namespaces, get, kubectl
from tests.support.gitrepos import git

pytestmark = pytest.mark.integration
EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "workflows" / "fraud-model-sweep.yaml"


def _cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, dict[str, Any]]:
    capsys.readouterr()
    code = run([*args, "-o", "json"])
    out, err = capsys.readouterr()
    assert out, f"exit {code}: {err}"
    document: dict[str, Any] = json.loads(out)
    return code, document


def _jobs(kubeconfig: Path, namespace: str, task: str) -> list[dict[str, Any]]:
    found = kubectl(kubeconfig, "-n", namespace, "get", "jobs", "-l", f"gitops-agent.io/task={task}", "-o", "json")
    items: list[dict[str, Any]] = json.loads(found)["items"]
    return items


def _wait_succeeded(kubeconfig: Path, namespace: str, name: str, count: int) -> dict[str, Any]:
    deadline = time.monotonic() + 120
    while True:
        job = get(kubeconfig, namespace, "job", name)
        if job.get("status", {}).get("succeeded") == count:
            return job
        if time.monotonic() > deadline:
            raise AssertionError(f"job {name}: {job.get('status')}")
        time.sleep(0.5)


def _assert_no_drift(capsys: pytest.CaptureFixture[str], env: str, cluster: list[str]) -> None:
    code, document = _cli(capsys, "diff", env, *cluster)
    drift = [(c["kind"], c["name"], c["action"]) for c in document["changes"] if c["action"] != "unchanged"]
    assert code == 0, drift


def test_a_sweep_runs_its_trials_as_an_indexed_job_without_drift(  # type: ignore[no-untyped-def]
    tmp_path: Path, kube_cluster, capsys
) -> None:
    kubeconfig = kube_cluster.kubeconfig
    suffix = secrets.token_hex(3)
    env, namespace = f"sw{suffix}", f"sweep-{suffix}"
    repo = tmp_path / "repo"
    (repo / "workflows").mkdir(parents=True)
    (repo / "environments").mkdir()
    git(repo, "init", "-q", "-b", "main")
    workflow = EXAMPLE.read_text().replace("resources: {cpu: 500m, memory: 1Gi}", "resources: {cpu: 50m, memory: 64Mi}")
    (repo / "workflows" / "sweep.yaml").write_text(workflow)
    (repo / "environments" / f"{env}.yaml").write_text(
        "apiVersion: gitops-agent.io/v1alpha1\nkind: Environment\n"
        f"metadata: {{name: {env}}}\nspec: {{namespace: {namespace}, branch: env/{env}}}\n"
    )
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "sweep")
    cluster = ["--repo", str(repo), "--kubeconfig", str(kubeconfig)]
    try:
        assert run(["compile", "--repo", str(repo), "--env", env, "--commit"]) == 0
        code, document = _cli(capsys, "sync", env, *cluster)
        actions = {(c["kind"], c["name"]): c["action"] for c in document["changes"]}
        assert actions[("ConfigMap", "fraud-sweep-tune-trials")] == "create"
        (tune,) = _jobs(kubeconfig, namespace, "tune")
        assert actions[("Job", tune["metadata"]["name"])] == "create"
        spec = tune["spec"]
        assert (spec["completionMode"], spec["completions"], spec["parallelism"]) == ("Indexed", 4, 4)

        # the trials ConfigMap, as the API server stores it, has one document per index
        config = get(kubeconfig, namespace, "configmap", "fraud-sweep-tune-trials")
        documents = {key: json.loads(value) for key, value in config["data"].items()}
        assert sorted(documents) == ["0.json", "1.json", "2.json", "3.json"]
        assert [documents[f"{i}.json"]["trial"] for i in range(4)] == [0, 1, 2, 3]

        done = _wait_succeeded(kubeconfig, namespace, tune["metadata"]["name"], 4)
        assert done["status"].get("completedIndexes") == "0-3"
        pods = json.loads(
            kubectl(kubeconfig, "-n", namespace, "get", "pods", "-l", "gitops-agent.io/task=tune", "-o", "json")
        )["items"]
        indexes = sorted(p["metadata"]["annotations"]["batch.kubernetes.io/job-completion-index"] for p in pods)
        assert indexes[:4] == ["0", "1", "2", "3"]
        container = pods[0]["spec"]["containers"][0]
        env_vars = {e["name"]: e for e in container["env"]}
        assert env_vars["SWEEP_TRIAL_FILE"]["value"] == "/etc/gitops-agent/sweep/$(SWEEP_INDEX).json"
        assert "JOB_COMPLETION_INDEX" in env_vars  # set by the Job controller for Indexed Jobs
        assert {"name": "sweep-trials", "configMap": {"name": "fraud-sweep-tune-trials", "defaultMode": 420}} in pods[
            0
        ]["spec"]["volumes"]
        code, document = _cli(capsys, "sync", env, *cluster)  # the sweep done, its dependent starts
        assert [c["action"] for c in document["changes"] if c["name"].startswith("fraud-sweep-train-")] == ["create"]
        _assert_no_drift(capsys, env, cluster)

        # generation 2 in git: the ConfigMap changes, a new Job runs the new trials
        trials = (
            "".join(
                f"        - {{generation: 1, parameters: {json.dumps(documents[f'{i}.json']['parameters'])}, "
                f"objective: 0.{80 + i}}}\n"
                for i in range(4)
            )
            + "        - {generation: 2, parameters: {booster: dart, learning_rate: 0.05, max_depth: 4}}\n"
        )
        text = (repo / "workflows" / "sweep.yaml").read_text()
        text = text.replace("        trainingTask: train\n", "        trainingTask: train\n        trials:\n" + trials)
        (repo / "workflows" / "sweep.yaml").write_text(text)
        git(repo, "commit", "-q", "-am", "generation 2")
        assert run(["compile", "--repo", str(repo), "--env", env, "--commit"]) == 0
        code, document = _cli(capsys, "sync", env, *cluster)
        assert code == 0 and any(c["action"] == "update" and c["kind"] == "ConfigMap" for c in document["changes"])
        names = {j["metadata"]["name"] for j in _jobs(kubeconfig, namespace, "tune")}
        (second,) = names - {tune["metadata"]["name"]}
        _wait_succeeded(kubeconfig, namespace, second, 1)
        config = get(kubeconfig, namespace, "configmap", "fraud-sweep-tune-trials")
        assert list(config["data"]) == ["0.json"] and json.loads(config["data"]["0.json"])["trial"] == 4
        _assert_no_drift(capsys, env, cluster)
    finally:
        delete_namespaces(kubeconfig, namespace)
