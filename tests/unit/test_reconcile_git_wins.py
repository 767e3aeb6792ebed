"""Pure pieces of "git wins": ownership by tracking id, apply policies, rebased and released
fields, controller-owned fields, and naming who drifted an object."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from gitops_agent.errors import InvalidInputError
from gitops_agent.reconcile.desired import prepare_desired
from gitops_agent.reconcile.fieldset import drift_authors, owned_by, release_fields
from gitops_agent.reconcile.ignore import (
    CONTROLLER_FIELDS,
    IgnoreRule,
    apply_policy,
    exemptions_for,
    rebase_pointers,
)
from gitops_agent.reconcile.objects import is_owned, is_untracked_legacy, tracking_id
from gitops_agent.reconcile.options import Target
from gitops_agent.vocabulary.labels import ApplyPolicy
from gitops_agent.vocabulary.objects import ref_of
from tests.unit.specs.helpers import VALID_WORKFLOW, diagnose
from tests.unit.test_reconcile_fieldset import DESIRED, ROOT, live_copy

ENV = "dev"
LABELS = {"app.kubernetes.io/managed-by": "gitops-agent", "gitops-agent.io/environment": ENV}


def obj(kind: str = "ConfigMap", name: str = "a", api: str = "v1", **meta: Any) -> dict[str, Any]:
    return {"apiVersion": api, "kind": kind, "metadata": {"name": name, "namespace": "ns", **meta}}


def stamped(kind: str = "ConfigMap", name: str = "a", api: str = "v1", **meta: Any) -> dict[str, Any]:
    [prepared] = prepare_desired([obj(kind, name, api, **meta)], Target(environment=ENV, namespace="ns"))
    return prepared


def test_prepared_objects_carry_their_own_identity_as_tracking_id() -> None:
    job = stamped("Job", "train-3f2a", "batch/v1")
    assert job["metadata"]["annotations"]["gitops-agent.io/tracking-id"] == "dev:batch/Job:ns/train-3f2a"
    assert is_owned(job, ENV)
    assert not is_owned(job, "prod")


@pytest.mark.parametrize(
    "copy_of",
    [
        lambda o: {**o, "metadata": {**o["metadata"], "name": "manual-1"}},  # renamed copy
        lambda o: {**o, "kind": "CronJob"},  # another kind, same name
        lambda o: {**o, "metadata": {**o["metadata"], "namespace": "elsewhere"}},  # another namespace
        lambda o: {**o, "metadata": {**o["metadata"], "ownerReferences": [
            {"apiVersion": "batch/v1", "kind": "CronJob", "name": "x", "uid": "1", "controller": True}]}},
    ],
    ids=["renamed", "other-kind", "other-namespace", "controller-owned"],
)
def test_a_copy_of_an_owned_object_is_not_owned(copy_of: Any) -> None:
    original = stamped("Job", "train", "batch/v1")
    assert not is_owned(copy_of(copy.deepcopy(original)), ENV)


def test_labelled_objects_without_a_tracking_id_are_legacy_not_owned() -> None:
    legacy = obj(labels=dict(LABELS))
    assert not is_owned(legacy, ENV)
    assert is_untracked_legacy(legacy, ENV)
    controlled = obj(labels=dict(LABELS), ownerReferences=[{"kind": "CronJob", "controller": True}])
    assert not is_untracked_legacy(controlled, ENV)


@pytest.mark.parametrize(("value", "policy"), [
    (None, ApplyPolicy.OVERRIDE), ("Merge", ApplyPolicy.MERGE), ("ifnotpresent", ApplyPolicy.IF_NOT_PRESENT),
    ("Ignore", ApplyPolicy.IGNORE), ("Override", ApplyPolicy.OVERRIDE),
])
def test_apply_policy_values(value: str | None, policy: ApplyPolicy) -> None:
    annotations = {} if value is None else {"gitops-agent.io/ssa": value}
    assert apply_policy(obj(annotations=annotations)) is policy


def test_an_unknown_apply_policy_is_refused_before_anything_is_sent() -> None:
    with pytest.raises(InvalidInputError, match=r"gitops-agent\.io/ssa: 'Replace' is not one of"):
        prepare_desired([obj(annotations={"gitops-agent.io/ssa": "Replace"})], Target(environment=ENV, namespace="ns"))


def test_rebase_takes_live_values_drops_what_live_lacks_and_never_adds() -> None:
    desired = {"spec": {"replicas": 2, "template": {"spec": {"containers": [
        {"name": "a", "image": "a:1"}, {"name": "b", "image": "b:1"}]}}}, "data": {"x": "1"}}
    live = {"spec": {"replicas": 5, "template": {"spec": {"containers": [
        {"name": "a", "image": "a:9"}, {"name": "b"}]}}}}
    rebase_pointers(desired, live, ["/spec/replicas", "/spec/template/spec/containers/*/image", "/data/x", "/nope/x"])
    assert desired == {"spec": {"replicas": 5, "template": {"spec": {"containers": [
        {"name": "a", "image": "a:9"}, {"name": "b"}]}}}, "data": {}}


@pytest.mark.parametrize("index", ["²", "١", "0"])
def test_a_list_index_is_ascii_digits(index: str) -> None:
    """'²'.isdigit() is true and int('²') raised mid-sync; a non-ASCII index matches nothing."""
    desired = {"spec": {"ports": [{"port": 80, "nodePort": 1}]}}
    rebase_pointers(desired, {"spec": {"ports": [{"port": 80, "nodePort": 30080}]}}, [f"/spec/ports/{index}/nodePort"])
    assert desired["spec"]["ports"][0]["nodePort"] == (30080 if index == "0" else 1)


def test_pointer_tokens_are_unescaped() -> None:
    desired = {"metadata": {"annotations": {"example.com/hash": "1", "a~b": "2"}}}
    live = {"metadata": {"annotations": {"example.com/hash": "9", "a~b": "8"}}}
    rebase_pointers(desired, live, ["/metadata/annotations/example.com~1hash", "/metadata/annotations/a~0b"])
    assert desired == live


def test_release_drops_fields_other_managers_own_but_keeps_list_item_keys() -> None:
    live = live_copy(**{"kubectl-set": {"f:spec": {"f:containers": {'k:{"name":"main"}': {"f:image": {}}}}},
                        "tuner": {"f:spec": {"f:replicas": {}}}})
    owned = owned_by(live, ("kubectl-set", "tuner"))
    released = release_fields(copy.deepcopy(DESIRED), ROOT, owned)
    container = released["spec"]["containers"][0]
    assert "image" not in container and container["name"] == "main" and container["args"] == ["--x"]
    assert "replicas" not in released["spec"]
    # every other manager (Merge): the same, and gitops-agent's own fields stay
    assert owned_by(live, (), all_others=True) == owned


def test_drift_authors_names_the_manager_of_a_field_git_sets() -> None:
    live = live_copy(**{"kubectl-set": {"f:spec": {"f:containers": {'k:{"name":"main"}': {"f:image": {}}}}}})
    live["metadata"]["managedFields"][1]["time"] = "2026-11-30T10:00:00Z"
    live["spec"]["containers"][0]["image"] = "img:6"
    [author] = drift_authors(DESIRED, live, ROOT)
    assert (author.manager, author.operation, author.time) == ("kubectl-set", "Update", "2026-11-30T10:00:00Z")


def test_drift_authors_names_who_added_an_item_to_a_list_git_sets() -> None:
    added = {"f:spec": {"f:containers": {'k:{"name":"main"}': {"f:env": {'k:{"name":"DEBUG"}': {
        ".": {}, "f:name": {}, "f:value": {}}}}}}}
    live = live_copy(**{"kubectl-set": added, "labeller": {"f:metadata": {"f:labels": {"f:other": {}}}}})
    live["spec"]["containers"][0]["env"].append({"name": "DEBUG", "value": "1"})
    assert [a.manager for a in drift_authors(DESIRED, live, ROOT)] == ["kubectl-set"]


def test_drift_authors_ignores_status_writers_and_falls_back_to_later_writers() -> None:
    live = live_copy(controller={"f:metadata": {"f:annotations": {"f:x": {}}}})
    live["metadata"]["managedFields"][0]["time"] = "2026-11-30T09:00:00Z"
    live["metadata"]["managedFields"][1]["time"] = "2026-11-30T10:00:00Z"
    live["metadata"]["managedFields"].append(
        {"manager": "kubelet", "operation": "Update", "subresource": "status", "time": "2026-11-30T11:00:00Z",
         "fieldsV1": {"f:status": {}}})
    assert [a.manager for a in drift_authors(DESIRED, live, ROOT)] == ["controller"]


def test_controller_field_rules_match_only_their_shape() -> None:
    aggregated = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
                  "metadata": {"name": "x"}, "aggregationRule": {"clusterRoleSelectors": []}, "rules": []}
    assert exemptions_for({**aggregated, "aggregationRule": {"clusterRoleSelectors": [{}]}}, ()).pointers == (
        "/rules",)
    assert exemptions_for({**aggregated, "aggregationRule": None}, ()).pointers == ()
    token = {"apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/service-account-token",
             "metadata": {"name": "t"}}
    assert exemptions_for(token, ()).pointers == ("/data",)
    assert exemptions_for({**token, "type": "Opaque"}, ()).pointers == ()
    webhook = {"apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingWebhookConfiguration",
               "metadata": {"name": "w", "annotations": {"cert-manager.io/inject-ca-from": "ns/cert"}}}
    assert exemptions_for(webhook, ()).pointers == ("/webhooks/*/clientConfig/caBundle",)
    queued = {"apiVersion": "batch/v1", "kind": "Job",
              "metadata": {"name": "j", "labels": {"kueue.x-k8s.io/queue-name": "gpu"}}}
    assert exemptions_for(queued, ()).pointers == ("/spec/suspend",)
    assert all(rule.reason for rule in CONTROLLER_FIELDS)


def test_environment_rules_match_by_group_kind_name_namespace() -> None:
    rule = IgnoreRule(group="apps", kind="Deployment", name="web", json_pointers=("/spec/replicas",))
    deployment = obj("Deployment", "web", "apps/v1")
    assert exemptions_for(deployment, (rule,)).pointers == ("/spec/replicas",)
    assert exemptions_for(obj("Deployment", "api", "apps/v1"), (rule,)).pointers == ()
    assert exemptions_for(obj("StatefulSet", "web", "apps/v1"), (rule,)).pointers == ()
    anywhere = IgnoreRule(kind="Deployment", managers=("rollouts-controller",), namespace="ns")
    assert exemptions_for(deployment, (anywhere,)).managers == ("rollouts-controller",)
    assert exemptions_for(obj("Deployment", "web", "example.com/v1"), (anywhere,)).managers == (
        "rollouts-controller",)
    assert ref_of(deployment).key == ("apps", "Deployment", "ns", "web")
    assert tracking_id("dev", ref_of(deployment)) == "dev:apps/Deployment:ns/web"


def test_ignore_differences_in_an_environment_are_validated_with_positions(tmp_path: Path) -> None:
    text = """\
        apiVersion: gitops-agent.io/v1alpha1
        kind: Environment
        metadata: {name: dev}
        spec:
          namespace: ml-dev
          branch: env/dev
          sync:
            ignoreDifferences:
              - {group: apps, kind: Deployment, jsonPointers: [/spec/replicas]}
              - {kind: ConfigMap, managedFieldsManagers: [config-tuner]}
              - {kind: Deployment, jsonPointers: [spec/replicas]}
              - {kind: Service}
        """
    found = diagnose(tmp_path, {"workflows/wf.yaml": VALID_WORKFLOW, "environments/dev.yaml": text})
    fields = [(d.line, d.field) for d in found]
    assert (11, "spec.sync.ignoreDifferences[2].jsonPointers[0]") in fields
    assert (12, "spec.sync.ignoreDifferences[3]") in fields
    assert "needs jsonPointers or managedFieldsManagers" in found[-1].message
    assert len(found) == 2, found


def test_an_unknown_apply_policy_in_resources_is_a_located_error_at_validate(tmp_path: Path) -> None:
    environment = """\
        apiVersion: gitops-agent.io/v1alpha1
        kind: Environment
        metadata: {name: dev}
        spec:
          namespace: ml-dev
          branch: env/dev
          resources: [manifests/sa.yaml]
        """
    manifest = """\
        apiVersion: v1
        kind: ServiceAccount
        metadata:
          name: imgrec
          annotations: {gitops-agent.io/ssa: Bogus}
        """
    found = diagnose(tmp_path, {"workflows/wf.yaml": VALID_WORKFLOW, "environments/dev.yaml": environment,
                                "manifests/sa.yaml": manifest})
    assert [(d.file, d.line, d.field) for d in found] == [
        ("manifests/sa.yaml", 5, "metadata.annotations.gitops-agent.io/ssa")]
    assert "'Bogus' is not one of Override, Merge, IfNotPresent, Ignore" in found[0].message
