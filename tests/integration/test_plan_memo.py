"""The reconcile loop's memo of "unchanged" verdicts against a real API server: a second round
of an unchanged revision is answered from the memo, and each input of a verdict invalidates it
(the live object, the desired object, the ignore rules)."""

from __future__ import annotations

import copy
from dataclasses import replace
from pathlib import Path

import pytest

from gitops_agent.adapters.kube import KubeCluster
from gitops_agent.reconcile.engine import SyncOptions, Target, plan, sync
from gitops_agent.reconcile.ignore import IgnoreRule
from gitops_agent.reconcile.memo import PlanMemo
from tests.integration.reconcile_helpers import Manifest, changed, connect, get, kubectl, labels, target

pytestmark = pytest.mark.integration


def config_maps(ns: str) -> tuple[Manifest, ...]:
    """One render: three ConfigMaps (their content never changes once rendered)."""
    return tuple(
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": name, "namespace": ns, "labels": labels(ns, name)},
            "data": {"MODE": "fast", "LOG_LEVEL": "info"},
        }
        for name in ("api-config", "worker-config", "batch-config")
    )


def synced(kubeconfig: Path, ns: str, t: Target) -> tuple[KubeCluster, tuple[Manifest, ...]]:
    cluster = connect(kubeconfig)
    render = config_maps(ns)
    assert changed(sync(cluster, list(render), t, SyncOptions())) == [
        ("create", "ConfigMap", name) for name in ("api-config", "batch-config", "worker-config")
    ]
    return cluster, render


def warm(cluster: KubeCluster, render: tuple[Manifest, ...], t: Target) -> PlanMemo:
    """A memo after two no-op rounds; the second is answered from it."""
    memo = PlanMemo()
    assert changed(plan(cluster, render, t, memo=memo).change_set()) == []
    assert memo.hits == 0
    assert changed(plan(cluster, render, t, memo=memo).change_set()) == []
    assert memo.hits == len(render)
    return memo


def test_a_changed_live_object_is_checked_again(kube_cluster, namespace: str) -> None:  # type: ignore[no-untyped-def]
    t = target(namespace)
    cluster, render = synced(kube_cluster.kubeconfig, namespace, t)
    memo = warm(cluster, render, t)
    kubectl(kube_cluster.kubeconfig, "-n", namespace, "patch", "configmap", "worker-config",
            "--field-manager=kubectl-edit", "--type=merge", "-p", '{"data":{"MODE":"slow"}}')
    hits = memo.hits
    found = plan(cluster, render, t, memo=memo).change_set()
    assert changed(found) == [("update", "ConfigMap", "worker-config")]
    assert memo.hits == hits + 2  # the other two still come from the memo


def test_a_changed_desired_object_is_checked_again(kube_cluster, namespace: str) -> None:  # type: ignore[no-untyped-def]
    t = target(namespace)
    cluster, render = synced(kube_cluster.kubeconfig, namespace, t)
    memo = warm(cluster, render, t)
    next_render = copy.deepcopy(render)  # a new revision's render: new objects, one changed
    next_render[2]["data"]["LOG_LEVEL"] = "debug"
    found = plan(cluster, next_render, replace(t, revision="next"), memo=memo).change_set()
    assert changed(found) == [("update", "ConfigMap", "batch-config")]
    # the memo did not keep git's changed object: a sync still applies it
    assert changed(sync(cluster, list(next_render), replace(t, revision="next"), SyncOptions())) == [
        ("update", "ConfigMap", "batch-config")
    ]
    assert get(kube_cluster.kubeconfig, namespace, "configmap", "batch-config")["data"]["LOG_LEVEL"] == "debug"


def test_a_changed_ignore_rule_is_checked_again(kube_cluster, namespace: str) -> None:  # type: ignore[no-untyped-def]
    rule = IgnoreRule(kind="ConfigMap", name="api-config", managers=("config-tuner",))
    t = target(namespace, ignore_rules=(rule,))
    cluster, render = synced(kube_cluster.kubeconfig, namespace, t)
    kubectl(kube_cluster.kubeconfig, "-n", namespace, "patch", "configmap", "api-config",
            "--field-manager=config-tuner", "--type=merge", "-p", '{"data":{"LOG_LEVEL":"warn"}}')
    memo = warm(cluster, render, t)  # the tuner's value is left alone: proven unchanged locally
    hits = memo.hits
    found = plan(cluster, render, replace(t, ignore_rules=()), memo=memo).change_set()
    assert changed(found) == [("update", "ConfigMap", "api-config")]
    assert memo.hits == hits  # the rules are part of every verdict: all three were walked again


def test_the_memo_keeps_git_s_objects_unchanged_by_the_rounds(kube_cluster, namespace: str) -> None:  # type: ignore[no-untyped-def]
    """An ignored field takes the live value in the object a round sends, never in the one the
    memo keeps for later rounds."""
    rule = IgnoreRule(kind="ConfigMap", name="api-config", json_pointers=("/data/LOG_LEVEL",))
    t = target(namespace, ignore_rules=(rule,))
    cluster, render = synced(kube_cluster.kubeconfig, namespace, t)
    kubectl(kube_cluster.kubeconfig, "-n", namespace, "patch", "configmap", "api-config",
            "--field-manager=config-tuner", "--type=merge", "-p", '{"data":{"LOG_LEVEL":"warn"}}')
    before = copy.deepcopy(render)
    memo = PlanMemo()
    first = plan(cluster, render, t, memo=memo)
    api = next(p for p in first.objects if p.ref.name == "api-config")
    assert api.body["data"]["LOG_LEVEL"] == "warn"  # the live value, in what this round sends
    kept = memo.prepared(render, (t.environment, t.namespace))
    assert kept is not None
    assert all(obj["data"] == {"MODE": "fast", "LOG_LEVEL": "info"} for obj in kept[0])
    assert render == before


def test_a_memo_for_the_disk_keeps_no_secret(kube_cluster, namespace: str) -> None:  # type: ignore[no-untyped-def]
    """``diff`` writes its proofs to disk: a digest of a Secret's values is never among them
    (the Secret is walked every time), while a memo kept in memory proves it too."""
    t = target(namespace)
    cluster, render = synced(kube_cluster.kubeconfig, namespace, t)
    secret = {"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
              "metadata": {"name": "api-token", "namespace": namespace, "labels": labels(namespace, "api-token")},
              "data": {"token": "czNjcjN0LXZhbHVl"}}
    with_secret = (*render, secret)
    assert changed(sync(cluster, list(with_secret), t, SyncOptions())) == [("create", "Secret", "api-token")]
    in_memory = warm(cluster, with_secret, t)  # all four from the memo
    on_disk = PlanMemo.of(in_memory.proven())
    assert len(on_disk.proven()) == 4
    assert changed(plan(cluster, with_secret, t, memo=on_disk).change_set()) == []
    assert on_disk.hits == 3  # the three ConfigMaps; the Secret was walked
    assert len(on_disk.proven()) == 3
    kept = PlanMemo.of(on_disk.proven())
    assert changed(plan(cluster, with_secret, t, memo=kept).change_set()) == []
    assert kept.hits == 3
