"""The local drift check decides "unchanged" only when the server would agree."""

from __future__ import annotations

import copy
from typing import Any

from gitops_agent.reconcile.fieldset import check_locally, extra_items, owned_fields
from gitops_agent.reconcile.schema import NodeKind, OpenAPIDocument

Q = {"$ref": "#/components/schemas/io.k8s.apimachinery.pkg.api.resource.Quantity"}
DOC = OpenAPIDocument({"components": {"schemas": {
    "io.k8s.apimachinery.pkg.api.resource.Quantity": {"type": "string"},
    "meta": {"type": "object", "properties": {
        "name": {"type": "string"}, "namespace": {"type": "string"},
        "labels": {"type": "object", "additionalProperties": {"type": "string"}},
        "annotations": {"type": "object", "additionalProperties": {"type": "string"}},
        "finalizers": {"type": "array", "items": {"type": "string"}, "x-kubernetes-list-type": "set"},
    }},
    "port": {"type": "object", "properties": {
        "containerPort": {"type": "integer"}, "name": {"type": "string"},
        "protocol": {"type": "string", "default": "TCP"}}},
    "container": {"type": "object", "properties": {
        "name": {"type": "string"}, "image": {"type": "string"},
        "args": {"type": "array", "items": {"type": "string"}},
        "env": {"type": "array", "items": {"type": "object", "properties": {
            "name": {"type": "string"}, "value": {"type": "string"}}},
            "x-kubernetes-patch-strategy": "merge", "x-kubernetes-patch-merge-key": "name"},
        "ports": {"type": "array", "items": {"allOf": [{"$ref": "#/components/schemas/port"}]},
                  "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["containerPort", "protocol"]},
        "resources": {"type": "object", "properties": {
            "requests": {"type": "object", "additionalProperties": Q},
            "limits": {"type": "object", "additionalProperties": Q}}},
    }},
    "app": {"type": "object",
            "x-kubernetes-group-version-kind": [{"group": "example.com", "version": "v1", "kind": "App"}],
            "properties": {
                "apiVersion": {"type": "string"}, "kind": {"type": "string"},
                "metadata": {"allOf": [{"$ref": "#/components/schemas/meta"}]},
                "spec": {"type": "object", "properties": {
                    "replicas": {"type": "integer"},
                    "selector": {"type": "object", "x-kubernetes-map-type": "atomic",
                                 "properties": {"app": {"type": "string"}}},
                    "containers": {"type": "array", "items": {"$ref": "#/components/schemas/container"},
                                   "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"]},
                    "extra": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
                }},
            }},
}}})
ROOT = DOC.root("example.com", "v1", "App")

DESIRED: dict[str, Any] = {
    "apiVersion": "example.com/v1", "kind": "App",
    "metadata": {"name": "a", "namespace": "n", "labels": {"app": "a"}},
    "spec": {"replicas": 2, "selector": {"app": "a"}, "containers": [{
        "name": "main", "image": "img:1", "args": ["--x"],
        "env": [{"name": "A", "value": "1"}],
        "ports": [{"containerPort": 80, "name": "http"}],
        "resources": {"requests": {"cpu": "1000m", "memory": "1024Mi"}}}]},
}
FIELDS = {"f:metadata": {"f:labels": {"f:app": {}}}, "f:spec": {
    "f:replicas": {}, "f:selector": {}, "f:containers": {'k:{"name":"main"}': {
        ".": {}, "f:name": {}, "f:image": {}, "f:args": {},
        "f:env": {'k:{"name":"A"}': {".": {}, "f:name": {}, "f:value": {}}},
        "f:ports": {'k:{"containerPort":80,"protocol":"TCP"}': {".": {}, "f:containerPort": {}, "f:name": {}}},
        "f:resources": {"f:requests": {"f:cpu": {}, "f:memory": {}}}}}}}


def live_copy(fields: dict[str, Any] | None = None, **managers: dict[str, Any]) -> dict[str, Any]:
    """What the server returns: canonical quantities, defaults, managedFields."""
    live = copy.deepcopy(DESIRED)
    container = live["spec"]["containers"][0]
    container["resources"]["requests"] = {"cpu": "1", "memory": "1Gi"}
    container["ports"][0]["protocol"] = "TCP"
    container["terminationMessagePath"] = "/dev/termination-log"
    live["metadata"]["annotations"] = {"controller.example.com/revision": "3"}
    entries = [{"manager": "gitops-agent", "operation": "Apply", "fieldsV1": fields or FIELDS}]
    entries += [{"manager": name, "operation": "Update", "fieldsV1": value} for name, value in managers.items()]
    live["metadata"]["managedFields"] = entries
    return live


def test_schema_classifies_positions_like_server_side_apply() -> None:
    spec = ROOT.field("spec")
    assert spec.field("selector").kind is NodeKind.ATOMIC
    containers = spec.field("containers")
    assert containers.kind is NodeKind.ASSOCIATIVE and containers.keys == ("name",)
    container = containers.element()
    assert container.field("env").kind is NodeKind.ASSOCIATIVE  # from the patch merge key
    assert container.field("args").kind is NodeKind.ATOMIC
    assert container.field("ports").element().default("protocol") == "TCP"
    assert container.field("resources").field("requests").element().kind is NodeKind.QUANTITY
    assert ROOT.field("metadata").field("finalizers").kind is NodeKind.SET
    assert spec.field("extra").kind is NodeKind.UNKNOWN


def test_unchanged_with_defaults_canonical_quantities_and_controller_annotations() -> None:
    result = check_locally(DESIRED, live_copy(), ROOT)
    assert result.provable and result.unchanged


def test_changed_value_of_a_field_git_sets_is_not_unchanged() -> None:
    live = live_copy()
    live["spec"]["containers"][0]["image"] = "img:2"
    result = check_locally(DESIRED, live, ROOT)
    assert result.provable and not result.unchanged


def test_quantity_with_a_different_value_is_a_change() -> None:
    live = live_copy()
    live["spec"]["containers"][0]["resources"]["requests"]["memory"] = "1Mi"
    assert not check_locally(DESIRED, live, ROOT).unchanged


def test_field_owned_but_no_longer_in_git_is_not_provably_unchanged() -> None:
    desired = copy.deepcopy(DESIRED)
    del desired["spec"]["replicas"]
    result = check_locally(desired, live_copy(), ROOT)
    assert not result.unchanged and not result.provable


def test_field_taken_by_another_manager_is_left_to_the_server() -> None:
    fields = copy.deepcopy(FIELDS)
    del fields["f:spec"]["f:containers"]['k:{"name":"main"}']["f:image"]
    result = check_locally(DESIRED, live_copy(fields), ROOT)
    assert not result.unchanged and not result.provable


def test_extra_env_var_and_container_from_another_manager_are_drift() -> None:
    live = live_copy()
    live["spec"]["containers"][0]["env"].append({"name": "DEBUG", "value": "1"})
    live["spec"]["containers"].append({"name": "sidecar", "image": "proxy"})
    result = check_locally(DESIRED, live, ROOT)
    assert not result.unchanged
    assert sorted((e.pointer, e.index) for e in result.extras) == [
        ("/spec/containers", 1), ("/spec/containers/0/env", 1)]
    assert [e.path for e in extra_items(DESIRED, live, ROOT)] == ["/spec/containers/0/env/1", "/spec/containers/1"]


def test_reordered_list_items_are_not_unchanged() -> None:
    desired = copy.deepcopy(DESIRED)
    desired["spec"]["containers"][0]["env"] = [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}]
    fields = copy.deepcopy(FIELDS)
    fields["f:spec"]["f:containers"]['k:{"name":"main"}']["f:env"]['k:{"name":"B"}'] = {
        ".": {}, "f:name": {}, "f:value": {}}
    live = live_copy(fields)
    live["spec"]["containers"][0]["env"] = [{"name": "B", "value": "2"}, {"name": "A", "value": "1"}]
    result = check_locally(desired, live, ROOT)
    assert result.provable and not result.unchanged


def test_unknown_schema_or_nulls_are_never_decided_locally() -> None:
    with_unknown = copy.deepcopy(DESIRED)
    with_unknown["spec"]["extra"] = {"a": 1}
    assert not check_locally(with_unknown, live_copy(), ROOT).provable
    with_null = copy.deepcopy(DESIRED)
    with_null["spec"]["replicas"] = None
    assert not check_locally(with_null, live_copy(), ROOT).provable
    no_schema = check_locally(DESIRED, live_copy(), DOC.root("example.com", "v1", "Other"))
    assert not no_schema.provable


def test_object_gitops_agent_never_applied_is_left_to_the_server() -> None:
    live = live_copy()
    live["metadata"]["managedFields"] = [{"manager": "kubectl-create", "operation": "Update", "fieldsV1": FIELDS}]
    assert owned_fields(live) is None
    assert not check_locally(DESIRED, live, ROOT).provable


def test_configmap_keys_added_by_others_are_extras() -> None:
    desired = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"a": "1"}}
    live = {**desired, "data": {"a": "1", "b": "2"}}
    extras = extra_items(desired, live, DOC.root("", "v1", "ConfigMap"))
    # no schema for ConfigMap in this document: the whole-map rule still finds the extra key
    assert [(e.path, e.item) for e in extras] == [("/data/b", "2")]
    assert check_locally(desired, live, DOC.root("", "v1", "ConfigMap")).extras == extras
