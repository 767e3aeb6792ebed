"""Field-level changes (deepdiff, list items by name, Secrets masked) and the risk summary."""

from __future__ import annotations

import copy
from typing import Any

from gitops_agent.reconcile.review import MAX_FIELDS, Reviewed, field_changes, risk_summary

BASE: dict[str, Any] = {
    "apiVersion": "apps/v1", "kind": "Deployment",
    "metadata": {"name": "web", "annotations": {"example.com/owner": "a"}},
    "spec": {"replicas": 2, "template": {"spec": {"containers": [
        {"name": "web", "image": "web:1", "env": [{"name": "A", "value": "1"}, {"name": "C", "value": "3"}],
         "resources": {"requests": {"cpu": "500m", "memory": "1Gi"}}}]}}},
}


def changed(**edits: Any) -> dict[str, Any]:
    new = copy.deepcopy(BASE)
    container = new["spec"]["template"]["spec"]["containers"][0]
    if "image" in edits:
        container["image"] = edits["image"]
    if "env" in edits:
        container["env"].insert(0, edits["env"])
    if "cpu" in edits:
        container["resources"]["requests"]["cpu"] = edits["cpu"]
    if "replicas" in edits:
        new["spec"]["replicas"] = edits["replicas"]
    return new


def test_paths_name_list_items_and_an_inserted_item_is_one_change() -> None:
    found = field_changes(BASE, changed(image="web:2", env={"name": "B", "value": "2"}))
    assert [(f.path, f.old, f.new, f.added) for f in found] == [
        ("spec.template.spec.containers[web].env[B]", None, {"name": "B", "value": "2"}, True),
        ("spec.template.spec.containers[web].image", "web:1", "web:2", False),
    ]
    assert found[1].to_json() == {"path": "spec.template.spec.containers[web].image", "old": "web:1", "new": "web:2"}
    assert found[0].to_json() == {"path": "spec.template.spec.containers[web].env[B]",
                                  "new": {"name": "B", "value": "2"}}


def test_keys_with_dots_and_slashes_are_quoted() -> None:
    new = copy.deepcopy(BASE)
    new["metadata"]["annotations"]["example.com/owner"] = "b"
    [change] = field_changes(BASE, new)
    assert change.path == 'metadata.annotations["example.com/owner"]'


def test_secret_values_never_appear_in_field_changes() -> None:
    old = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}, "data": {"a": "c2VjcmV0", "b": "eA=="}}
    new = copy.deepcopy(old)
    new["data"]["a"] = "b3RoZXI="
    found = field_changes(old, new)
    assert [f.to_json() for f in found] == [{"path": "data.a", "old": "*** (before)", "new": "*** (after)"}]
    assert "c2VjcmV0" not in repr(found) and "b3RoZXI=" not in repr(found)


def test_created_or_deleted_objects_have_no_field_list_and_the_list_is_bounded() -> None:
    assert field_changes(None, BASE) == () and field_changes(BASE, None) == ()
    big_old = {"data": {f"k{i}": "a" for i in range(MAX_FIELDS + 50)}}
    big_new = {"data": {f"k{i}": "b" for i in range(MAX_FIELDS + 50)}}
    assert len(field_changes(big_old, big_new)) == MAX_FIELDS


def test_risk_summary_lists_the_dangerous_part_first() -> None:
    update = Reviewed("update", "apps", "Deployment", "ml", "web",
                      field_changes(BASE, changed(replicas=5, cpu="1", image="web:2")))
    lines = risk_summary([
        update,
        Reviewed("delete", "", "ConfigMap", "ml", "old"),
        Reviewed("update", "rbac.authorization.k8s.io", "ClusterRole", "", "reader"),
        Reviewed("create", "apiextensions.k8s.io", "CustomResourceDefinition", "", "widgets.example.com"),
        Reviewed("re-run", "batch", "Job", "ml", "train-2b3c"),
        Reviewed("update", "", "ConfigMap", "ml", "harmless"),
    ], prune=False)
    assert lines == [
        "1 object(s) deleted (only with --prune): ConfigMap/ml/old",
        "CRD changes: create CustomResourceDefinition/widgets.example.com",
        "RBAC changes: update ClusterRole/reader",
        "Deployment/ml/web: replicas 2 → 5 (+150%)",
        "Deployment/ml/web: image web:1 → web:2",
        "Deployment/ml/web: requests.cpu 500m → 1 (+100%)",
        "1 task(s) will run: train-2b3c",
    ]
    assert risk_summary([Reviewed("update", "", "ConfigMap", "ml", "harmless")]) == []


def test_risk_summary_names_traffic_split_changes_of_routes_and_canary_ingresses() -> None:
    def route(main: int, canary: int) -> dict[str, object]:
        refs = [{"name": "chat-main", "port": 80, "weight": main}, {"name": "chat-lora", "port": 80, "weight": canary}]
        return {"spec": {"rules": [{"backendRefs": refs}]}}

    def canary(weight: str) -> dict[str, object]:
        prefix = "nginx.ingress.kubernetes.io/canary"
        return {"metadata": {"annotations": {prefix: "true", f"{prefix}-weight": weight}}}

    lines = risk_summary([
        Reviewed("update", "gateway.networking.k8s.io", "HTTPRoute", "ml", "chat",
                 field_changes(route(90, 10), route(50, 50))),
        Reviewed("update", "networking.k8s.io", "Ingress", "ml", "rerank-distilled",
                 field_changes(canary("20"), canary("60"))),
    ])
    assert sorted(lines) == [
        "HTTPRoute/ml/chat: weight of chat-lora 10 → 50",
        "HTTPRoute/ml/chat: weight of chat-main 90 → 50",
        "Ingress/ml/rerank-distilled: canary-weight 20 → 60",
    ]
