"""Pure parts of the reconciler: quantities, masking, waves, health, DAG gates, prune plans,
the change set JSON."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from gitops_agent.reconcile.changeset import Action, Change, ChangeSet
from gitops_agent.reconcile.dag import Gate, find_cycle, gate, task_jobs
from gitops_agent.reconcile.diff import unified_diff
from gitops_agent.reconcile.health import HealthStatus, health_of, worst
from gitops_agent.reconcile.normalize import strip_noise
from gitops_agent.reconcile.objects import tracking_id
from gitops_agent.reconcile.pairing import pair_objects
from gitops_agent.reconcile.prune import PruneRefusedError, check_guards, plan_prune
from gitops_agent.reconcile.waves import apply_order, prune_order, wave_of
from gitops_agent.vocabulary.masking import mask_secrets
from gitops_agent.vocabulary.objects import ObjectRef, ref_of
from gitops_agent.vocabulary.quantities import parse_quantity, quantities_equal

OWN = {"app.kubernetes.io/managed-by": "gitops-agent", "gitops-agent.io/environment": "dev"}


def obj(kind: str, name: str, api: str = "v1", ns: str = "ml", **meta: Any) -> dict[str, Any]:
    """An object as gitops-agent applied it in ``dev``: ownership labels and its tracking id."""
    o: dict[str, Any] = {"apiVersion": api, "kind": kind,
                         "metadata": {"name": name, "namespace": ns, "labels": dict(OWN), **meta}}
    annotations = o["metadata"].setdefault("annotations", {})
    annotations["gitops-agent.io/tracking-id"] = tracking_id("dev", ref_of(o))
    return o


def job(
    task: str, name: str, *, depends: str = "", created: str = "", conditions: list[Any] | None = None
) -> dict[str, Any]:
    o = obj("Job", name, "batch/v1")
    o["metadata"]["labels"].update({"gitops-agent.io/task": task, "app.kubernetes.io/part-of": "wf"})
    if depends:
        o["metadata"]["annotations"]["gitops-agent.io/depends-on"] = depends
    if created:
        o["metadata"]["creationTimestamp"] = created
    if conditions is not None:
        o["status"] = {"conditions": conditions}
    return o


COMPLETE = [{"type": "Complete", "status": "True"}]
FAILED = [{"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded"}]


@pytest.mark.parametrize(("a", "b"), [("1000m", "1"), ("1024Mi", "1Gi"), ("0.5", "500m"), (2, "2"),
                                       ("1e3", "1k"), ("1.5Gi", "1536Mi")])
def test_equal_quantities(a: object, b: object) -> None:
    assert quantities_equal(a, b)


def test_quantities_differ_and_garbage_is_not_a_quantity() -> None:
    assert not quantities_equal("1Gi", "1G")
    assert parse_quantity("1Ki") == Decimal(1024)
    assert parse_quantity("abc") is None and parse_quantity(True) is None


def test_strip_noise_removes_server_bookkeeping_only() -> None:
    live = obj("ConfigMap", "c", managedFields=[{}], resourceVersion="5", uid="u", generation=2,
               creationTimestamp="t", annotations={"kubectl.kubernetes.io/last-applied-configuration": "{}",
                                                   "keep": "me"})
    live["status"] = {"x": 1}
    clean = strip_noise(live)
    assert clean["metadata"] == {"name": "c", "namespace": "ml", "labels": OWN, "annotations": {
        "keep": "me", "gitops-agent.io/tracking-id": "dev:/ConfigMap:ml/c"}}
    assert "status" not in clean and "status" in live


def test_secret_values_never_appear_in_diffs() -> None:
    before = {**obj("Secret", "s"), "data": {"a": "czE=", "b": "czI="}}
    after = {**obj("Secret", "s"), "data": {"a": "czE=", "b": "Y2hhbmdlZA=="}}
    masked_before, masked_after = mask_secrets(before, after)
    assert masked_before is not None and masked_after is not None
    assert masked_before["data"] == {"a": "***", "b": "*** (before)"}
    assert masked_after["data"] == {"a": "***", "b": "*** (after)"}
    text = unified_diff(ref_of(after), before, after)
    assert "czI=" not in text and "Y2hhbmdlZA==" not in text and "*** (after)" in text
    created = unified_diff(ref_of(after), None, after)
    assert "czE=" not in created and created.startswith("--- /dev/null")


def test_waves_order_namespaces_and_crds_first_custom_last_and_prune_reverses() -> None:
    refs = [ref_of(o) for o in (
        obj("Job", "j", "batch/v1"), obj("ServiceMonitor", "m", "monitoring.coreos.com/v1"),
        obj("Deployment", "d", "apps/v1"), obj("Service", "s"), obj("ConfigMap", "c"),
        obj("Namespace", "ml", ns=""), obj("CustomResourceDefinition", "x", "apiextensions.k8s.io/v1", ns=""))]
    ordered = [r.kind for r in sorted(refs, key=apply_order)]
    assert ordered == ["Namespace", "CustomResourceDefinition", "ConfigMap", "Service", "Deployment", "Job",
                       "ServiceMonitor"]
    assert [r.kind for r in sorted(refs, key=prune_order)] == list(reversed(ordered))
    assert wave_of(ObjectRef("example.com", "v1", "Deployment", "n", "x")) == 5  # not apps/Deployment


def test_health_rules_and_severity() -> None:
    deploy = obj("Deployment", "d", "apps/v1", generation=2)
    deploy["spec"] = {"replicas": 2}
    deploy["status"] = {"observedGeneration": 2, "replicas": 2, "updatedReplicas": 2, "availableReplicas": 0}
    assert health_of("apps", "Deployment", deploy).status is HealthStatus.PROGRESSING
    deploy["status"]["availableReplicas"] = 2
    assert health_of("apps", "Deployment", deploy).status is HealthStatus.HEALTHY
    deploy["status"]["observedGeneration"] = 1
    assert health_of("apps", "Deployment", deploy).status is HealthStatus.PROGRESSING
    assert health_of("batch", "Job", job("a", "a", conditions=COMPLETE)).status is HealthStatus.HEALTHY
    assert health_of("batch", "Job", job("a", "a", conditions=FAILED)).status is HealthStatus.DEGRADED
    crd = {"status": {"conditions": [{"type": "Established", "status": "False"}]}}
    assert health_of("apiextensions.k8s.io", "CustomResourceDefinition", crd).status is HealthStatus.PROGRESSING
    assert health_of("monitoring.coreos.com", "ServiceMonitor", {}).status is HealthStatus.UNKNOWN
    assert health_of("", "ConfigMap", None).status is HealthStatus.MISSING
    assert worst([HealthStatus.HEALTHY, HealthStatus.DEGRADED, HealthStatus.MISSING]) is HealthStatus.DEGRADED
    assert worst([]) is HealthStatus.HEALTHY


def test_gates_wait_block_and_release() -> None:
    a, b, c = job("a", "wf-a"), job("b", "wf-b"), job("c", "wf-c", depends="a,b")
    jobs = task_jobs([a, b, c])
    assert gate(a, jobs, {}).gate is Gate.READY
    assert gate(c, jobs, {}).message == "waiting for 'a', 'b'"
    live = {ref_of(a).key: job("a", "wf-a", conditions=COMPLETE), ref_of(b).key: job("b", "wf-b", conditions=[])}
    assert gate(c, jobs, live).message == "waiting for 'b'"
    live[ref_of(b).key] = job("b", "wf-b", conditions=FAILED)
    decision = gate(c, jobs, live)
    assert decision.gate is Gate.BLOCKED
    assert decision.message == "dependency 'b' is Degraded (wf-b: job failed: BackoffLimitExceeded)"
    live[ref_of(b).key] = job("b", "wf-b", conditions=COMPLETE)
    assert gate(c, jobs, live).gate is Gate.READY
    assert gate(c, jobs, live, blocked={("wf", "a")}).gate is Gate.BLOCKED
    assert gate(job("d", "wf-d", depends="nope"), jobs, live).gate is Gate.BLOCKED


def test_dependency_cycles_are_found() -> None:
    assert find_cycle([job("a", "a", depends="b"), job("b", "b", depends="a")]) in (["a", "b", "a"], ["b", "a", "b"])
    assert find_cycle([job("a", "a"), job("b", "b", depends="a")]) is None


def test_pairing_matches_by_group_kind_namespace_name_not_version() -> None:
    desired = [obj("HorizontalPodAutoscaler", "h", "autoscaling/v2"), obj("ConfigMap", "new")]
    live = [obj("HorizontalPodAutoscaler", "h", "autoscaling/v1"), obj("ConfigMap", "old")]
    pairs = pair_objects(desired, live)
    assert [(p.ref.name, p.desired is not None, p.live is not None) for p in pairs] == [
        ("h", True, True), ("new", True, False), ("old", False, True)]


def test_prune_plan_protects_unowned_and_annotated_objects_and_keeps_job_history() -> None:
    foreign = obj("ConfigMap", "foreign")
    foreign["metadata"]["labels"] = {"app": "x"}
    protected = obj("ConfigMap", "keep", annotations={"gitops-agent.io/prune": "false"})
    other_env = obj("ConfigMap", "other")
    other_env["metadata"]["labels"]["gitops-agent.io/environment"] = "prod"
    gone = obj("ConfigMap", "gone")
    current = job("a", "wf-a-3")
    old = [job("a", f"wf-a-{i}", created=f"2026-01-0{i}T00:00:00Z", conditions=COMPLETE) for i in (1, 2)]
    removed_task = job("z", "wf-z-1")
    live_by_key = {ref_of(current).key: job("a", "wf-a-3", conditions=COMPLETE)}
    plan = plan_prune([foreign, protected, other_env, gone, *old, removed_task], [current], live_by_key,
                      environment="dev", job_history=1)
    assert sorted(o["metadata"]["name"] for o in plan.prune) == ["gone", "wf-z-1"]
    assert [o["metadata"]["name"] for o in plan.job_history] == ["wf-a-1"]
    # before the new revision succeeded, every old Job is kept
    waiting = plan_prune(old, [current], {}, environment="dev", job_history=0)
    assert waiting.job_history == () and len(waiting.kept) == 2


def test_prune_guards() -> None:
    with pytest.raises(PruneRefusedError, match="empty desired state"):
        check_guards(desired_count=0, owned_count=3, prune_count=3, allow_empty=False,
                     allow_mass_prune=True, max_prune_percent=50)
    with pytest.raises(PruneRefusedError, match=r"3 of 4 owned objects \(75% > sync.maxPrunePercent 50%\)"):
        check_guards(desired_count=1, owned_count=4, prune_count=3, allow_empty=False,
                     allow_mass_prune=False, max_prune_percent=50)
    check_guards(desired_count=1, owned_count=4, prune_count=2, allow_empty=False,
                 allow_mass_prune=False, max_prune_percent=50)
    check_guards(desired_count=1, owned_count=4, prune_count=3, allow_empty=False,
                 allow_mass_prune=True, max_prune_percent=50)


def test_change_set_json_follows_the_cli_contract() -> None:
    ref = ObjectRef("apps", "v1", "Deployment", "ml-prod", "classifier")
    changes = (Change(ref, Action.UPDATE, 3, "--- a\n+++ b\n", health=HealthStatus.PROGRESSING),
               Change(ObjectRef("", "v1", "ConfigMap", "ml-prod", "c"), Action.UNCHANGED, 1,
                      health=HealthStatus.HEALTHY),
               Change(ObjectRef("batch", "v1", "Job", "ml-prod", "j"), Action.BLOCKED, 4,
                      message="dependency 'a' failed (j-a)"))
    document = ChangeSet("prod", "abc", changes, HealthStatus.PROGRESSING).to_json()
    assert set(document) == {"environment", "revision", "changes", "summary", "health"}
    first = document["changes"][0]
    assert first == {"action": "update", "group": "apps", "version": "v1", "kind": "Deployment",
                     "namespace": "ml-prod", "name": "classifier", "diff": "--- a\n+++ b\n", "wave": 3,
                     "health": "Progressing"}
    assert document["summary"] == {"create": 0, "update": 1, "delete": 0, "unchanged": 1, "blocked": 1}
    assert document["health"]["status"] == "Progressing"
    assert document["changes"][2]["message"] == "dependency 'a' failed (j-a)"


def test_diff_yaml_round_trips_awkward_strings() -> None:
    from ruamel.yaml import YAML

    from gitops_agent.reconcile.diff import to_yaml

    value = {"data": {"multi": "a\n\nb\n", "two": "x\n\n", "trail": "x \ny", "yes": "yes", "num": "0755",
                      "colon": "a: b", "hash": "a #b", "dash": "-x", "empty": "", "lead": " x", "uni": "ünï"},
             "list": [1, 1.5, True, None, "multi\nline", {"k": [], "m": {}}, [1, 2]], "n": None}
    text = to_yaml(value)
    assert YAML(typ="safe", pure=True).load(text) == value
    assert "multi: |\n    a\n\n    b\n" in text  # readable blocks where exact
