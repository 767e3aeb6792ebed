"""Task order against a real API server, with Job status written by the test (no kubelet)."""

from __future__ import annotations

import threading
import time

import pytest

from gitops_agent.reconcile.changeset import Action, ChangeSet
from gitops_agent.reconcile.engine import SyncOptions, diff, sync
from tests.integration.reconcile_helpers import (
    Manifest,
    connect,
    finish_job,
    get,
    kubectl,
    labels,
    target,
)

pytestmark = pytest.mark.integration


def job(ns: str, task: str, revision: str = "r1", depends: tuple[str, ...] = (), image: str = "busybox:1") -> Manifest:
    meta_labels = {**labels(ns, f"flow-{task}", workflow="flow"), "gitops-agent.io/task": task}
    metadata: Manifest = {"name": f"flow-{task}-{revision}", "namespace": ns, "labels": meta_labels}
    if depends:
        metadata["annotations"] = {"gitops-agent.io/depends-on": ",".join(depends)}
    return {"apiVersion": "batch/v1", "kind": "Job", "metadata": metadata,
            "spec": {"backoffLimit": 0, "template": {"spec": {
                "restartPolicy": "Never", "containers": [{"name": task, "image": image, "command": ["true"]}]}}}}


def service(ns: str, depends: tuple[str, ...]) -> Manifest:
    pod = {"app.kubernetes.io/name": "serve"}
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "serve", "namespace": ns, "labels": labels(ns, "serve", workflow="flow"),
                         "annotations": {"gitops-agent.io/depends-on": ",".join(depends)}},
            "spec": {"selector": {"matchLabels": pod}, "template": {"metadata": {"labels": pod},
                     "spec": {"containers": [{"name": "serve", "image": "registry.example.com/serve:1"}]}}}}


def flow(ns: str, revision: str = "r1") -> list[Manifest]:
    """a → b; c; d after b and c (fan-in); the service after d."""
    return [
        job(ns, "a", revision),
        job(ns, "b", revision, ("a",)),
        job(ns, "c", revision),
        job(ns, "d", revision, ("b", "c")),
        service(ns, ("d",)),
    ]


def actions(result: ChangeSet) -> dict[str, str]:
    return {c.ref.name: str(c.action) for c in result.changes}


def test_jobs_run_in_dependency_order_and_fan_in_waits_for_all(kube_cluster, namespace: str) -> None:  # type: ignore[no-untyped-def]
    kubeconfig = kube_cluster.kubeconfig
    cluster = connect(kubeconfig)
    desired = flow(namespace)
    first = sync(cluster, desired, target(namespace), SyncOptions())
    assert actions(first) == {"flow-a-r1": "create", "flow-c-r1": "create", "flow-b-r1": "waiting",
                              "flow-d-r1": "waiting", "serve": "waiting"}
    waiting = {c.ref.name: c.message for c in first.changes if c.action is Action.WAITING}
    assert waiting["flow-b-r1"] == "waiting for 'a'"
    assert waiting["flow-d-r1"] == "waiting for 'b', 'c'"

    finish_job(kubeconfig, namespace, "flow-a-r1")
    second = sync(cluster, desired, target(namespace), SyncOptions())
    assert actions(second)["flow-b-r1"] == "create"
    assert actions(second)["flow-d-r1"] == "waiting"

    finish_job(kubeconfig, namespace, "flow-b-r1")
    third = sync(cluster, desired, target(namespace), SyncOptions())
    assert actions(third)["flow-d-r1"] == "waiting"  # fan-in: c has not finished yet
    assert next(c.message for c in third.changes if c.ref.name == "flow-d-r1") == "waiting for 'c'"

    finish_job(kubeconfig, namespace, "flow-c-r1")
    fourth = sync(cluster, desired, target(namespace), SyncOptions())
    assert actions(fourth)["flow-d-r1"] == "create"
    assert actions(fourth)["serve"] == "waiting"

    finish_job(kubeconfig, namespace, "flow-d-r1")
    fifth = sync(cluster, desired, target(namespace), SyncOptions())
    assert actions(fifth)["serve"] == "create"
    assert set(actions(sync(cluster, desired, target(namespace), SyncOptions())).values()) == {"unchanged"}


def test_a_failed_task_blocks_its_dependents_transitively(kube_cluster, namespace: str) -> None:  # type: ignore[no-untyped-def]
    kubeconfig = kube_cluster.kubeconfig
    cluster = connect(kubeconfig)
    desired = flow(namespace)
    sync(cluster, desired, target(namespace), SyncOptions())
    finish_job(kubeconfig, namespace, "flow-a-r1", succeeded=False)
    finish_job(kubeconfig, namespace, "flow-c-r1")
    result = sync(cluster, desired, target(namespace), SyncOptions())
    by_name = {c.ref.name: c for c in result.changes}
    assert by_name["flow-b-r1"].action is Action.BLOCKED
    assert by_name["flow-b-r1"].message == "dependency 'a' failed (flow-a-r1)"
    assert by_name["flow-d-r1"].action is Action.BLOCKED
    assert by_name["flow-d-r1"].message == "dependency 'b' is blocked"
    assert by_name["serve"].action is Action.BLOCKED
    assert result.errors  # the CLI exits 3
    jobs = kubectl(kubeconfig, "-n", namespace, "get", "jobs", "-o", "name").split()
    assert sorted(jobs) == ["job.batch/flow-a-r1", "job.batch/flow-c-r1"]


def test_sync_wait_applies_each_task_as_its_dependencies_finish(kube_cluster, namespace: str) -> None:  # type: ignore[no-untyped-def]
    kubeconfig = kube_cluster.kubeconfig
    cluster = connect(kubeconfig)
    desired = [job(namespace, "a"), job(namespace, "b", depends=("a",))]
    stop = threading.Event()

    def finisher() -> None:  # plays the kubelet: every Job that appears succeeds
        done: set[str] = set()
        while not stop.is_set() and len(done) < 2:
            for name in kubectl(kubeconfig, "-n", namespace, "get", "jobs", "-o", "name").split():
                short = name.split("/")[-1]
                if short not in done:
                    finish_job(kubeconfig, namespace, short)
                    done.add(short)
            time.sleep(0.3)

    worker = threading.Thread(target=finisher)
    worker.start()
    try:
        result = sync(cluster, desired, target(namespace), SyncOptions(wait=True, timeout=60, poll_interval=0.3))
    finally:
        stop.set()
        worker.join()
    assert actions(result) == {"flow-a-r1": "create", "flow-b-r1": "create"}
    assert {str(c.health) for c in result.changes} == {"Healthy"}
    assert result.health.value == "Healthy"


def test_changed_task_is_a_new_job_and_old_revisions_are_pruned_after_success(kube_cluster, namespace: str) -> None:  # type: ignore[no-untyped-def]
    kubeconfig = kube_cluster.kubeconfig
    cluster = connect(kubeconfig)
    policy = {"job_history": 1}
    for revision in ("r1", "r2", "r3"):
        result = sync(cluster, [job(namespace, "a", revision)], target(namespace, **policy), SyncOptions())
        assert actions(result)[f"flow-a-{revision}"] == "create"
        finish_job(kubeconfig, namespace, f"flow-a-{revision}")
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
