"""Deployment and Job health read their Pods: what the scheduler and the kubelet report
(unschedulable, crash loops and other stuck containers, how a failed Pod exited) — Pods
written as kube-scheduler and a kubelet write their status."""

from __future__ import annotations

from typing import Any

import pytest

from gitops_agent.reconcile.dag import Gate, gate, task_jobs
from gitops_agent.reconcile.health import STUCK_WAITING_REASONS, HealthStatus, health_of
from gitops_agent.vocabulary.objects import ref_of

NS = "ml"
UNSCHEDULABLE_MESSAGE = (
    "0/4 nodes are available: 1 node(s) had untolerated taint {nvidia.com/gpu: present}, "
    "3 Insufficient nvidia.com/gpu. preemption: 0/4 nodes are available: 4 Preemption is not helpful."
)


def job(
    name: str, *, uid: str = "job-uid", task: str = "", depends: str = "", conditions: Any = None
) -> dict[str, Any]:
    labels = {"app.kubernetes.io/part-of": "wf"}
    if task:
        labels["gitops-agent.io/task"] = task
    meta: dict[str, Any] = {"name": name, "namespace": NS, "uid": uid, "labels": labels}
    if depends:
        meta["annotations"] = {"gitops-agent.io/depends-on": depends}
    return {"apiVersion": "batch/v1", "kind": "Job", "metadata": meta,
            "spec": {"backoffLimit": 0}, "status": {"conditions": conditions or [], "active": 1}}


def deployment(*, available: int = 0, replicas: int = 2) -> dict[str, Any]:
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "namespace": NS, "generation": 1, "uid": "dep-uid"},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": "web"}}},
            "status": {"observedGeneration": 1, "replicas": replicas, "updatedReplicas": replicas,
                       "availableReplicas": available}}


def pod(name: str, *, owner_uid: str = "", labels: dict[str, str] | None = None, phase: str = "Pending",
        conditions: Any = None, containers: Any = None, init: Any = None) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "namespace": NS, "labels": labels or {},
                            "creationTimestamp": "2026-01-01T00:00:00Z"}
    if owner_uid:
        meta["ownerReferences"] = [{"apiVersion": "batch/v1", "kind": "Job", "name": "x", "uid": owner_uid,
                                    "controller": True}]
    status: dict[str, Any] = {"phase": phase, "conditions": conditions or []}
    if containers is not None:
        status["containerStatuses"] = containers
    if init is not None:
        status["initContainerStatuses"] = init
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "status": status}


UNSCHEDULED = [{"type": "PodScheduled", "status": "False", "reason": "Unschedulable", "message": UNSCHEDULABLE_MESSAGE}]


def waiting(reason: str, restarts: int = 0) -> list[dict[str, Any]]:
    return [{"name": "main", "ready": False, "restartCount": restarts, "state": {"waiting": {"reason": reason}},
             "lastState": {"terminated": {"exitCode": 1, "reason": "Error"}} if restarts else {}}]


def test_an_unschedulable_job_pod_makes_the_job_degraded_with_the_schedulers_message() -> None:
    health = health_of("batch", "Job", job("train"), [pod("train-x", owner_uid="job-uid", conditions=UNSCHEDULED)])
    assert health.status is HealthStatus.DEGRADED
    assert health.message == f"pod train-x cannot be scheduled: {UNSCHEDULABLE_MESSAGE}"


def test_pods_of_other_jobs_and_a_job_without_pods_leave_it_progressing() -> None:
    other = pod("other-x", owner_uid="another-uid", conditions=UNSCHEDULED)
    assert health_of("batch", "Job", job("train"), [other]).status is HealthStatus.PROGRESSING
    assert health_of("batch", "Job", job("train")).status is HealthStatus.PROGRESSING
    pending_unscheduled_yet = pod("train-x", owner_uid="job-uid")  # no PodScheduled condition yet
    assert health_of("batch", "Job", job("train"), [pending_unscheduled_yet]).status is HealthStatus.PROGRESSING


def test_a_failed_job_reports_how_its_last_pod_failed() -> None:
    failed = [{"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded"}]
    terminated = [{"name": "main", "state": {"terminated": {"exitCode": 3, "reason": "Error",
                                                            "message": "disk full\n"}}}]
    first = pod("train-a", owner_uid="job-uid", phase="Failed", containers=terminated)
    last = pod("train-b", owner_uid="job-uid", phase="Failed", containers=terminated)
    last["metadata"]["creationTimestamp"] = "2026-01-01T00:01:00Z"
    health = health_of("batch", "Job", job("train", conditions=failed), [last, first])
    assert health.status is HealthStatus.DEGRADED
    assert health.message == (
        "job failed: BackoffLimitExceeded (pod train-b: container main exited with code 3 (Error): disk full)"
    )
    evicted = pod("train-c", owner_uid="job-uid", phase="Failed")
    evicted["status"].update(reason="Evicted", message="The node was low on resource: memory.")
    message = health_of("batch", "Job", job("train", conditions=failed), [evicted]).message
    assert message.endswith("(pod train-c: Evicted: The node was low on resource: memory.)")
    # without Pods (not readable): the condition alone
    assert health_of("batch", "Job", job("train", conditions=failed)).message == "job failed: BackoffLimitExceeded"


@pytest.mark.parametrize("reason", sorted(STUCK_WAITING_REASONS))
def test_a_stuck_container_makes_a_progressing_deployment_degraded(reason: str) -> None:
    stuck = pod("web-1", labels={"app": "web"}, phase="Running", containers=waiting(reason, restarts=4))
    health = health_of("apps", "Deployment", deployment(), [stuck])
    assert health.status is HealthStatus.DEGRADED
    assert health.message == f"pod web-1: container main: {reason} (restarted 4 times), last exit code 1"


def test_a_stuck_init_container_and_a_stuck_job_pod_count_too() -> None:
    init = pod("web-1", labels={"app": "web"}, init=waiting("CrashLoopBackOff", 2),
               containers=waiting("PodInitializing"))
    assert health_of("apps", "Deployment", deployment(), [init]).status is HealthStatus.DEGRADED
    job_pod = pod("t-1", owner_uid="job-uid", phase="Pending", containers=waiting("ImagePullBackOff"))
    assert health_of("batch", "Job", job("t"), [job_pod]).message == "pod t-1: container main: ImagePullBackOff"


def test_a_deployment_with_unschedulable_pods_is_degraded() -> None:
    unplaced = pod("web-1", labels={"app": "web"}, conditions=UNSCHEDULED)
    health = health_of("apps", "Deployment", deployment(), [unplaced])
    assert health.status is HealthStatus.DEGRADED and "cannot be scheduled: 0/4 nodes" in health.message


def test_transient_waits_foreign_pods_and_available_deployments_are_not_degraded() -> None:
    creating = pod("web-1", labels={"app": "web"}, containers=waiting("ContainerCreating"))
    assert health_of("apps", "Deployment", deployment(), [creating]).status is HealthStatus.PROGRESSING
    foreign = pod("api-1", labels={"app": "api"}, phase="Running", containers=waiting("CrashLoopBackOff", 3))
    assert health_of("apps", "Deployment", deployment(), [foreign]).status is HealthStatus.PROGRESSING
    other_namespace = pod("web-1", labels={"app": "web"}, phase="Running", containers=waiting("CrashLoopBackOff", 3))
    other_namespace["metadata"]["namespace"] = "elsewhere"
    assert health_of("apps", "Deployment", deployment(), [other_namespace]).status is HealthStatus.PROGRESSING
    # an available Deployment stays Healthy even if some Pod (e.g. of an old ReplicaSet) crashes
    crashing = pod("web-1", labels={"app": "web"}, phase="Running", containers=waiting("CrashLoopBackOff", 3))
    assert health_of("apps", "Deployment", deployment(available=2), [crashing]).status is HealthStatus.HEALTHY


def test_set_based_selectors_pick_the_pods() -> None:
    dep = deployment()
    dep["spec"]["selector"] = {"matchLabels": {"app": "web"},
                               "matchExpressions": [{"key": "track", "operator": "In", "values": ["canary"]},
                                                    {"key": "legacy", "operator": "DoesNotExist"}]}
    crash = waiting("CrashLoopBackOff", 1)
    stable = pod("web-1", labels={"app": "web", "track": "stable"}, phase="Running", containers=crash)
    legacy = pod("web-2", labels={"app": "web", "track": "canary", "legacy": "1"}, phase="Running", containers=crash)
    assert health_of("apps", "Deployment", dep, [stable, legacy]).status is HealthStatus.PROGRESSING
    canary = pod("web-3", labels={"app": "web", "track": "canary"}, phase="Running", containers=crash)
    assert health_of("apps", "Deployment", dep, [stable, canary]).message.startswith("pod web-3:")


def test_an_unschedulable_dependency_blocks_its_dependents_with_the_reason() -> None:
    train = job("wf-train", task="train")
    evaluate = job("wf-evaluate", uid="eval-uid", task="evaluate", depends="train")
    jobs = task_jobs([train, evaluate])
    live = {ref_of(train).key: train}
    assert gate(evaluate, jobs, live).gate is Gate.WAITING  # Pods not read: nothing known yet
    decision = gate(evaluate, jobs, live, pods=[pod("wf-train-x", owner_uid="job-uid", conditions=UNSCHEDULED)])
    assert decision.gate is Gate.BLOCKED
    assert decision.message == (
        f"dependency 'train' is Degraded (wf-train: pod wf-train-x cannot be scheduled: {UNSCHEDULABLE_MESSAGE})"
    )


def test_kinds_without_a_health_rule_do_not_decide_the_overall_health() -> None:
    from gitops_agent.reconcile.changeset import overall_health

    assert overall_health([HealthStatus.HEALTHY, HealthStatus.UNKNOWN, None]) is HealthStatus.HEALTHY
    assert overall_health([HealthStatus.UNKNOWN, HealthStatus.PROGRESSING]) is HealthStatus.PROGRESSING
    assert overall_health([HealthStatus.UNKNOWN, HealthStatus.DEGRADED]) is HealthStatus.DEGRADED


# The Pod index answers exactly what a scan of every Pod answers.

def _pod(index: int, namespace: str | None, labels: dict[str, str], owner: str | None) -> dict[str, Any]:
    created = f"2026-01-01T00:00:{index % 60:02d}Z"
    meta: dict[str, Any] = {"name": f"p{index}", "labels": labels, "creationTimestamp": created}
    if namespace is not None:
        meta["namespace"] = namespace
    if owner is not None:
        meta["ownerReferences"] = [{"uid": owner, "kind": "ReplicaSet", "name": owner}]
    return {"metadata": meta}


def _pods(with_unplaced: bool) -> list[dict[str, Any]]:
    pods = []
    for i in range(60):
        labels = {"app": f"a{i % 4}", "tier": ("web", "db", "1")[i % 3]}
        if i % 5 == 0:
            labels["extra"] = "yes"
        namespace = None if (with_unplaced and i % 17 == 0) else ("ns1", "ns2")[i % 2]
        pods.append(_pod(i, namespace, labels, f"uid-{i % 6}" if i % 7 else None))
    return pods


SELECTORS: list[dict[str, Any]] = [
    {"matchLabels": {"app": "a1"}},
    {"matchLabels": {"app": "a2", "tier": "db"}},
    {"matchLabels": {"tier": 1}},  # a number in git: compared as text, as before
    {"matchLabels": {"app": "a3"}, "matchExpressions": [{"key": "extra", "operator": "Exists"}]},
    {"matchExpressions": [{"key": "tier", "operator": "In", "values": ["web"]}]},
    {"matchLabels": {"app": "none"}},
    {},
]


@pytest.mark.parametrize("with_unplaced", [False, True])
@pytest.mark.parametrize("namespace", ["ns1", "ns2", None])
def test_pod_index_selects_and_owns_like_a_scan(with_unplaced: bool, namespace: str | None) -> None:
    from gitops_agent.reconcile.health import PodIndex, pods_owned_by, pods_selected_by

    pods = _pods(with_unplaced)
    index = PodIndex(pods)
    assert list(index) == pods
    for selector in SELECTORS:
        meta = {"name": "d", **({"namespace": namespace} if namespace else {})}
        obj = {"metadata": meta, "spec": {"selector": selector}}
        assert pods_selected_by(obj, index) == pods_selected_by(obj, pods), selector
    for uid in ("uid-0", "uid-3", "uid-9"):
        owner = {"metadata": {"uid": uid}}
        assert pods_owned_by(owner, index) == pods_owned_by(owner, pods)
    assert any(pods_selected_by({"metadata": {"namespace": "ns1"}, "spec": {"selector": s}}, index) for s in SELECTORS)


def test_live_state_finds_a_task_s_jobs_like_a_scan() -> None:
    """The Jobs of a task, looked up in the index, are those a scan of every live object finds."""
    from gitops_agent.reconcile.live import LiveState
    from gitops_agent.reconcile.planning import previous_task_job

    def task_job(name: str, workflow: str, task: str, created: str) -> dict[str, Any]:
        labels = {"app.kubernetes.io/part-of": workflow, "gitops-agent.io/task": task}
        meta = {"name": name, "namespace": "ml", "labels": labels, "creationTimestamp": created}
        return {"apiVersion": "batch/v1", "kind": "Job", "metadata": meta}

    live = [
        task_job("train-a", "shop", "train", "2026-01-01T00:00:01Z"),
        task_job("train-b", "shop", "train", "2026-01-01T00:00:03Z"),
        task_job("train-c", "other", "train", "2026-01-01T00:00:05Z"),
        task_job("prep-a", "shop", "prep", "2026-01-01T00:00:07Z"),
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "train-z", "namespace": "ml",
                                                                "labels": {"gitops-agent.io/task": "train"}}},
    ]
    state = LiveState({ref_of(o).key: o for o in live}, {}, {})
    new = task_job("train-new", "shop", "train", "")
    found = previous_task_job(new, state.task_jobs(("shop", "train")))
    assert found is previous_task_job(new, live)
    assert found is not None and found["metadata"]["name"] == "train-b"
    assert [o["metadata"]["name"] for o in state.task_jobs(("other", "train"))] == ["train-c"]
    assert state.task_jobs(("shop", "missing")) == []
