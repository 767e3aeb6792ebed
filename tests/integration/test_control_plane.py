"""The test control plane is a real one: defaulting, server-side apply, field managers,
conflicts, controllers, RBAC, namespace finalization, CRD validation and pruning."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import pytest
from kubernetes import client

from tests.support.cluster import kube_api
from tools.testcluster.launcher import RunningCluster

pytestmark = pytest.mark.integration

MANAGER = "gitops-agent-test"
APPLY = "application/apply-patch+yaml"
T = TypeVar("T")


def wait_for(what: str, probe: Callable[[], T | None], timeout: float = 60.0) -> T:
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.1)


@pytest.fixture
def admin(kube_cluster: RunningCluster) -> Iterator[client.ApiClient]:
    with kube_api(kube_cluster.kubeconfig) as api:
        yield api


@pytest.fixture
def restricted(kube_cluster: RunningCluster) -> Iterator[client.ApiClient]:
    with kube_api(kube_cluster.restricted_kubeconfig) as api:
        yield api


def core(api: client.ApiClient) -> Any:
    """CoreV1Api, typed loosely: bodies are plain dicts, as in manifests."""
    return client.CoreV1Api(api)


def apps(api: client.ApiClient) -> Any:
    return client.AppsV1Api(api)


def deployment(name: str, namespace: str, replicas: int = 2) -> dict[str, Any]:
    labels = {"app.kubernetes.io/name": name}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": namespace, "labels": labels},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {"containers": [{"name": "app", "image": "registry.example.com/app:1.0"}]},
            },
        },
    }


def apply_deployment(api: client.ApiClient, body: dict[str, Any], manager: str, force: bool = False) -> Any:
    return apps(api).patch_namespaced_deployment(
        body["metadata"]["name"],
        body["metadata"]["namespace"],
        body,
        field_manager=manager,
        force=force,
        _content_type=APPLY,
    )


def test_server_side_apply_returns_server_defaults_and_managed_fields(admin: client.ApiClient, namespace: str) -> None:
    live = apply_deployment(admin, deployment("web", namespace), MANAGER)

    assert live.spec.strategy.type == "RollingUpdate"
    assert live.spec.strategy.rolling_update.max_surge == "25%"
    assert live.spec.strategy.rolling_update.max_unavailable == "25%"
    assert live.spec.revision_history_limit == 10
    assert live.spec.progress_deadline_seconds == 600
    pod = live.spec.template.spec
    assert pod.restart_policy == "Always"
    assert pod.dns_policy == "ClusterFirst"
    assert pod.termination_grace_period_seconds == 30
    container = pod.containers[0]
    assert container.termination_message_path == "/dev/termination-log"
    assert container.termination_message_policy == "File"
    assert container.image_pull_policy == "IfNotPresent"
    entries = [(m.manager, m.operation) for m in live.metadata.managed_fields]
    assert (MANAGER, "Apply") in entries
    owned = next(m for m in live.metadata.managed_fields if m.manager == MANAGER).fields_v1
    assert "f:replicas" in owned["f:spec"]
    # Server-filled defaults are not owned by the applier.
    assert "f:revisionHistoryLimit" not in owned["f:spec"]


def test_controller_manager_creates_a_replicaset_owned_by_the_deployment(
    admin: client.ApiClient, namespace: str
) -> None:
    live = apply_deployment(admin, deployment("api", namespace, replicas=3), MANAGER)

    replica_sets = wait_for(
        "a ReplicaSet of Deployment/api",
        lambda: apps(admin).list_namespaced_replica_set(namespace).items,
    )

    (rs,) = replica_sets
    assert rs.metadata.name.startswith("api-")
    (owner,) = rs.metadata.owner_references
    assert (owner.kind, owner.name, owner.uid, owner.controller) == (
        "Deployment",
        "api",
        live.metadata.uid,
        True,
    )
    assert rs.spec.replicas == 3
    # The ReplicaSet controller creates the Pods (the scheduler binds them to simulated nodes).
    wait_for("3 Pods", lambda: len(core(admin).list_namespaced_pod(namespace).items) == 3)


def test_conflicting_apply_by_a_second_manager_gets_409(admin: client.ApiClient, namespace: str) -> None:
    apply_deployment(admin, deployment("db", namespace, replicas=2), MANAGER)

    with pytest.raises(client.ApiException) as conflict:
        apply_deployment(admin, deployment("db", namespace, replicas=5), "someone-else")
    assert conflict.value.status == 409
    assert MANAGER in str(conflict.value.body)
    assert ".spec.replicas" in str(conflict.value.body)

    # The same value is no conflict (shared ownership); force takes the field over.
    apply_deployment(admin, deployment("db", namespace, replicas=2), "someone-else")
    forced = apply_deployment(admin, deployment("db", namespace, replicas=5), "someone-else", force=True)
    assert forced.spec.replicas == 5
    owners = {m.manager for m in forced.metadata.managed_fields if "f:replicas" in m.fields_v1.get("f:spec", {})}
    assert owners == {"someone-else"}


def test_restricted_user_is_confined_to_its_namespace(
    kube_cluster: RunningCluster, restricted: client.ApiClient, namespace: str
) -> None:
    api = core(restricted)
    own = kube_cluster.restricted_namespace
    cm = {"metadata": {"name": "settings"}, "data": {"k": "v"}}

    for ns in ("default", namespace):
        with pytest.raises(client.ApiException) as denied:
            api.create_namespaced_config_map(ns, cm)
        assert denied.value.status == 403
        with pytest.raises(client.ApiException) as denied:
            api.list_namespaced_config_map(ns)
        assert denied.value.status == 403
    with pytest.raises(client.ApiException) as denied:
        api.list_namespace()
    assert denied.value.status == 403

    created = api.create_namespaced_config_map(own, cm)
    try:
        assert created.metadata.namespace == own
        live = apply_deployment(restricted, deployment("mine", own), MANAGER)
        assert live.metadata.namespace == own
    finally:
        api.delete_namespaced_config_map("settings", own)
        apps(restricted).delete_namespaced_deployment("mine", own)


def test_deleting_a_namespace_finalizes_it(admin: client.ApiClient) -> None:
    api = core(admin)
    name = "finalize-me"
    api.create_namespace({"metadata": {"name": name}})
    api.create_namespaced_config_map(name, {"metadata": {"name": "content"}})
    apply_deployment(admin, deployment("leftover", name), MANAGER)

    api.delete_namespace(name)
    phase = api.read_namespace(name).status.phase
    assert phase == "Terminating"

    def gone() -> bool:
        try:
            api.read_namespace(name)
        except client.ApiException as e:
            return bool(e.status == 404)
        return False

    wait_for(f"Namespace/{name} to be finalized", gone, timeout=90)


def test_crds_validate_and_prune_monitoring_objects(admin: client.ApiClient, namespace: str) -> None:
    custom: Any = client.CustomObjectsApi(admin)
    monitor: dict[str, Any] = {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "ServiceMonitor",
        "metadata": {"name": "web", "namespace": namespace},
        "spec": {
            "selector": {"matchLabels": {"app.kubernetes.io/name": "web"}},
            "namespaceSelector": {"matchNames": [namespace]},
            "endpoints": [
                {"port": "http", "path": "/metrics", "interval": "30s", "scheme": "http", "unknownField": "pruned"}
            ],
        },
    }
    live = custom.create_namespaced_custom_object("monitoring.coreos.com", "v1", namespace, "servicemonitors", monitor)
    assert live["spec"]["endpoints"] == [{"port": "http", "path": "/metrics", "interval": "30s", "scheme": "http"}]

    bad = {**monitor, "metadata": {"name": "bad", "namespace": namespace}}
    bad["spec"] = {**monitor["spec"], "endpoints": [{"port": "http", "interval": "often"}]}
    with pytest.raises(client.ApiException) as invalid:
        custom.create_namespaced_custom_object("monitoring.coreos.com", "v1", namespace, "servicemonitors", bad)
    assert invalid.value.status == 422
    assert "interval" in str(invalid.value.body)

    rule: dict[str, Any] = {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PrometheusRule",
        "metadata": {"name": "alerts", "namespace": namespace},
        "spec": {
            "groups": [
                {
                    "name": "workflow",
                    "interval": "1m",
                    "rules": [
                        {
                            "alert": "HighErrorRate",
                            "expr": "sum(rate(x[5m])) > 0.05",
                            "for": "5m",
                            "labels": {"severity": "critical"},
                            "annotations": {"summary": "errors"},
                        },
                        {"record": "job:x:rate5m", "expr": "rate(x[5m])"},
                    ],
                }
            ]
        },
    }
    live_rule = custom.create_namespaced_custom_object(
        "monitoring.coreos.com", "v1", namespace, "prometheusrules", rule
    )
    assert live_rule["spec"] == rule["spec"]
    missing_expr = {**rule, "metadata": {"name": "broken", "namespace": namespace}}
    missing_expr["spec"] = {"groups": [{"name": "g", "rules": [{"alert": "NoExpr"}]}]}
    with pytest.raises(client.ApiException) as invalid:
        custom.create_namespaced_custom_object(
            "monitoring.coreos.com", "v1", namespace, "prometheusrules", missing_expr
        )
    assert invalid.value.status == 422
    assert "expr" in str(invalid.value.body)


def test_agent_user_has_cluster_admin_rights_without_system_masters(
    kube_cluster: RunningCluster, namespace: str
) -> None:
    with kube_api(kube_cluster.agent_kubeconfig) as agent:
        authn: Any = client.AuthenticationV1Api(agent)
        review = authn.create_self_subject_review(
            {"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"}
        )
        assert review.status.user_info.username == "agent"
        assert "system:masters" not in (review.status.user_info.groups or [])
        names = {ns.metadata.name for ns in core(agent).list_namespace().items}
        assert {"default", namespace, kube_cluster.restricted_namespace} <= names
        live = apply_deployment(agent, deployment("agent-app", namespace), MANAGER)
        assert live.metadata.managed_fields[0].manager == MANAGER


def test_service_account_tokens_authenticate_with_their_own_rights(
    admin: client.ApiClient, kube_cluster: RunningCluster, namespace: str
) -> None:
    api = core(admin)
    api.create_namespaced_service_account(namespace, {"metadata": {"name": "robot"}})
    token = api.create_namespaced_service_account_token(
        "robot", namespace, {"spec": {"expirationSeconds": 600}}
    ).status.token
    robot = kube_cluster.api(token)
    cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "by-robot"}}
    path = f"/api/v1/namespaces/{namespace}/configmaps"

    status, body = robot.request("POST", path, cm)
    assert status == 403
    assert f"system:serviceaccount:{namespace}:robot" in body["message"]

    rbac: Any = client.RbacAuthorizationV1Api(admin)
    rbac.create_namespaced_role_binding(
        namespace,
        {
            "metadata": {"name": "robot-edit"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "edit"},
            "subjects": [{"kind": "ServiceAccount", "name": "robot", "namespace": namespace}],
        },
    )
    wait_for("the RoleBinding to take effect", lambda: robot.request("POST", path, cm)[0] == 201)
    assert robot.request("GET", "/api/v1/namespaces/default/configmaps")[0] == 403
