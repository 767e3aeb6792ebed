"""What the watch cache keeps of live objects changes no verdict: every field the health rules,
the ownership rule and the drift check read is kept (recorded reads), and their answers over
the kept objects equal those over the whole ones."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest

from gitops_agent.reconcile.cluster import ResourceInfo
from gitops_agent.reconcile.desired import prepare_desired
from gitops_agent.reconcile.fieldset import check_locally, drift_authors, manager_entries, owned_by, owned_fields
from gitops_agent.reconcile.health import Health, PodIndex, health_of
from gitops_agent.reconcile.live import CONTENT_KINDS, foreign_contents
from gitops_agent.reconcile.objects import controller_of, is_owned
from gitops_agent.reconcile.options import Target
from gitops_agent.reconcile.transform import (
    INTERNED_LENGTH,
    POD_HEALTH_FIELDS,
    intern_strings,
    keep_fields,
    kept,
    share_field_sets,
    without_status_writers,
)
from gitops_agent.vocabulary.objects import copy_manifest, ref_of
from tests.support.reads import WHOLE, kept_by, recorded
from tests.unit.test_health_pods import NS, UNSCHEDULED, deployment, job, pod, waiting
from tests.unit.test_reconcile_fieldset import DESIRED, ROOT, live_copy

ENV = "dev"


def whole(p: dict[str, Any]) -> dict[str, Any]:
    """``p`` with what an API server and a kubelet add that no rule reads."""
    p = copy.deepcopy(p)
    meta = p["metadata"]
    meta.update({"uid": f"{meta['name']}-uid", "resourceVersion": "7", "generateName": meta["name"][:-2],
                 "annotations": {"prometheus.io/scrape": "true", "gitops-agent.io/tracking-id": "dev:/Pod:ml/x"},
                 "managedFields": [{"manager": "kube-controller-manager", "operation": "Update",
                                    "fieldsV1": {"f:metadata": {"f:labels": {}}}}]})
    p["spec"] = {"containers": [{"name": "main", "image": "img:1", "resources": {"requests": {"cpu": "1"}}}],
                 "nodeName": "node-0", "tolerations": [{"key": "k", "operator": "Exists"}]}
    status = p["status"]
    status.update({"podIP": "10.244.0.9", "hostIP": "10.0.0.1", "qosClass": "Burstable",
                   "startTime": "2026-01-01T00:00:01Z"})
    for condition in status.get("conditions") or []:
        condition.update({"lastProbeTime": None, "lastTransitionTime": "2026-01-01T00:00:02Z"})
    for key in ("containerStatuses", "initContainerStatuses"):
        for container in status.get(key) or []:
            container.update({"image": "img:1", "imageID": "sha256:abc", "containerID": "containerd://1",
                              "started": False, "ready": False})
    return p


def terminated(code: int, reason: str = "Error", message: str = "") -> list[dict[str, Any]]:
    state: dict[str, Any] = {"exitCode": code, "reason": reason, "startedAt": "t0", "finishedAt": "t1"}
    if message:
        state["message"] = message
    return [{"name": "main", "restartCount": 0, "state": {"terminated": state},
             "lastState": {"terminated": {"exitCode": 2, "reason": "OOMKilled", "finishedAt": "t"}}}]


FAILED = [{"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded"}]
WEB = {"app": "web"}
SCENARIOS: dict[str, tuple[dict[str, Any], list[dict[str, Any]]]] = {
    "deployment, crash loop": (deployment(), [pod("web-1", labels=WEB, phase="Running",
                                                  containers=waiting("CrashLoopBackOff", restarts=5))]),
    "deployment, unschedulable": (deployment(), [pod("web-1", labels=WEB, conditions=UNSCHEDULED)]),
    "deployment, init container cannot pull": (deployment(), [pod("web-1", labels=WEB,
                                                                  init=waiting("ImagePullBackOff"))]),
    "deployment, available": (deployment(available=2), [pod("web-1", labels=WEB, phase="Running")]),
    "deployment, other pods": (deployment(), [pod("api-1", labels={"app": "api"}, conditions=UNSCHEDULED)]),
    "job, failed pods": (job("train", conditions=FAILED), [
        pod("train-a", owner_uid="job-uid", phase="Failed", containers=terminated(3, message="old")),
        pod("train-b", owner_uid="job-uid", phase="Failed", containers=terminated(1, message=" out of data \n")),
    ]),
    "job, evicted pod": (job("train", conditions=FAILED), [
        {**pod("train-a", owner_uid="job-uid", phase="Failed"),
         "status": {"phase": "Failed", "reason": "Evicted", "message": "The node was low on memory."}},
    ]),
    "job, unschedulable": (job("train"), [pod("train-a", owner_uid="job-uid", conditions=UNSCHEDULED)]),
    "job, stuck container": (job("train"), [pod("train-a", owner_uid="job-uid",
                                                containers=waiting("CreateContainerConfigError"))]),
    "job, done pods": (job("train"), [pod("train-a", owner_uid="job-uid", phase="Succeeded",
                                          containers=terminated(0, "Completed"))]),
}


def judged(owner: dict[str, Any], pods: list[Any]) -> Health:
    return health_of(ref_of(owner).group, ref_of(owner).kind, owner, PodIndex(pods))


def ownership_reads(p: Any) -> tuple[bool, Any, Any]:
    """What the check of a pruned Namespace's contents reads of a Pod (``foreign_contents``)."""
    meta = p.get("metadata") or {}
    return is_owned(p, ENV), controller_of(p), (meta.get("ownerReferences"), meta.get("name"), str(ref_of(p)))


@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_health_and_ownership_read_only_fields_the_pod_view_keeps(scenario: str) -> None:
    owner, pods = SCENARIOS[scenario]
    reads: set[tuple[str, ...]] = set()
    watched = [recorded(whole(p), reads) for p in pods]
    judged(owner, watched)
    for p in watched:
        ownership_reads(p)
    dropped = sorted(path for path in reads if not kept_by(POD_HEALTH_FIELDS, path))
    assert not dropped, f"read but not kept: {dropped}"


def test_the_recorded_reads_cover_what_the_rules_decide_on() -> None:
    """The recorder sees the reads (so the test above cannot pass by recording nothing)."""
    reads: set[tuple[str, ...]] = set()
    for owner, pods in SCENARIOS.values():
        watched = [recorded(whole(p), reads) for p in pods]
        judged(owner, watched)
    for path in [("status", "containerStatuses", "*", "restartCount"),
                 ("status", "containerStatuses", "*", "lastState", "terminated", "exitCode"),
                 ("status", "initContainerStatuses"), ("status", "conditions", "*", "reason"),
                 ("metadata", "labels", WHOLE), ("metadata", "ownerReferences", "*", "uid"),
                 ("metadata", "creationTimestamp"), ("status", "reason"), ("status", "message")]:
        assert path in reads, path


@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_health_over_the_kept_pods_equals_health_over_whole_pods(scenario: str) -> None:
    owner, pods = SCENARIOS[scenario]
    full = [whole(p) for p in pods]
    slim = [keep_fields(p, POD_HEALTH_FIELDS) for p in full]
    assert judged(owner, slim) == judged(owner, full)
    assert [ownership_reads(p) for p in slim] == [ownership_reads(p) for p in full]
    assert all("spec" not in p and "managedFields" not in p["metadata"] for p in slim)


def test_keeping_fields_shares_what_it_keeps_and_never_changes_the_object() -> None:
    full = whole(pod("web-1", labels=WEB, containers=waiting("CrashLoopBackOff", restarts=2)))
    before = copy.deepcopy(full)
    slim = keep_fields(full, POD_HEALTH_FIELDS)
    assert full == before
    assert slim["metadata"]["labels"] is full["metadata"]["labels"]
    assert slim["metadata"]["annotations"] == {"gitops-agent.io/tracking-id": "dev:/Pod:ml/x"}
    assert slim["status"]["containerStatuses"] == [{"name": "main", "restartCount": 2,
                                                     "state": {"waiting": {"reason": "CrashLoopBackOff"}},
                                                     "lastState": {"terminated": {"exitCode": 1}}}]
    assert keep_fields({"status": "odd"}, POD_HEALTH_FIELDS) == {"status": "odd"}  # not a mapping: as it is


# --- managedFields: the status subresource's entries -------------------------------------------------------

STATUS_ENTRY = {"manager": "kube-controller-manager", "operation": "Update", "subresource": "status",
                "apiVersion": "v1", "time": "2026-11-30T11:00:00Z", "fieldsType": "FieldsV1",
                "fieldsV1": {"f:status": {"f:replicas": {}}, "f:spec": {"f:replicas": {}}}}
SCALE_ENTRY = {"manager": "kubectl", "operation": "Update", "subresource": "scale", "time": "2026-11-30T12:00:00Z",
               "fieldsV1": {"f:spec": {"f:replicas": {}}}}


def drifted_live() -> dict[str, Any]:
    """A live object another manager edited, scaled through the scale subresource, with a status writer."""
    live = live_copy(**{"kubectl-edit": {"f:spec": {"f:containers": {'k:{"name":"main"}': {"f:image": {}}}}}})
    live["spec"]["containers"][0]["image"] = "img:6"
    live["spec"]["replicas"] = 5
    live["metadata"]["managedFields"][1]["time"] = "2026-11-30T10:00:00Z"
    live["metadata"]["managedFields"] += [copy.deepcopy(STATUS_ENTRY), copy.deepcopy(SCALE_ENTRY)]
    live["status"] = {"replicas": 5}
    return live


READERS: dict[str, Callable[[Any], Any]] = {
    "check_locally": lambda live: check_locally(DESIRED, live, ROOT),
    "owned_fields": owned_fields,
    "manager_entries": manager_entries,
    "drift_authors": lambda live: drift_authors(DESIRED, live, ROOT),
    "owned_by (Merge: every other manager)": lambda live: owned_by(live, (), all_others=True),
    "owned_by (ignore rule managers)": lambda live: owned_by(live, ("kube-controller-manager", "kubectl")),
}


@pytest.mark.parametrize("reader", list(READERS))
def test_no_drift_reader_reads_the_status_writers_fields(reader: str) -> None:
    reads: set[tuple[str, ...]] = set()
    READERS[reader](recorded(drifted_live(), reads))
    status_index = 2  # entries are recorded under "*": find the status entry's reads by a second run
    entry_reads: set[tuple[str, ...]] = set()
    live = drifted_live()
    live["metadata"]["managedFields"][status_index] = recorded(STATUS_ENTRY, entry_reads)
    READERS[reader](live)
    assert entry_reads <= {("manager",), ("operation",), ("subresource",)}, entry_reads


@pytest.mark.parametrize("reader", list(READERS))
def test_drift_verdicts_over_objects_without_status_writers_equal_those_over_whole_objects(reader: str) -> None:
    slim = kept(drifted_live(), None)
    assert [e["manager"] for e in slim["metadata"]["managedFields"]] == ["gitops-agent", "kubectl-edit", "kubectl"]
    assert READERS[reader](slim) == READERS[reader](drifted_live())


def test_without_status_writers_leaves_objects_without_them_as_they_are() -> None:
    live = live_copy()
    entries = live["metadata"]["managedFields"]
    assert without_status_writers(live)["metadata"]["managedFields"] is entries
    assert without_status_writers({"kind": "ConfigMap"}) == {"kind": "ConfigMap"}


# --- the memo's prepared objects and the render ------------------------------------------------------------

def render() -> list[dict[str, Any]]:
    labels = {"app.kubernetes.io/name": "web"}
    template = {"metadata": {"labels": labels}, "spec": {"containers": [{"name": "w"}]}}
    return [
        {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": NS},
         "spec": {"replicas": 3, "template": template}},
        {"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
         "metadata": {"name": "web", "namespace": NS},
         "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"}}},
        {"apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": "nightly", "labels": labels},
         "spec": {"schedule": "0 1 * * *", "jobTemplate": {"spec": {}}}},
        {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "train", "namespace": NS,
                                                              "annotations": {"team": "ml"}},
         "spec": {"template": {"spec": {"containers": [{"name": "t"}]}}}},
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cfg", "namespace": NS}, "data": {"a": "1"}},
    ]


def test_shared_prepared_objects_equal_copies_and_leave_the_render_as_it_was() -> None:
    target = Target(environment=ENV, namespace=NS, revision="r1")
    rendered = render()
    before = copy_manifest({"items": rendered})["items"]
    shared = prepare_desired(rendered, target, share=True)
    assert shared == prepare_desired(before, target)
    assert rendered == before  # labels, tracking ids, template hash, suspend, HPA replicas: on the copies
    assert shared[0]["spec"]["template"] is rendered[0]["spec"]["template"]  # what preparing does not change
    assert "replicas" not in shared[0]["spec"] and rendered[0]["spec"]["replicas"] == 3
    assert shared[2]["spec"]["suspend"] is False and "suspend" not in rendered[2]["spec"]


# --- equal field sets of one list are one object -----------------------------------------------------------

def test_equal_field_sets_of_a_list_become_one_object_and_every_verdict_stays() -> None:
    lives = [copy.deepcopy(drifted_live()) for _ in range(3)]  # each its own field sets, as parsed
    lives[2]["metadata"]["managedFields"][0]["fieldsV1"]["f:spec"]["f:paused"] = {}  # one differs
    before = copy.deepcopy(lives)
    share_field_sets(lives)
    assert lives == before  # equal values: only identities changed
    sets = [live["metadata"]["managedFields"][0]["fieldsV1"] for live in lives]
    assert sets[0] is sets[1] and sets[2] is not sets[0]
    assert sets[2]["f:metadata"] is sets[0]["f:metadata"]  # equal parts of unequal sets too
    for name, reader in READERS.items():
        assert [reader(live) for live in lives] == [reader(live) for live in before], name


def test_a_field_set_part_that_is_not_a_set_keeps_its_set_to_itself() -> None:
    odd = [{"metadata": {"managedFields": [{"fieldsV1": {"f:data": {"f:a": "x"}}}]}} for _ in range(2)]
    share_field_sets(odd)
    first, second = (o["metadata"]["managedFields"][0]["fieldsV1"] for o in odd)
    assert first == second and first is not second and first["f:data"] is not second["f:data"]


# --- the objects of a Namespace about to be pruned -----------------------------------------------------------

class Contents:
    """A namespace's objects of every kind ``foreign_contents`` lists: owned, controller-made, a
    Secret token, the root CA ConfigMap, and one of each a person made; ``fields`` asked are kept."""

    def __init__(self, *, record: set[tuple[str, ...]] | None = None) -> None:
        self.record, self.asked = record, {}  # type: ignore[var-annotated]

    def resource(self, group: str, version: str, kind: str) -> ResourceInfo:
        return ResourceInfo(group, version, kind, kind.lower() + "s", True)

    def list(self, info: ResourceInfo, namespace: str | None, selector: str, *, fields: Any = None) -> list[Any]:
        self.asked[info.kind] = fields
        found = [whole_object(info, name) for name in ("by-hand", "owned", "made", "kube-root-ca.crt", "token")]
        if self.record is not None:
            return [recorded(o, self.record, (info.kind,)) for o in found]
        return [keep_fields(o, fields) for o in found]


def whole_object(info: ResourceInfo, name: str) -> dict[str, Any]:
    api = f"{info.group}/{info.version}" if info.group else info.version
    meta: dict[str, Any] = {"name": name, "namespace": NS, "uid": f"{name}-uid", "resourceVersion": "3",
                            "labels": {"app.kubernetes.io/managed-by": "gitops-agent",
                                       "gitops-agent.io/environment": ENV} if name == "owned" else {},
                            "annotations": {"gitops-agent.io/tracking-id": f"{ENV}:{info.group}/{info.kind}:{NS}/owned",
                                            "note": "x" * 100},
                            "managedFields": [{"manager": "kubectl", "operation": "Update", "fieldsV1": {}}]}
    if name == "made":
        meta["ownerReferences"] = [{"kind": "ReplicaSet", "name": "r", "uid": "r-uid", "controller": True}]
    obj = {"apiVersion": api, "kind": info.kind, "metadata": meta, "spec": {"x": 1}, "data": {"secret": "c2VjcmV0"}}
    if name == "token":
        obj["type"] = "kubernetes.io/service-account-token"
    return obj


def test_the_check_of_a_pruned_namespace_reads_only_the_fields_it_asks_for_and_decides_as_over_whole_objects() -> None:
    reads: set[tuple[str, ...]] = set()
    recording = Contents(record=reads)
    whole_verdict = foreign_contents(recording, NS, ENV, {})  # type: ignore[arg-type]
    assert set(recording.asked) == {gvk[2] for gvk in CONTENT_KINDS}
    dropped = [path for path in reads if not kept_by(recording.asked[path[0]], path[1:])]
    assert reads and not dropped, dropped
    assert recording.asked["Pod"] is POD_HEALTH_FIELDS  # one list with health's
    assert foreign_contents(Contents(), NS, ENV, {}) == whole_verdict  # type: ignore[arg-type]
    assert "ConfigMap/ml/by-hand" in whole_verdict and "Secret/ml/token" not in whole_verdict
    assert "ConfigMap/ml/kube-root-ca.crt" not in whole_verdict and "Secret/ml/kube-root-ca.crt" in whole_verdict
    assert not [name for name in whole_verdict if name.endswith(("/owned", "/made"))]


def test_short_strings_are_interned_in_place_and_long_ones_stay_their_own() -> None:
    def parsed() -> dict[str, Any]:  # strings made at run time, as a JSON parser makes them
        return {"metadata": {"name": "".join(["we", "b"]), "labels": {"tier": "".join(["fr", "ont"])}},
                "data": {"big": "".join(["x"] * INTERNED_LENGTH)}, "list": ["".join(["a", "b"]), 3, None]}

    first, second = parsed(), parsed()
    assert first["metadata"]["name"] is not second["metadata"]["name"]
    intern_strings(first)
    intern_strings(second)
    assert first == second == parsed()
    assert first["metadata"]["name"] is second["metadata"]["name"]
    assert first["metadata"]["labels"]["tier"] is second["metadata"]["labels"]["tier"]
    assert first["list"][0] is second["list"][0]
    assert first["data"]["big"] is not second["data"]["big"]
