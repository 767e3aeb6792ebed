"""Git wins, against a real API server: out-of-band edits are taken back by a plain sync and
their authors named; opt-outs (per-object ``gitops-agent.io/ssa``, environment ignore rules,
``sync.force: false``) leave what they cover alone and out of the diff; fields controllers own by
design are not drift; ownership is decided by an identity a copied object cannot carry."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest

from gitops_agent.adapters.kube import KubeCluster
from gitops_agent.reconcile.changeset import Action, Change, ChangeSet
from gitops_agent.reconcile.engine import SyncOptions, Target, diff, sync
from gitops_agent.reconcile.ignore import IgnoreRule
from tests.integration.reconcile_helpers import Manifest, changed, connect, get, kubectl, labels, target

pytestmark = pytest.mark.integration


def config_map(ns: str, name: str, data: dict[str, str], **annotations: str) -> Manifest:
    meta: dict[str, Any] = {"name": name, "namespace": ns, "labels": labels(ns, name)}
    if annotations:
        meta["annotations"] = dict(annotations)
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta, "data": data}


def worker(ns: str, **annotations: str) -> Manifest:
    pod = {"app.kubernetes.io/name": "worker"}
    meta: dict[str, Any] = {"name": "worker", "namespace": ns, "labels": labels(ns, "worker")}
    if annotations:
        meta["annotations"] = dict(annotations)
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": meta,
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": pod},
            "template": {
                "metadata": {"labels": pod},
                "spec": {"containers": [{"name": "worker", "image": "registry.example.com/worker:1.0"}]},
            },
        },
    }


def nightly(ns: str) -> Manifest:
    """A CronJob whose job template carries the ownership labels, as compiled CronJobs do."""
    return {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": {"name": "nightly-report", "namespace": ns, "labels": labels(ns, "nightly-report")},
        "spec": {
            "schedule": "0 3 * * *",
            "jobTemplate": {
                "metadata": {"labels": labels(ns, "nightly-report")},
                "spec": {
                    "template": {
                        "metadata": {"labels": labels(ns, "nightly-report")},
                        "spec": {
                            "restartPolicy": "Never",
                            "containers": [{"name": "report", "image": "registry.example.com/report:1.0"}],
                        },
                    }
                },
            },
        },
    }


@dataclass
class Env:
    kubeconfig: Path
    namespace: str
    cluster: KubeCluster
    desired: list[Manifest]
    target: Target

    def diff(self) -> ChangeSet:
        return diff(self.cluster, self.desired, self.target)

    def sync(self, **options: Any) -> ChangeSet:
        result = sync(self.cluster, self.desired, self.target, SyncOptions(**options))
        assert not result.errors, [c.message for c in result.errors]
        return result

    def kubectl(self, *args: str) -> str:
        return kubectl(self.kubeconfig, "-n", self.namespace, *args)

    def get(self, kind: str, name: str) -> Manifest:
        return get(self.kubeconfig, self.namespace, kind, name)


@pytest.fixture
def env(kube_cluster, namespace: str) -> Iterator[Env]:  # type: ignore[no-untyped-def]
    cluster = connect(kube_cluster.kubeconfig)
    desired = [config_map(namespace, "api-config", {"LOG_LEVEL": "info", "MODE": "fast"}), worker(namespace)]
    yield Env(kube_cluster.kubeconfig, namespace, cluster, desired, target(namespace))
    cluster.close()


def change_of(change_set: ChangeSet, kind: str, name: str) -> Change:
    return next(c for c in change_set.changes if (c.ref.kind, c.ref.name) == (kind, name))


def wait_until(check: Callable[[], bool], what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


# 1. Self-heal heals, and names who drifted the cluster


@pytest.mark.parametrize(
    ("edit", "kind", "name", "manager", "check"),
    [
        (
            ["patch", "configmap", "api-config", "--field-manager=kubectl-edit", "--type=merge",
             "-p", '{"data":{"LOG_LEVEL":"debug"}}'],
            "ConfigMap", "api-config", "kubectl-edit",
            lambda e: e.get("configmap", "api-config")["data"] == {"LOG_LEVEL": "info", "MODE": "fast"},
        ),
        (
            ["scale", "deployment/worker", "--replicas=5"],
            "Deployment", "worker", "kubectl",
            lambda e: e.get("deployment", "worker")["spec"]["replicas"] == 2,
        ),
        (
            ["set", "image", "deployment/worker", "worker=registry.example.com/worker:6.6.6"],
            "Deployment", "worker", "kubectl-set",
            lambda e: e.get("deployment", "worker")["spec"]["template"]["spec"]["containers"][0]["image"]
            == "registry.example.com/worker:1.0",
        ),
        (
            ["label", "--overwrite", "configmap", "api-config", "team=someone-else"],
            "ConfigMap", "api-config", "kubectl-label",
            lambda e: e.get("configmap", "api-config")["metadata"]["labels"]["team"] == "search",
        ),
    ],
    ids=["kubectl-edit-patch", "kubectl-scale", "kubectl-set-image", "kubectl-label"],
)
def test_a_plain_sync_takes_back_an_out_of_band_edit_and_names_its_author(
    env: Env, edit: list[str], kind: str, name: str, manager: str, check: Callable[[Env], bool]
) -> None:
    env.sync()
    env.kubectl(*edit)
    found = env.diff()
    assert changed(found) == [("update", kind, name)]
    authors = change_of(found, kind, name).changed_by
    assert [a.manager for a in authors] == [manager]
    assert authors[0].operation == "Update"
    # the API server records no time for writes through the scale subresource
    assert authors[0].time.endswith("Z") if authors[0].subresource != "scale" else authors[0].time == ""
    healed = env.sync()  # no flag: git wins
    assert changed(healed) == [("update", kind, name)]
    assert change_of(healed, kind, name).to_json()["changedBy"][0]["manager"] == manager
    assert check(env)
    assert changed(env.diff()) == []


def test_force_off_reports_the_conflict_and_changes_nothing(env: Env) -> None:
    env.target = replace(env.target, force=False)
    env.sync()
    env.kubectl("patch", "configmap", "api-config", "--field-manager=kubectl-edit", "--type=merge",
                "-p", '{"data":{"LOG_LEVEL":"debug"}}')
    result = sync(env.cluster, env.desired, env.target, SyncOptions())
    [error] = [c for c in result.changes if c.action is Action.ERROR]
    assert error.ref.name == "api-config" and "409" in error.message and "kubectl-edit" in error.message
    assert env.get("configmap", "api-config")["data"]["LOG_LEVEL"] == "debug"
    # --force-conflicts overrides the environment once
    forced = env.sync(force_conflicts=True)
    assert changed(forced) == [("update", "ConfigMap", "api-config")]
    assert env.get("configmap", "api-config")["data"]["LOG_LEVEL"] == "info"


# Opt-outs


def test_ssa_ignore_is_never_applied_nor_reported(env: Env) -> None:
    env.desired = [config_map(env.namespace, "hands-off", {"a": "1"}, **{"gitops-agent.io/ssa": "Ignore"})]
    result = env.sync()
    assert changed(result) == []
    assert "Ignore" in change_of(result, "ConfigMap", "hands-off").message
    assert env.kubectl("get", "configmap", "hands-off", "--ignore-not-found", "-o", "name") == ""


def test_ssa_if_not_present_creates_once_then_leaves_it_alone(env: Env) -> None:
    env.desired = [config_map(env.namespace, "seed", {"a": "1"}, **{"gitops-agent.io/ssa": "IfNotPresent"})]
    assert changed(env.sync()) == [("create", "ConfigMap", "seed")]
    env.kubectl("patch", "configmap", "seed", "--type=merge", "-p", '{"data":{"a":"2","b":"3"}}')
    assert changed(env.diff()) == []
    assert changed(env.sync()) == []
    assert env.get("configmap", "seed")["data"] == {"a": "2", "b": "3"}


def test_ssa_merge_leaves_other_managers_fields_and_items_but_enforces_the_rest(env: Env) -> None:
    env.desired = [worker(env.namespace, **{"gitops-agent.io/ssa": "Merge"})]
    env.sync()
    env.kubectl("set", "image", "deployment/worker", "worker=registry.example.com/worker:2.0")
    env.kubectl("set", "env", "deployment/worker", "EXTRA=1")
    assert changed(env.diff()) == []
    assert changed(env.sync()) == []
    container = env.get("deployment", "worker")["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == "registry.example.com/worker:2.0"
    assert container["env"] == [{"name": "EXTRA", "value": "1"}]
    # a field nobody else owns still follows git
    env.desired[0]["spec"]["replicas"] = 3
    assert changed(env.sync()) == [("update", "Deployment", "worker")]
    assert env.get("deployment", "worker")["spec"]["replicas"] == 3


def test_ignore_rule_by_json_pointer_keeps_the_live_value(env: Env) -> None:
    rule = IgnoreRule(group="apps", kind="Deployment", json_pointers=("/spec/replicas",))
    env.target = replace(env.target, ignore_rules=(rule,))
    env.sync()
    env.kubectl("scale", "deployment/worker", "--replicas=4")
    assert changed(env.diff()) == []
    assert changed(env.sync()) == []
    assert env.get("deployment", "worker")["spec"]["replicas"] == 4
    # an edit the rule does not cover is still healed
    env.kubectl("set", "image", "deployment/worker", "worker=registry.example.com/worker:6.6.6")
    assert changed(env.sync()) == [("update", "Deployment", "worker")]
    live = env.get("deployment", "worker")["spec"]
    assert live["replicas"] == 4
    assert live["template"]["spec"]["containers"][0]["image"] == "registry.example.com/worker:1.0"


def test_ignore_rule_by_field_manager_leaves_that_managers_fields(env: Env) -> None:
    rule = IgnoreRule(kind="ConfigMap", name="api-config", managers=("config-tuner",))
    env.target = replace(env.target, ignore_rules=(rule,))
    env.sync()
    env.kubectl("patch", "configmap", "api-config", "--field-manager=config-tuner", "--type=merge",
                "-p", '{"data":{"LOG_LEVEL":"warn"}}')
    env.kubectl("patch", "configmap", "api-config", "--field-manager=kubectl-edit", "--type=merge",
                "-p", '{"data":{"MODE":"slow"}}')
    found = env.diff()
    assert changed(found) == [("update", "ConfigMap", "api-config")]
    assert [a.manager for a in change_of(found, "ConfigMap", "api-config").changed_by] == ["kubectl-edit"]
    env.sync()
    assert env.get("configmap", "api-config")["data"] == {"LOG_LEVEL": "warn", "MODE": "fast"}
    assert changed(env.diff()) == []


# 2. Fields a controller owns by design


def test_aggregated_cluster_role_rules_are_not_drift(env: Env) -> None:
    ns = env.namespace
    role = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRole",
        "metadata": {"name": f"{ns}-aggregate", "labels": labels(ns, "aggregate")},
        "aggregationRule": {"clusterRoleSelectors": [{"matchLabels": {f"example.com/{ns}": "true"}}]},
        "rules": [],
    }
    part = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRole",
        "metadata": {"name": f"{ns}-part", "labels": {**labels(ns, "part"), f"example.com/{ns}": "true"}},
        "rules": [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get"]}],
    }
    env.desired = [role, part]
    try:
        env.sync()

        def filled() -> bool:
            return bool(json.loads(kubectl(env.kubeconfig, "get", "clusterrole", role["metadata"]["name"],
                                           "-o", "json")).get("rules"))

        wait_until(filled, "the aggregation controller")
        assert changed(env.diff()) == []
        assert changed(env.sync()) == []
        assert filled()
    finally:
        kubectl(env.kubeconfig, "delete", "clusterrole", f"{ns}-aggregate", f"{ns}-part", "--ignore-not-found")


def test_service_account_token_data_is_not_drift(env: Env) -> None:
    ns = env.namespace
    account = {"apiVersion": "v1", "kind": "ServiceAccount",
               "metadata": {"name": "builder", "namespace": ns, "labels": labels(ns, "builder")}}
    token = {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "kubernetes.io/service-account-token",
        "metadata": {"name": "builder-token", "namespace": ns, "labels": labels(ns, "builder-token"),
                     "annotations": {"kubernetes.io/service-account.name": "builder"}},
    }
    env.desired = [account, token]
    env.sync()
    wait_until(lambda: "token" in (env.get("secret", "builder-token").get("data") or {}), "the token controller")
    assert changed(env.diff()) == []
    assert changed(env.sync()) == []
    assert "token" in env.get("secret", "builder-token")["data"]


# 3. Ownership a copy cannot fake


def test_a_job_started_from_an_owned_cronjob_is_never_pruned(env: Env) -> None:
    env.desired = [nightly(env.namespace)]
    env.target = replace(env.target, prune=True)
    env.sync()
    env.kubectl("create", "job", "manual-1", "--from=cronjob/nightly-report")
    copied = env.get("job", "manual-1")
    assert copied["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "gitops-agent"  # the labels came along
    assert changed(env.diff()) == []
    assert changed(env.sync(prune=True)) == []
    assert env.get("job", "manual-1")["metadata"]["uid"] == copied["metadata"]["uid"]


def test_a_copy_with_the_labels_and_the_tracking_id_of_its_original_is_not_owned(env: Env, tmp_path: Path) -> None:
    env.target = replace(env.target, prune=True)
    env.sync()
    original = env.get("configmap", "api-config")
    copy = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "api-config-copy", "labels": original["metadata"]["labels"],
                     "annotations": original["metadata"]["annotations"]},
        "data": original["data"],
    }
    manifest = tmp_path / "copy.json"
    manifest.write_text(json.dumps(copy))
    env.kubectl("apply", "--server-side", "--field-manager=a-person", "-f", str(manifest))
    assert changed(env.diff()) == []
    assert changed(env.sync(prune=True)) == []
    assert env.get("configmap", "api-config-copy")["data"] == original["data"]
    # what gitops-agent applied itself is still pruned when git drops it
    env.desired = [worker(env.namespace)]
    assert changed(env.sync(prune=True)) == [("delete", "ConfigMap", "api-config")]


def test_objects_applied_before_tracking_ids_are_adopted_on_first_sync_and_never_pruned_unseen(env: Env) -> None:
    ns = env.namespace
    legacy = [config_map(ns, name, {"a": "1"}) for name in ("kept", "dropped")]
    for obj in legacy:  # as an older gitops-agent applied them: labels, no tracking id
        env.cluster.apply(env.cluster.resource("", "v1", "ConfigMap"), obj, dry_run=False, force=True)  # type: ignore[arg-type]
    env.desired = [config_map(ns, "kept", {"a": "1"})]
    env.target = replace(env.target, prune=True)
    found = env.diff()
    assert changed(found) == [("update", "ConfigMap", "kept")]
    assert "adopted" in change_of(found, "ConfigMap", "kept").message
    assert any("no tracking id" in note and "dropped" in note for note in found.notes)
    env.sync(prune=True)
    assert env.get("configmap", "dropped")["data"] == {"a": "1"}
    assert env.get("configmap", "kept")["metadata"]["annotations"]["gitops-agent.io/tracking-id"] == (
        f"{ns}:/ConfigMap:{ns}/kept"
    )
    assert changed(env.diff()) == []



def test_a_cronjob_suspended_by_a_person_is_drift_with_its_author_and_git_suspend_is_kept(env: Env) -> None:
    env.desired = [nightly(env.namespace)]
    env.sync()
    env.kubectl("patch", "cronjob", "nightly-report", "--type=merge", "-p", '{"spec":{"suspend":true}}')
    found = env.diff()
    assert changed(found) == [("update", "CronJob", "nightly-report")]
    assert [a.manager for a in change_of(found, "CronJob", "nightly-report").changed_by] == ["kubectl-patch"]
    env.sync()
    assert env.get("cronjob", "nightly-report")["spec"]["suspend"] is False
    # suspended in git: enforced like any field
    env.desired[0]["spec"]["suspend"] = True
    assert changed(env.sync()) == [("update", "CronJob", "nightly-report")]
    env.kubectl("patch", "cronjob", "nightly-report", "--type=merge", "-p", '{"spec":{"suspend":false}}')
    env.sync()
    assert env.get("cronjob", "nightly-report")["spec"]["suspend"] is True
