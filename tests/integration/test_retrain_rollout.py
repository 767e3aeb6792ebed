"""A new ``runId`` on the training task, as a retrain proposal writes it, against a real API
server, scheduler and job controller: training runs again as a new Job, evaluation after it,
and the serving Deployment rolls out only after the new evaluation succeeded; the task
upstream of training is not run again."""

from __future__ import annotations

import copy
from datetime import datetime
from typing import Any

import pytest

from gitops_agent.compile.objects import compile_workflow
from gitops_agent.reconcile.engine import SyncOptions, sync
from gitops_agent.spec.build import build_workflow
from tests.integration.reconcile_helpers import Manifest, connect, get, kubectl, target

pytestmark = pytest.mark.integration
WAIT = SyncOptions(wait=True, timeout=120, poll_interval=0.3)
RUN = "retrain-20261130T120000Z"


def workflow_document(run_id: str | None) -> dict[str, Any]:
    train: dict[str, Any] = {"dependsOn": ["prepare"], "command": ["train"]}
    if run_id is not None:
        train["runId"] = run_id
    return {
        "apiVersion": "gitops-agent.io/v1alpha1",
        "kind": "Workflow",
        "metadata": {"name": "vision"},
        "spec": {
            "defaults": {
                "image": "registry.example.com/vision:1",
                "env": {"GITOPS_AGENT_SIMULATE_DURATION": "1s"},  # how long a pod runs on a simulated node
                "resources": {"cpu": "100m", "memory": "128Mi"},
            },
            "tasks": {
                "prepare": {"command": ["prepare"]},
                "train": train,
                "evaluate": {"dependsOn": ["train"], "command": ["evaluate"]},
            },
            "services": {"serve": {"dependsOn": ["evaluate"], "replicas": 1}},
            "monitoring": {"dashboard": False},
        },
    }


def desired(namespace: str, run_id: str | None) -> list[Manifest]:
    """The compiled objects as the environment's overlay places them."""
    out = []
    for obj in compile_workflow(build_workflow(workflow_document(run_id), "workflows/vision.yaml")):
        placed = copy.deepcopy(obj)
        placed["metadata"]["namespace"] = namespace
        placed["metadata"]["labels"]["gitops-agent.io/environment"] = namespace
        out.append(placed)
    return out


def job_names(objects: list[Manifest]) -> dict[str, str]:
    jobs = [o for o in objects if o["kind"] == "Job"]
    return {o["metadata"]["labels"]["gitops-agent.io/task"]: o["metadata"]["name"] for o in jobs}


def timestamp(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def test_a_new_run_id_retrains_then_evaluates_then_rolls_out_serving(  # type: ignore[no-untyped-def]
    kube_cluster, namespace: str
) -> None:
    kubeconfig = kube_cluster.kubeconfig
    cluster = connect(kubeconfig)
    before, after = desired(namespace, None), desired(namespace, RUN)
    first = sync(cluster, before, target(namespace), WAIT)
    assert first.health.value == "Healthy", [(c.ref.name, c.action, c.message) for c in first.changes]
    old, new = job_names(before), job_names(after)
    assert old["prepare"] == new["prepare"]
    assert old["train"] != new["train"] and old["evaluate"] != new["evaluate"]

    # one pass without waiting: training starts, evaluation and serving wait for it
    step = sync(cluster, after, target(namespace), SyncOptions())
    actions = {c.ref.name: str(c.action) for c in step.changes}
    assert actions[new["train"]] == "create"
    assert actions[new["evaluate"]] == "waiting"
    assert actions["serve"] == "waiting"
    assert actions.get(new["prepare"], "unchanged") == "unchanged"
    template = get(kubeconfig, namespace, "deployment", "serve")["spec"]["template"]["metadata"]
    assert "gitops-agent.io/upstream-runs" not in template.get("annotations", {})

    done = sync(cluster, after, target(namespace), WAIT)
    assert done.health.value == "Healthy", [(c.ref.name, c.action, c.message) for c in done.changes]
    train = get(kubeconfig, namespace, "job", new["train"])
    evaluate = get(kubeconfig, namespace, "job", new["evaluate"])
    assert timestamp(evaluate["metadata"]["creationTimestamp"]) >= timestamp(train["status"]["completionTime"])
    served = get(kubeconfig, namespace, "deployment", "serve")
    annotations = served["spec"]["template"]["metadata"]["annotations"]
    assert annotations["gitops-agent.io/upstream-runs"] == f"train={RUN}"
    # the rollout's new ReplicaSet was made after the new evaluation completed
    row = "{.metadata.creationTimestamp} {.spec.template.metadata.annotations}"
    columns = "jsonpath={range .items[*]}" + row + "{'\\n'}{end}"
    replica_sets = kubectl(kubeconfig, "-n", namespace, "get", "replicasets", "-o", columns)
    rolled = [line.split(" ", 1)[0] for line in replica_sets.splitlines() if "upstream-runs" in line]
    assert len(rolled) == 1, replica_sets
    assert timestamp(rolled[0]) >= timestamp(evaluate["status"]["completionTime"])
    prepared = kubectl(kubeconfig, "-n", namespace, "get", "jobs", "-o", "name").split()
    assert prepared.count(f"job.batch/{new['prepare']}") == 1
