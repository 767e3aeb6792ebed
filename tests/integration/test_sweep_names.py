"""A sweep whose names are as long as validation allows runs on the real control plane: the
Job controller makes each Indexed pod's hostname ``<job>-<index>``, a DNS label, so the API
server refuses a Job whose last index does not fit in 63 characters. A 63-character Job name
passed validate and was refused at sync, after the other objects were applied; the longest
names validate accepts now give exactly 63."""

from __future__ import annotations

import json
import secrets
import time
from pathlib import Path

import pytest

from gitops_agent.cli import run
from tests.integration.reconcile_helpers import delete_namespaces, kubectl
from tests.support.gitrepos import git

pytestmark = pytest.mark.integration

WORKFLOW = """\
apiVersion: gitops-agent.io/v1alpha1
kind: Workflow
metadata: {name: WF}
spec:
  defaults: {image: registry.example.com/lab:1.0.0, resources: {cpu: 10m, memory: 16Mi}}
  tasks:
    TASK:
      command: [python, -m, lab.trial]
      sweep:
        algorithm: grid
        maxTrialCount: 12
        parallelTrialCount: 12
        objective: {metric: loss, goal: minimize}
        trainingTask: train
        parameters:
          depth: {min: 1, max: 12}
    train:
      command: [python, -m, lab.train]
"""


def test_the_longest_names_run_every_trial(tmp_path: Path, kube_cluster, capsys) -> None:  # type: ignore[no-untyped-def]
    kubeconfig = kube_cluster.kubeconfig
    suffix = secrets.token_hex(3)
    env, namespace = f"sn{suffix}", f"sweep-names-{suffix}"
    workflow, task = "w" * 27, "t" * 23  # the Job: 27 + 1 + 23 + 1 + 8 = 60; its pod 11: 63
    repo = tmp_path / "repo"
    (repo / "workflows").mkdir(parents=True)
    (repo / "environments").mkdir()
    git(repo, "init", "-q", "-b", "main")
    (repo / "workflows" / "lab.yaml").write_text(WORKFLOW.replace("WF", workflow).replace("TASK", task))
    (repo / "environments" / f"{env}.yaml").write_text(
        "apiVersion: gitops-agent.io/v1alpha1\nkind: Environment\n"
        f"metadata: {{name: {env}}}\nspec: {{namespace: {namespace}, branch: env/{env}}}\n"
    )
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "sweep")
    try:
        assert run(["compile", "--repo", str(repo), "--env", env, "--commit"]) == 0
        code = run(["sync", env, "--repo", str(repo), "--kubeconfig", str(kubeconfig)])
        out, err = capsys.readouterr()
        assert code == 0, out + err
        deadline = time.monotonic() + 120
        while True:
            jobs = json.loads(kubectl(kubeconfig, "-n", namespace, "get", "jobs", "-o", "json"))["items"]
            job = next(j for j in jobs if j["metadata"]["name"].startswith(f"{workflow}-{task}-"))
            assert len(job["metadata"]["name"]) == 60
            if job.get("status", {}).get("succeeded") == 12:
                break
            assert time.monotonic() < deadline, job.get("status")
            time.sleep(0.5)
        assert job["status"]["completedIndexes"] == "0-11"
        pods = json.loads(kubectl(kubeconfig, "-n", namespace, "get", "pods", "-o", "json"))["items"]
        assert max(len(p["spec"].get("hostname", "")) for p in pods) == 63

        # one character more: validate refuses it, located, before anything is applied
        text = (repo / "workflows" / "lab.yaml").read_text().replace(task, task + "t")
        (repo / "workflows" / "lab.yaml").write_text(text)
        assert run(["validate", "--repo", str(repo)]) == 2
        assert "pod hostname '<job>-11' of this Indexed Job would have 64 characters" in capsys.readouterr().err
    finally:
        delete_namespaces(kubeconfig, namespace)
