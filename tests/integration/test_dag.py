"""Task order against a real API server, scheduler and job controller: Jobs run on the
simulated nodes (``tools/testcluster/stages/``), nothing writes their status by hand."""

from __future__ import annotations

import json
import threading
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from gitops_agent.reconcile.changeset import Action, ChangeSet
from gitops_agent.reconcile.engine import SyncOptions, diff, sync
from gitops_agent.reconcile.loop import Desired, LoopEnvironment, LoopSettings, Reconciler
from tests.integration.reconcile_helpers import (
    Manifest,
    connect,
    get,
    kubectl,
    labels,
    target,
    wait_for_job,
)

pytestmark = pytest.mark.integration
WAIT = SyncOptions(wait=True, timeout=120, poll_interval=0.3)


def job(ns: str, task: str, revision: str = "r1", depends: tuple[str, ...] = (), image: str = "busybox:1",
        *, seconds: float = 1, fail: bool = False, resources: Manifest | None = None,
        node_selector: dict[str, str] | None = None) -> Manifest:
    """A task's Job; its Pod runs ``seconds`` on a simulated node, and fails when ``fail``."""
    meta_labels = {**labels(ns, f"flow-{task}", workflow="flow"), "gitops-agent.io/task": task}
    metadata: Manifest = {"name": f"flow-{task}-{revision}", "namespace": ns, "labels": meta_labels}
    if depends:
        metadata["annotations"] = {"gitops-agent.io/depends-on": ",".join(depends)}
    env = [{"name": "GITOPS_AGENT_SIMULATE_DURATION", "value": f"{seconds}s"}]
    if fail:
        env.append({"name": "GITOPS_AGENT_SIMULATE", "value": "fail"})
    container: Manifest = {"name": task, "image": image, "command": ["true"], "env": env}
    if resources:
        container["resources"] = resources
    pod_spec: Manifest = {"restartPolicy": "Never", "containers": [container]}
    if node_selector:
        pod_spec["nodeSelector"] = node_selector
    return {"apiVersion": "batch/v1", "kind": "Job", "metadata": metadata,
            "spec": {"backoffLimit": 0, "template": {"spec": pod_spec}}}


def service(ns: str, depends: tuple[str, ...], *, replicas: int = 2, fail: bool = False) -> Manifest:
    pod = {"app.kubernetes.io/name": "serve"}
    container: Manifest = {"name": "serve", "image": "registry.example.com/serve:1",
                           "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}}}
    if fail:
        container["env"] = [{"name": "GITOPS_AGENT_SIMULATE", "value": "fail"}]
    metadata: Manifest = {"name": "serve", "namespace": ns, "labels": labels(ns, "serve", workflow="flow")}
    if depends:
        metadata["annotations"] = {"gitops-agent.io/depends-on": ",".join(depends)}
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": metadata,
            "spec": {"replicas": replicas, "selector": {"matchLabels": pod}, "template": {"metadata": {"labels": pod},
                     "spec": {"containers": [container]}}}}


def flow(ns: str, revision: str = "r1", *, fail_a: bool = False) -> list[Manifest]:
    """a → b; c (the slowest); d after b and c (fan-in); the service after d."""
    return [
        job(ns, "a", revision, fail=fail_a),
        job(ns, "b", revision, ("a",)),
        job(ns, "c", revision, seconds=4),
        job(ns, "d", revision, ("b", "c")),
        service(ns, ("d",)),
    ]


def actions(result: ChangeSet) -> dict[str, str]:
    return {c.ref.name: str(c.action) for c in result.changes}


def by_name(result: ChangeSet) -> dict[str, Any]:
    return {c.ref.name: c for c in result.changes}


def pods_of(kubeconfig: Path, namespace: str) -> list[Manifest]:
    items: list[Manifest] = json.loads(kubectl(kubeconfig, "-n", namespace, "get", "pods", "-o", "json"))["items"]
    return items


def timestamp(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def test_sync_wait_runs_tasks_in_dependency_order_then_the_service_until_healthy(  # type: ignore[no-untyped-def]
    kube_cluster, namespace: str
) -> None:
    kubeconfig = kube_cluster.kubeconfig
    result = sync(connect(kubeconfig), flow(namespace), target(namespace), WAIT)
    assert set(actions(result).values()) == {"create"}, [(c.ref.name, c.action, c.message) for c in result.changes]
    assert {str(c.health) for c in result.changes} == {"Healthy"}
    assert result.health.value == "Healthy"
    jobs = {t: get(kubeconfig, namespace, "job", f"flow-{t}-r1") for t in "abcd"}
    created = {t: timestamp(j["metadata"]["creationTimestamp"]) for t, j in jobs.items()}
    completed = {t: timestamp(j["status"]["completionTime"]) for t, j in jobs.items()}
    assert created["b"] >= completed["a"]
    # fan-in: d waited for both b and c, whichever finished last (c is slower than a → b unless
    # the machine is loaded: the order of the two is not what is tested)
    assert created["d"] >= max(completed["b"], completed["c"])
    deployment = get(kubeconfig, namespace, "deployment", "serve")
    assert timestamp(deployment["metadata"]["creationTimestamp"]) >= completed["d"]
    assert deployment["status"]["availableReplicas"] == 2
    pods = pods_of(kubeconfig, namespace)
    assert len(pods) == 6 and all(p["spec"].get("nodeName", "").startswith("cpu-node-") for p in pods)


def test_sync_without_wait_applies_what_is_ready_and_the_next_sync_continues(  # type: ignore[no-untyped-def]
    kube_cluster, namespace: str
) -> None:
    kubeconfig = kube_cluster.kubeconfig
    cluster = connect(kubeconfig)
    desired = flow(namespace)
    first = sync(cluster, desired, target(namespace), SyncOptions())
    assert actions(first) == {"flow-a-r1": "create", "flow-c-r1": "create", "flow-b-r1": "waiting",
                              "flow-d-r1": "waiting", "serve": "waiting"}
    waiting = {c.ref.name: c.message for c in first.changes if c.action is Action.WAITING}
    assert waiting["flow-b-r1"] == "waiting for 'a'"
    assert waiting["flow-d-r1"] == "waiting for 'b', 'c'"

    wait_for_job(kubeconfig, namespace, "flow-a-r1")
    second = sync(cluster, desired, target(namespace), SyncOptions())
    assert actions(second)["flow-b-r1"] == "create"
    assert actions(second)["flow-d-r1"] == "waiting"
    assert actions(second)["flow-a-r1"] == "unchanged"


def test_a_failed_task_blocks_its_dependents_with_the_pods_reason(kube_cluster, namespace: str) -> None:  # type: ignore[no-untyped-def]
    kubeconfig = kube_cluster.kubeconfig
    started = time.monotonic()
    result = sync(connect(kubeconfig), flow(namespace, fail_a=True), target(namespace), WAIT)
    assert time.monotonic() - started < WAIT.timeout  # decided, not timed out
    changes = by_name(result)
    failed = changes["flow-a-r1"]
    assert failed.action is Action.CREATE and str(failed.health) == "Degraded"
    assert failed.message.startswith("job failed: BackoffLimitExceeded (pod flow-a-r1-")
    assert failed.message.endswith(
        "container a exited with code 1 (Error): simulated failure (GITOPS_AGENT_SIMULATE=fail))"
    )
    assert changes["flow-b-r1"].action is Action.BLOCKED
    assert changes["flow-b-r1"].message == f"dependency 'a' is Degraded (flow-a-r1: {failed.message})"
    assert changes["flow-d-r1"].action is Action.BLOCKED
    assert changes["flow-d-r1"].message == "dependency 'b' is blocked"
    assert changes["serve"].action is Action.BLOCKED
    assert str(changes["flow-c-r1"].health) == "Healthy"  # independent of a: it ran
    assert result.errors and result.health.value == "Degraded"
    jobs = kubectl(kubeconfig, "-n", namespace, "get", "jobs", "-o", "name").split()
    assert sorted(jobs) == ["job.batch/flow-a-r1", "job.batch/flow-c-r1"]


@pytest.mark.parametrize(
    ("resources", "node_selector", "reason"),
    [
        ({"requests": {"cpu": "100"}}, None, "Insufficient cpu"),
        ({"limits": {"nvidia.com/gpu": 8}}, None, "Insufficient nvidia.com/gpu"),
        (None, {"nvidia.com/gpu.product": "NVIDIA-A100-SXM4-80GB"}, "untolerated taint"),
    ],
    ids=["cpu-larger-than-any-node", "more-gpus-than-any-node", "gpu-node-without-toleration"],
)
def test_an_unschedulable_task_is_reported_with_the_schedulers_message(  # type: ignore[no-untyped-def]
    kube_cluster, namespace: str, resources: Manifest | None, node_selector: dict[str, str] | None, reason: str
) -> None:
    kubeconfig = kube_cluster.kubeconfig
    desired = [job(namespace, "train", resources=resources, node_selector=node_selector),
               job(namespace, "evaluate", depends=("train",))]
    started = time.monotonic()
    result = sync(connect(kubeconfig), desired, target(namespace), WAIT)
    assert time.monotonic() - started < 60
    changes = by_name(result)
    train = changes["flow-train-r1"]
    assert str(train.health) == "Degraded"
    assert "cannot be scheduled: 0/4 nodes are available:" in train.message and reason in train.message
    assert changes["flow-evaluate-r1"].action is Action.BLOCKED
    assert "cannot be scheduled" in changes["flow-evaluate-r1"].message
    pod = pods_of(kubeconfig, namespace)[0]
    assert pod["status"]["phase"] == "Pending" and not pod["spec"].get("nodeName")


def test_a_gpu_task_runs_on_the_gpu_node(kube_cluster, namespace: str) -> None:  # type: ignore[no-untyped-def]
    kubeconfig = kube_cluster.kubeconfig
    desired = [job(namespace, "train", resources={"limits": {"nvidia.com/gpu": 1}})]
    result = sync(connect(kubeconfig), desired, target(namespace), WAIT)
    assert result.health.value == "Healthy", [(c.ref.name, c.message) for c in result.changes]
    pod = pods_of(kubeconfig, namespace)[0]
    assert pod["spec"]["nodeName"] == "gpu-node-0"
    # the ExtendedResourceToleration admission plugin added the toleration, as on GKE and AKS
    assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in pod["spec"]["tolerations"]


def test_a_crash_looping_service_is_degraded(kube_cluster, namespace: str) -> None:  # type: ignore[no-untyped-def]
    kubeconfig = kube_cluster.kubeconfig
    started = time.monotonic()
    result = sync(connect(kubeconfig), [service(namespace, (), fail=True)], target(namespace), WAIT)
    assert time.monotonic() - started < 60
    serve = by_name(result)["serve"]
    assert str(serve.health) == "Degraded" and result.health.value == "Degraded"
    assert "container serve: CrashLoopBackOff (restarted 5 times), last exit code 1" in serve.message


def test_changed_task_is_a_new_job_and_old_revisions_are_pruned_after_success(kube_cluster, namespace: str) -> None:  # type: ignore[no-untyped-def]
    kubeconfig = kube_cluster.kubeconfig
    cluster = connect(kubeconfig)
    policy = {"job_history": 1}
    for revision in ("r1", "r2", "r3"):
        result = sync(cluster, [job(namespace, "a", revision)], target(namespace, **policy), WAIT)
        assert actions(result)[f"flow-a-{revision}"] == "create"
        assert result.health.value == "Healthy"
        time.sleep(1.1)  # distinct creation timestamps
    result = sync(cluster, [job(namespace, "a", "r3")], target(namespace, **policy), SyncOptions())
    deleted = [c.ref.name for c in result.changes if c.action is Action.DELETE]
    assert deleted == ["flow-a-r1"]  # r2 is kept as history (jobHistory 1)
    jobs = kubectl(kubeconfig, "-n", namespace, "get", "jobs", "-o", "name").split()
    assert sorted(jobs) == ["job.batch/flow-a-r2", "job.batch/flow-a-r3"]


def test_same_named_job_with_a_changed_template_is_replaced(kube_cluster, namespace: str) -> None:  # type: ignore[no-untyped-def]
    kubeconfig = kube_cluster.kubeconfig
    cluster = connect(kubeconfig)
    sync(cluster, [job(namespace, "a")], target(namespace), SyncOptions())
    old_uid = get(kubeconfig, namespace, "job", "flow-a-r1")["metadata"]["uid"]
    changed_job = job(namespace, "a", image="busybox:2")
    result = sync(cluster, [changed_job], target(namespace), SyncOptions())
    entry = next(c for c in result.changes if c.ref.name == "flow-a-r1")
    assert entry.action is Action.UPDATE and "deleted and created again" in entry.message
    live = get(kubeconfig, namespace, "job", "flow-a-r1")
    assert live["metadata"]["uid"] != old_uid
    assert live["spec"]["template"]["spec"]["containers"][0]["image"] == "busybox:2"


def test_crd_and_its_custom_resources_in_one_sync(kube_cluster, namespace: str) -> None:  # type: ignore[no-untyped-def]
    kubeconfig = kube_cluster.kubeconfig
    cluster = connect(kubeconfig)
    plural = f"widgets{namespace[-6:]}"
    group = "example.com"
    crd = {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
           "metadata": {"name": f"{plural}.{group}", "labels": labels(namespace, plural)},
           "spec": {"group": group, "scope": "Namespaced",
                    "names": {"plural": plural, "singular": plural[:-1], "kind": plural.capitalize()[:-1]},
                    "versions": [{"name": "v1", "served": True, "storage": True, "schema": {"openAPIV3Schema": {
                        "type": "object", "properties": {"spec": {"type": "object", "properties": {
                            "size": {"type": "integer", "default": 1}, "color": {"type": "string"}}}}}}}]}}
    widget = {"apiVersion": f"{group}/v1", "kind": plural.capitalize()[:-1],
              "metadata": {"name": "w1", "namespace": namespace, "labels": labels(namespace, "w1")},
              "spec": {"color": "blue"}}
    try:
        preview = diff(cluster, [crd, widget], target(namespace))
        assert [str(c.action) for c in preview.changes] == ["create", "create"]
        result = sync(cluster, [crd, widget], target(namespace), SyncOptions())
        assert [(str(c.action), c.wave) for c in result.changes] == [("create", 0), ("create", 5)]
        live = get(kubeconfig, namespace, f"{plural}.{group}", "w1")
        assert live["spec"] == {"color": "blue", "size": 1}  # the CRD's schema default
        # a CRD default is not drift
        assert {str(c.action) for c in diff(connect(kubeconfig), [crd, widget], target(namespace)).changes} == {
            "unchanged"}
    finally:
        kubectl(kubeconfig, "delete", "crd", f"{plural}.{group}", "--ignore-not-found", "--wait=false")


def test_the_reconcile_loop_runs_the_remaining_tasks_as_jobs_finish_without_self_heal(  # type: ignore[no-untyped-def]
    kube_cluster, namespace: str
) -> None:
    """One new revision, then nobody: each round applies the tasks whose dependencies have
    finished since the last one, even with selfHeal off (finishing a revision is not drift)."""
    kubeconfig = kube_cluster.kubeconfig
    desired = flow(namespace)
    env = LoopEnvironment(namespace, target(namespace), False, lambda: "r1",
                          lambda revision: Desired(revision, tuple(desired)), connect(kubeconfig))
    reconciler = Reconciler([env], LoopSettings(interval=0.5, jitter=0.0))
    worker = threading.Thread(target=reconciler.run)
    worker.start()
    try:
        deadline = time.monotonic() + 90
        while not kubectl(kubeconfig, "-n", namespace, "get", "deployment", "--ignore-not-found", "-o", "name"):
            assert time.monotonic() < deadline, kubectl(kubeconfig, "-n", namespace, "get", "jobs")
            time.sleep(0.5)
    finally:
        reconciler.stop.set()
        worker.join()
    jobs = {t: get(kubeconfig, namespace, "job", f"flow-{t}-r1") for t in "abcd"}
    assert all(j["status"].get("succeeded") == 1 for j in jobs.values())
    assert timestamp(jobs["d"]["metadata"]["creationTimestamp"]) >= timestamp(jobs["c"]["status"]["completionTime"])
    assert reconciler.metrics.value("gitops_agent_syncs_total", environment=namespace, result="success") >= 4
