"""The drift scenario suite against a real API server: every real change is exactly one
change and healed by sync; server defaults, HPA scaling, controller annotations and
canonicalized quantities are not drift."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from gitops_agent.adapters.kube import KubeCluster
from gitops_agent.reconcile.changeset import Action, Change, ChangeSet
from gitops_agent.reconcile.engine import SyncOptions, Target, diff, sync
from tests.integration.reconcile_helpers import (
    Manifest,
    changed,
    connect,
    get,
    kubectl,
    target,
    web_stack,
)

pytestmark = pytest.mark.integration


@dataclass
class Synced:
    kubeconfig: Path
    namespace: str
    cluster: KubeCluster
    desired: list[Manifest]
    target: Target

    def diff(self) -> ChangeSet:
        return diff(self.cluster, self.desired, self.target)

    def sync(self, *, force: bool | None = None) -> ChangeSet:
        return sync(self.cluster, self.desired, self.target, SyncOptions(force_conflicts=force))

    def kubectl(self, *args: str) -> str:
        return kubectl(self.kubeconfig, "-n", self.namespace, *args)

    def get(self, kind: str, name: str) -> Manifest:
        return get(self.kubeconfig, self.namespace, kind, name)


@pytest.fixture
def synced(kube_cluster, namespace: str) -> Iterator[Synced]:  # type: ignore[no-untyped-def]
    cluster = connect(kube_cluster.kubeconfig)
    state = Synced(kube_cluster.kubeconfig, namespace, cluster, web_stack(namespace), target(namespace))
    first = state.sync()
    assert {c.action for c in first.changes} == {Action.CREATE}, changed(first)
    yield state
    cluster.close()


def change_of(change_set: ChangeSet, kind: str, name: str) -> Change:
    return next(c for c in change_set.changes if (c.ref.kind, c.ref.name) == (kind, name))


def assert_one_change_then_healed(state: Synced, kind: str, name: str, action: str = "update",
                                  *, by: str | None = None) -> ChangeSet:
    """One plain sync (git wins, no flag) heals exactly the one drifted object; ``by`` is the
    field manager the diff and the sync name as the author of the out-of-band edit."""
    found = state.diff()
    assert changed(found) == [(action, kind, name)]
    if by is not None:
        assert [a.manager for a in change_of(found, kind, name).changed_by] == [by]
    healed = state.sync()
    assert not healed.errors, [c.message for c in healed.errors]
    assert changed(healed) == [(action, kind, name)]
    if by is not None:
        assert [a.manager for a in change_of(healed, kind, name).changed_by] == [by]
        author = change_of(healed, kind, name).to_json()["changedBy"][0]
        assert author["time"] or author.get("subresource") == "scale"  # no time is kept for /scale writes
    assert changed(state.diff()) == []
    return found


def test_sync_then_diff_reports_zero_changes_without_asking_the_server(synced: Synced) -> None:
    synced.cluster.requests.clear()
    result = synced.diff()
    assert changed(result) == []
    assert result.summary()["unchanged"] == len(synced.desired)
    # every object was proven unchanged locally: no dry-run, no GET, one list per kind
    assert synced.cluster.requests["apply (dry-run)"] == 0
    assert not any(key.startswith("get ") for key in synced.cluster.requests)
    assert all(count == 1 for key, count in synced.cluster.requests.items() if key.startswith("list "))


def test_image_changed(synced: Synced) -> None:
    synced.kubectl("set", "image", "deployment/web", "web=registry.example.com/web:6.6.6")
    found = assert_one_change_then_healed(synced, "Deployment", "web", by="kubectl-set")
    diff_text = change_of(found, "Deployment", "web").diff
    assert "-        image: registry.example.com/web:6.6.6" in diff_text
    assert "+        image: registry.example.com/web:1.0" in diff_text
    image = synced.get("deployment", "web")["spec"]["template"]["spec"]["containers"][0]["image"]
    assert image == "registry.example.com/web:1.0"


def test_image_change_by_another_manager_is_a_reported_conflict_when_force_is_off(synced: Synced) -> None:
    synced.kubectl("set", "image", "deployment/web", "web=registry.example.com/web:6.6.6")
    result = synced.sync(force=False)
    errors = [c for c in result.changes if c.action is Action.ERROR]
    assert [c.ref.name for c in errors] == ["web"]
    assert "409" in errors[0].message and "kubectl-set" in errors[0].message
    assert "--force-conflicts" in errors[0].message
    image = synced.get("deployment", "web")["spec"]["template"]["spec"]["containers"][0]["image"]
    assert image == "registry.example.com/web:6.6.6"


def test_replicas_changed_without_hpa(synced: Synced) -> None:
    synced.kubectl("scale", "deployment/web", "--replicas=5")
    assert_one_change_then_healed(synced, "Deployment", "web", by="kubectl")
    assert synced.get("deployment", "web")["spec"]["replicas"] == 2


def test_env_var_added_by_another_manager(synced: Synced) -> None:
    synced.kubectl("set", "env", "deployment/web", "DEBUG=1")
    found = assert_one_change_then_healed(synced, "Deployment", "web", by="kubectl-set")
    assert "-        - name: DEBUG" in change_of(found, "Deployment", "web").diff
    env = synced.get("deployment", "web")["spec"]["template"]["spec"]["containers"][0]["env"]
    assert env == [{"name": "MODE", "value": "fast"}]


def test_container_added(synced: Synced) -> None:
    sidecar = {"name": "sidecar", "image": "registry.example.com/proxy:1"}
    synced.kubectl("patch", "deployment", "web", "--type=json", "-p",
                   json.dumps([{"op": "add", "path": "/spec/template/spec/containers/-", "value": sidecar}]))
    assert_one_change_then_healed(synced, "Deployment", "web")
    containers = synced.get("deployment", "web")["spec"]["template"]["spec"]["containers"]
    assert [c["name"] for c in containers] == ["web"]


def test_label_removed(synced: Synced) -> None:
    synced.kubectl("label", "deployment", "web", "team-")
    assert_one_change_then_healed(synced, "Deployment", "web")
    assert synced.get("deployment", "web")["metadata"]["labels"]["team"] == "search"


def test_annotation_git_sets_changed(synced: Synced) -> None:
    synced.kubectl("annotate", "--overwrite", "deployment", "web", "example.com/owner=someone-else")
    assert_one_change_then_healed(synced, "Deployment", "web", by="kubectl-annotate")
    assert synced.get("deployment", "web")["metadata"]["annotations"]["example.com/owner"] == "team-search"


def test_configmap_data_edited(synced: Synced) -> None:
    synced.kubectl("patch", "configmap", "web-config", "--type=merge", "-p",
                   json.dumps({"data": {"mode": "slow", "injected": "yes"}}))
    assert_one_change_then_healed(synced, "ConfigMap", "web-config", by="kubectl-patch")
    assert synced.get("configmap", "web-config")["data"] == {"greeting": "hello", "mode": "fast"}


def test_service_port_changed(synced: Synced) -> None:
    synced.kubectl("patch", "service", "web", "--type=json", "-p",
                   json.dumps([{"op": "replace", "path": "/spec/ports/0/port", "value": 8081}]))
    assert_one_change_then_healed(synced, "Service", "web")
    ports = synced.get("service", "web")["spec"]["ports"]
    assert [(p["name"], p["port"]) for p in ports] == [("http", 80)]


def test_object_deleted(synced: Synced) -> None:
    synced.kubectl("delete", "configmap", "web-config")
    assert_one_change_then_healed(synced, "ConfigMap", "web-config", action="create")
    assert synced.get("configmap", "web-config")["data"]["greeting"] == "hello"


def test_cronjob_schedule_changed(synced: Synced) -> None:
    synced.kubectl("patch", "cronjob", "nightly", "--type=merge", "-p", '{"spec":{"schedule":"0 5 * * *"}}')
    assert_one_change_then_healed(synced, "CronJob", "nightly", by="kubectl-patch")
    assert synced.get("cronjob", "nightly")["spec"]["schedule"] == "30 1 * * *"


def test_hpa_changing_replicas_is_not_drift_and_never_reset(synced: Synced) -> None:
    synced.kubectl("scale", "deployment/api", "--replicas=4")
    assert changed(synced.diff()) == []
    result = synced.sync()
    assert changed(result) == []
    assert synced.get("deployment", "api")["spec"]["replicas"] == 4


def test_server_defaults_are_not_drift(synced: Synced) -> None:
    live = synced.get("deployment", "web")
    container = live["spec"]["template"]["spec"]["containers"][0]
    # the API server filled in fields git never set ...
    assert container["terminationMessagePath"] == "/dev/termination-log"
    assert live["spec"]["strategy"]["type"] == "RollingUpdate"
    assert container["ports"][0]["protocol"] == "TCP"
    # ... and they are not drift
    assert changed(synced.diff()) == []


def test_controller_annotation_is_not_drift(synced: Synced) -> None:
    deadline = time.monotonic() + 60
    while "deployment.kubernetes.io/revision" not in synced.get("deployment", "web")["metadata"]["annotations"]:
        assert time.monotonic() < deadline, "the deployment controller never annotated the Deployment"
        time.sleep(0.2)
    # the controller's own annotation is not drift
    assert changed(synced.diff()) == []
    synced.kubectl("annotate", "--overwrite", "deployment", "web", "deployment.kubernetes.io/revision=9")
    assert changed(synced.diff()) == []


def test_canonicalized_quantities_are_not_drift(synced: Synced) -> None:
    resources = synced.get("deployment", "web")["spec"]["template"]["spec"]["containers"][0]["resources"]
    assert resources["requests"] == {"cpu": "1", "memory": "1Gi"}
    assert resources["limits"] == {"cpu": "2", "memory": "2Gi"}
    synced.cluster.requests.clear()
    assert changed(synced.diff()) == []
    assert synced.cluster.requests["apply (dry-run)"] == 0


def test_secret_values_are_masked_in_diffs(synced: Synced) -> None:
    secret = {"apiVersion": "v1", "kind": "Secret",
              "metadata": {"name": "token", "namespace": synced.namespace,
                           "labels": {"app.kubernetes.io/name": "token"}},
              "data": {"token": "c2VjcmV0LXZhbHVlLTE="}}
    synced.desired.append(secret)
    created = synced.sync()
    assert ("create", "Secret", "token") in changed(created)
    synced.kubectl("patch", "secret", "token", "--type=merge", "-p",
                   json.dumps({"data": {"token": "b3RoZXItdmFsdWU="}}))
    found = assert_one_change_then_healed(synced, "Secret", "token", by="kubectl-patch")
    text = "".join(c.diff for c in found.changes) + "".join(c.diff for c in created.changes)
    assert "c2VjcmV0LXZhbHVlLTE=" not in text and "b3RoZXItdmFsdWU=" not in text
    assert "*** (after)" in text
