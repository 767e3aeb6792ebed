"""What the loop's watch cache keeps of live objects, against a real control plane: Pods that
crash-loop, fail and cannot be scheduled (on the simulated nodes), objects edited and scaled
by kubectl. Health and drift verdicts over what is kept equal those over whole objects."""

from __future__ import annotations

import time
from typing import Any

import pytest

from gitops_agent.adapters import kube
from gitops_agent.errors import ExpiredError
from gitops_agent.reconcile.cache import CachedCluster
from gitops_agent.reconcile.changeset import ChangeSet
from gitops_agent.reconcile.engine import SyncOptions, diff, sync
from gitops_agent.reconcile.health import PodIndex, health_of
from gitops_agent.reconcile.objects import is_owned
from gitops_agent.reconcile.planning import LIST_INSTEAD_OF_GETS
from gitops_agent.reconcile.transform import OWNERSHIP_FIELDS, POD_HEALTH_FIELDS, keep_fields
from gitops_agent.vocabulary.objects import ref_of
from tests.integration.reconcile_helpers import Manifest, connect, kubectl, labels, target
from tests.integration.test_dag import job, service
from tests.support.reads import kept_by, recorded

pytestmark = pytest.mark.integration
WAIT = SyncOptions(wait=True, timeout=120, poll_interval=0.3)


def config(ns: str) -> Manifest:
    return {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "settings", "namespace": ns, "labels": labels(ns, "settings")},
            "data": {"LOG_LEVEL": "info"}}


def troubled(ns: str) -> list[Manifest]:
    """A crash-looping service, a failed task, an unschedulable task, a task that succeeds, a
    healthy service and a ConfigMap."""
    healthy = service(ns, ())
    healthy["metadata"]["name"] = "web"
    healthy["metadata"]["labels"] = labels(ns, "web", workflow="flow")
    for part in (healthy["spec"]["selector"]["matchLabels"], healthy["spec"]["template"]["metadata"]["labels"]):
        part["app.kubernetes.io/name"] = "web"
    return [service(ns, (), replicas=1, fail=True), healthy, job(ns, "a", fail=True),
            job(ns, "big", resources={"requests": {"cpu": "100"}}), job(ns, "ok"), config(ns)]


def verdicts(result: ChangeSet) -> list[tuple[str, str, str, str, tuple[str, ...]]]:
    return [(str(c.ref), str(c.action), str(c.health), c.message, tuple(a.manager for a in c.changed_by))
            for c in result.changes]


def owners_and_pods(cluster: Any, ns: str) -> tuple[list[Manifest], list[Manifest]]:
    owners = [o for kind in (("apps", "v1", "Deployment"), ("batch", "v1", "Job"))
              for o in cluster.list(cluster.resource(*kind), ns, "")]
    return owners, cluster.list(cluster.resource("", "v1", "Pod"), ns, "")


def test_health_over_the_kept_pods_of_a_real_cluster_equals_health_over_whole_pods(  # type: ignore[no-untyped-def]
    kube_cluster, namespace: str
) -> None:
    kubeconfig = kube_cluster.kubeconfig
    cluster = connect(kubeconfig)
    result = sync(cluster, troubled(namespace), target(namespace), WAIT)
    health = {c.ref.name: str(c.health) for c in result.changes}
    assert health == {"serve": "Degraded", "web": "Healthy", "flow-a-r1": "Degraded", "flow-big-r1": "Degraded",
                      "flow-ok-r1": "Healthy", "settings": "Healthy"}, [(c.ref.name, c.message) for c in result.changes]
    owners, pods = owners_and_pods(cluster, namespace)  # one snapshot: the Pods change as they crash
    assert len(pods) >= 5 and all("managedFields" in p["metadata"] and p.get("spec") for p in pods)
    slim = [keep_fields(p, POD_HEALTH_FIELDS) for p in pods]
    judged = {ref_of(o).name: health_of(ref_of(o).group, ref_of(o).kind, o, PodIndex(pods)) for o in owners}
    assert {ref_of(o).name: health_of(ref_of(o).group, ref_of(o).kind, o, PodIndex(slim)) for o in owners} == judged
    assert "CrashLoopBackOff" in judged["serve"].message or "exited with code 1" in judged["serve"].message
    assert "cannot be scheduled" in judged["flow-big-r1"].message
    assert "container a exited with code 1 (Error)" in judged["flow-a-r1"].message
    assert [is_owned(p, namespace) for p in slim] == [is_owned(p, namespace) for p in pods]
    # every field the rules read of these Pods is kept
    reads: set[tuple[str, ...]] = set()
    watched = [recorded(p, reads) for p in pods]
    for owner in owners:
        health_of(ref_of(owner).group, ref_of(owner).kind, owner, PodIndex(watched))
    assert reads and not [path for path in reads if not kept_by(POD_HEALTH_FIELDS, path)]
    # what the cache keeps is the view: the fields kept, nothing else
    cached = CachedCluster(cluster)
    try:
        kept_pods = cached.list(cluster.resource("", "v1", "Pod"), namespace, "", fields=POD_HEALTH_FIELDS)
    finally:
        cached.close()
    assert sorted(ref_of(p).name for p in kept_pods) == sorted(ref_of(p).name for p in pods)
    assert all(set(p) <= set(POD_HEALTH_FIELDS) and "managedFields" not in p["metadata"] for p in kept_pods)


def test_diff_from_the_watch_cache_equals_diff_from_whole_objects_after_edits_and_scaling(  # type: ignore[no-untyped-def]
    kube_cluster, namespace: str
) -> None:
    kubeconfig = kube_cluster.kubeconfig
    cluster = connect(kubeconfig)
    desired = [o for o in troubled(namespace) if ref_of(o).name != "serve"]  # its restart count moves
    sync(cluster, desired, target(namespace), WAIT)
    kubectl(kubeconfig, "-n", namespace, "patch", "configmap", "settings", "--field-manager=kubectl-edit",
            "--type=merge", "-p", '{"data":{"LOG_LEVEL":"debug","EXTRA":"1"}}')
    kubectl(kubeconfig, "-n", namespace, "scale", "deployment", "web", "--replicas=3")
    whole = diff(cluster, desired, target(namespace))
    deadline = time.monotonic() + 30
    while verdicts(whole) != verdicts(diff(cluster, desired, target(namespace))) and time.monotonic() < deadline:
        whole = diff(cluster, desired, target(namespace))  # until the controllers are done with the scale
    cached = CachedCluster(cluster)
    try:
        from_cache = diff(cached, desired, target(namespace))
        web = cached.list(cluster.resource("apps", "v1", "Deployment"), namespace,
                          f"gitops-agent.io/environment={namespace}")[0]
    finally:
        cached.close()
    assert verdicts(from_cache) == verdicts(whole)
    changed = {c.ref.name: c for c in whole.changes if str(c.action) == "update"}
    assert set(changed) == {"settings", "web"}
    assert [a.manager for a in changed["settings"].changed_by] == ["kubectl-edit"]
    assert "kubectl" in [a.manager for a in changed["web"].changed_by]
    entries = web["metadata"]["managedFields"]
    assert {e.get("subresource", "") for e in entries} == {"", "scale"}  # the status writers' entries dropped
    whole_web = cluster.get(cluster.resource("apps", "v1", "Deployment"), ref_of(web))
    assert whole_web is not None
    assert "status" in {e.get("subresource", "") for e in whole_web["metadata"]["managedFields"]}


def test_lists_are_read_in_pages_and_an_expired_continue_token_lists_once_without_pages(  # type: ignore[no-untyped-def]
    kube_cluster, namespace: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    kubeconfig = kube_cluster.kubeconfig
    sync(connect(kubeconfig), [{**config(namespace), "metadata": {**config(namespace)["metadata"], "name": f"c{i}"}}
                               for i in range(5)], target(namespace), SyncOptions())
    monkeypatch.setattr(kube, "LIST_PAGE_SIZE", 2)
    cluster = connect(kubeconfig)
    info = cluster.resource("", "v1", "ConfigMap")
    selector = f"gitops-agent.io/environment={namespace}"
    items, version = cluster.list_with_version(info, namespace, selector)
    assert sorted(ref_of(o).name for o in items) == [f"c{i}" for i in range(5)] and version
    assert cluster.requests["list ConfigMap"] == 3  # 2 + 2 + 1
    assert [set(o) for o in cluster.list(info, namespace, selector, fields={"metadata": {"name": None}})] == [
        {"metadata"}] * 5
    # the API server expired the continue token (etcd compacted): one list without pages
    send = cluster._request

    def expiring(method: str, path: str, **kwargs: Any) -> Any:
        if any(name == "continue" for name, _ in kwargs.get("query", ())):
            raise ExpiredError("list ConfigMap", 410, "The provided continue parameter is too old")
        return send(method, path, **kwargs)

    monkeypatch.setattr(cluster, "_request", expiring)
    cluster.requests.clear()
    assert sorted(ref_of(o).name for o in cluster.list(info, namespace, selector)) == [f"c{i}" for i in range(5)]
    assert cluster.requests["list ConfigMap"] == 2  # the first page, then the whole list


def test_many_desired_objects_that_exist_unlabelled_are_found_without_holding_whole_unowned_objects(  # type: ignore[no-untyped-def]
    kube_cluster, namespace: str
) -> None:
    kubeconfig = kube_cluster.kubeconfig
    names = [f"made-by-hand-{i}" for i in range(LIST_INSTEAD_OF_GETS + 2)]
    for name in [*names, "someone-elses"]:
        kubectl(kubeconfig, "-n", namespace, "create", "configmap", name, "--from-literal=token=s3cret")
    desired = [{**config(namespace), "metadata": {**config(namespace)["metadata"], "name": name}}
               for name in [*names, "new"]]
    cluster = connect(kubeconfig)
    whole = diff(cluster, desired, target(namespace))
    cached = CachedCluster(connect(kubeconfig))
    try:
        from_cache = diff(cached, desired, target(namespace))
        info = cluster.resource("", "v1", "ConfigMap")
        kept_there = cached.list(info, namespace, "", fields=OWNERSHIP_FIELDS)
    finally:
        cached.close()
    assert verdicts(from_cache) == verdicts(whole)
    actions = {c.ref.name: (str(c.action), c.message) for c in whole.changes}
    assert actions["new"][0] == "create"
    assert all(actions[name] == ("update", "adopted: the tracking id is added") for name in names)
    assert cluster.requests["list ConfigMap"] == 2 and cluster.requests["get ConfigMap"] == len(names)
    # the unlabelled list kept what identifies an object: no data of the namespace's other ConfigMaps
    assert {ref_of(o).name for o in kept_there} >= {*names, "someone-elses"}
    assert all("data" not in o for o in kept_there)
