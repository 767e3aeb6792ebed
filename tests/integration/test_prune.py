"""Pruning against a real API server: only owned objects git dropped, with guards."""

from __future__ import annotations

import json

import pytest

from gitops_agent.reconcile.changeset import Action
from gitops_agent.reconcile.engine import SyncOptions, diff, sync
from gitops_agent.reconcile.prune import PruneRefusedError
from tests.integration.reconcile_helpers import (
    changed,
    connect,
    kubectl,
    labels,
    target,
    web_stack,
)

pytestmark = pytest.mark.integration


def names(kubeconfig, namespace: str, kind: str) -> set[str]:  # type: ignore[no-untyped-def]
    out = kubectl(kubeconfig, "-n", namespace, "get", kind, "-o", "json")
    return {item["metadata"]["name"] for item in json.loads(out)["items"]}


def unowned_configmap(kubeconfig, namespace: str) -> None:  # type: ignore[no-untyped-def]
    kubectl(kubeconfig, "-n", namespace, "create", "configmap", "hand-made", "--from-literal=a=b")


def test_objects_removed_from_git_are_deleted_and_unowned_ones_untouched(kube_cluster, namespace: str) -> None:  # type: ignore[no-untyped-def]
    cluster = connect(kube_cluster.kubeconfig)
    desired = web_stack(namespace)
    sync(cluster, desired, target(namespace), SyncOptions())
    unowned_configmap(kube_cluster.kubeconfig, namespace)
    smaller = [o for o in desired if o["kind"] not in ("CronJob", "ConfigMap")]

    preview = diff(cluster, smaller, target(namespace))
    assert sorted(changed(preview)) == [("delete", "ConfigMap", "web-config"), ("delete", "CronJob", "nightly")]
    # without --prune (and sync.prune off) nothing is deleted
    kept = sync(cluster, smaller, target(namespace), SyncOptions())
    assert changed(kept) == []
    assert "web-config" in names(kube_cluster.kubeconfig, namespace, "configmap")

    result = sync(cluster, smaller, target(namespace), SyncOptions(prune=True))
    deleted = [c for c in result.changes if c.action is Action.DELETE]
    assert sorted((c.ref.kind, c.ref.name) for c in deleted) == [("ConfigMap", "web-config"), ("CronJob", "nightly")]
    assert "nightly" not in names(kube_cluster.kubeconfig, namespace, "cronjob")
    configmaps = names(kube_cluster.kubeconfig, namespace, "configmap")
    assert "web-config" not in configmaps
    assert "hand-made" in configmaps  # no ownership labels: never pruned
    assert changed(diff(cluster, smaller, target(namespace))) == []


def test_sync_policy_prune_and_protected_objects(kube_cluster, namespace: str) -> None:  # type: ignore[no-untyped-def]
    cluster = connect(kube_cluster.kubeconfig)
    desired = web_stack(namespace)
    protected = {"apiVersion": "v1", "kind": "ConfigMap",
                 "metadata": {"name": "keep-me", "namespace": namespace, "labels": labels(namespace, "keep-me"),
                              "annotations": {"gitops-agent.io/prune": "false"}},
                 "data": {"a": "b"}}
    sync(cluster, [*desired, protected], target(namespace), SyncOptions())
    result = sync(cluster, desired[1:], target(namespace, prune=True), SyncOptions())
    assert changed(result) == [("delete", "ConfigMap", "web-config")]
    assert "keep-me" in names(kube_cluster.kubeconfig, namespace, "configmap")


def test_empty_desired_state_is_refused(kube_cluster, namespace: str) -> None:  # type: ignore[no-untyped-def]
    cluster = connect(kube_cluster.kubeconfig)
    sync(cluster, web_stack(namespace), target(namespace), SyncOptions())
    with pytest.raises(PruneRefusedError, match="empty desired state"):
        sync(cluster, [], target(namespace), SyncOptions(prune=True, allow_mass_prune=True))
    assert names(kube_cluster.kubeconfig, namespace, "deployment") == {"web", "api"}
    # allowed explicitly by the environment
    result = sync(cluster, [], target(namespace, allow_empty=True), SyncOptions(prune=True, allow_mass_prune=True))
    assert {c.action for c in result.changes} == {Action.DELETE}
    assert names(kube_cluster.kubeconfig, namespace, "deployment") == set()


def test_mass_prune_guard(kube_cluster, namespace: str) -> None:  # type: ignore[no-untyped-def]
    cluster = connect(kube_cluster.kubeconfig)
    desired = web_stack(namespace)
    sync(cluster, desired, target(namespace), SyncOptions())
    only_configmap = desired[:1]
    with pytest.raises(PruneRefusedError, match=r"5 of 6 owned objects .*--allow-mass-prune"):
        sync(cluster, only_configmap, target(namespace), SyncOptions(prune=True))
    assert names(kube_cluster.kubeconfig, namespace, "deployment") == {"web", "api"}
    # a higher threshold in the environment, or the flag, lets it through
    result = sync(cluster, only_configmap, target(namespace), SyncOptions(prune=True, allow_mass_prune=True))
    assert len([c for c in result.changes if c.action is Action.DELETE]) == 5
    assert names(kube_cluster.kubeconfig, namespace, "deployment") == set()


def test_owned_namespace_is_pruned_last_and_foreign_namespace_never(kube_cluster, namespace: str) -> None:  # type: ignore[no-untyped-def]
    cluster = connect(kube_cluster.kubeconfig)
    env = namespace
    owned_ns = f"{namespace}-extra"
    extra = [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": owned_ns, "labels": labels(env, owned_ns)}},
        {"apiVersion": "v1", "kind": "ConfigMap",
         "metadata": {"name": "extra", "namespace": owned_ns, "labels": labels(env, "extra")}, "data": {"a": "b"}},
    ]
    desired = web_stack(namespace)
    sync(cluster, [*desired, *extra], target(namespace), SyncOptions())
    result = sync(cluster, desired, target(namespace), SyncOptions(prune=True, allow_mass_prune=True))
    deleted = [(c.ref.kind, c.ref.name) for c in result.changes if c.action is Action.DELETE]
    assert ("Namespace", owned_ns) in deleted
    phase = json.loads(kubectl(kube_cluster.kubeconfig, "get", "namespace", owned_ns, "-o", "json",
                               check=False) or '{"status": {"phase": "Terminating"}}')["status"]["phase"]
    assert phase == "Terminating"
    # the test's own namespace carries no ownership labels: it is never a candidate
    assert json.loads(kubectl(kube_cluster.kubeconfig, "get", "namespace", namespace, "-o", "json"))[
        "status"]["phase"] == "Active"


def test_owned_namespace_holding_foreign_objects_is_not_pruned(kube_cluster, namespace: str) -> None:  # type: ignore[no-untyped-def]
    cluster = connect(kube_cluster.kubeconfig)
    shared = f"{namespace}-shared"
    ns_object = {"apiVersion": "v1", "kind": "Namespace",
                 "metadata": {"name": shared, "labels": labels(namespace, shared)}}
    desired = web_stack(namespace)
    sync(cluster, [*desired, ns_object], target(namespace), SyncOptions())
    # another team moved in
    kubectl(kube_cluster.kubeconfig, "-n", shared, "create", "configmap", "their-settings", "--from-literal=a=b")
    result = sync(cluster, desired, target(namespace), SyncOptions(prune=True, allow_mass_prune=True))
    assert changed(result) == []
    assert any(f"Namespace/{shared} is not pruned" in note and "their-settings" in note for note in result.notes)
    assert json.loads(kubectl(kube_cluster.kubeconfig, "get", "namespace", shared, "-o", "json"))[
        "status"]["phase"] == "Active"
    # once it only holds what gitops-agent put there, it is pruned
    kubectl(kube_cluster.kubeconfig, "-n", shared, "delete", "configmap", "their-settings")
    result = sync(cluster, desired, target(namespace), SyncOptions(prune=True, allow_mass_prune=True))
    assert changed(result) == [("delete", "Namespace", shared)]


def test_namespace_that_existed_before_is_adopted_and_never_pruned(kube_cluster, namespace: str) -> None:  # type: ignore[no-untyped-def]
    cluster = connect(kube_cluster.kubeconfig)
    # git declares the (already existing, unlabelled) test namespace itself
    ns_object = {"apiVersion": "v1", "kind": "Namespace",
                 "metadata": {"name": namespace, "labels": labels(namespace, namespace)}}
    desired = web_stack(namespace)
    preview = diff(cluster, [ns_object, *desired], target(namespace))
    assert ("update", "Namespace", namespace) in changed(preview)  # it exists: not a "create"
    sync(cluster, [ns_object, *desired], target(namespace), SyncOptions())
    live = json.loads(kubectl(kube_cluster.kubeconfig, "get", "namespace", namespace, "-o", "json"))
    assert live["metadata"]["annotations"]["gitops-agent.io/adopted"] == "true"
    assert live["metadata"]["labels"]["gitops-agent.io/environment"] == namespace
    assert changed(diff(cluster, [ns_object, *desired], target(namespace))) == []
    # git drops the namespace: it is kept, because gitops-agent did not create it
    result = sync(cluster, desired, target(namespace), SyncOptions(prune=True, allow_mass_prune=True))
    assert changed(result) == []
    assert json.loads(kubectl(kube_cluster.kubeconfig, "get", "namespace", namespace, "-o", "json"))[
        "status"]["phase"] == "Active"
