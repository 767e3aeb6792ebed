"""Pairing rendered objects of two revisions: added, changed, removed; secrets masked."""

from __future__ import annotations

from typing import Any

from gitops_agent.plan.build import ChangeKind, Plan, diff_environment
from gitops_agent.vocabulary.masking import MASK, MASK_AFTER, MASK_BEFORE, mask_secrets
from gitops_agent.vocabulary.objects import ObjectKey


def _deploy(name: str, replicas: int = 1, image: str = "img:1") -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": "ml-dev"},
        "spec": {"replicas": replicas, "template": {"spec": {"containers": [{"image": image}]}}},
    }


def _secret(**data: str) -> dict[str, Any]:
    meta = {"name": "creds", "namespace": "ml-dev"}
    return {"apiVersion": "v1", "kind": "Secret", "metadata": meta, "data": dict(data)}


def test_added_changed_removed_and_unchanged_are_counted() -> None:
    base = [_deploy("a"), _deploy("b"), _deploy("c")]
    head = [_deploy("a"), _deploy("b", replicas=3), _deploy("d")]
    plan = diff_environment("dev", base, head)
    assert plan.summary == {"added": 1, "changed": 1, "removed": 1, "re-runs": 0, "unchanged": 1}
    assert [(c.change, c.key.name) for c in plan.changes] == [
        (ChangeKind.REMOVED, "c"),
        (ChangeKind.CHANGED, "b"),
        (ChangeKind.ADDED, "d"),
    ]
    changed = plan.changes[1]
    assert "-  replicas: 1\n" in changed.diff
    assert "+  replicas: 3\n" in changed.diff
    assert changed.diff.startswith("--- base/Deployment/ml-dev/b\n+++ head/Deployment/ml-dev/b\n")
    assert plan.changes[0].diff.startswith("--- base/Deployment/ml-dev/c\n+++ /dev/null\n")
    assert all(line.startswith(("+", "@")) for line in plan.changes[2].diff.splitlines()[2:])


def test_identity_ignores_api_version_but_not_group() -> None:
    old = {
        "apiVersion": "autoscaling/v1",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": "h", "namespace": "n"},
    }
    new = {**old, "apiVersion": "autoscaling/v2"}
    plan = diff_environment("dev", [old], [new])
    assert [c.change for c in plan.changes] == [ChangeKind.CHANGED]
    assert ObjectKey.of(new) == ObjectKey("autoscaling", "HorizontalPodAutoscaler", "n", "h")
    assert str(ObjectKey.of(new)) == "HorizontalPodAutoscaler/n/h"
    assert str(ObjectKey("", "Namespace", "", "ml-dev")) == "Namespace/ml-dev"


def test_secret_values_never_appear_and_changes_are_marked() -> None:
    base = [_secret(token="c2VjcmV0LW9sZA==", user="YWxpY2U=")]
    head = [_secret(token="c2VjcmV0LW5ldw==", user="YWxpY2U=")]
    plan = diff_environment("dev", base, head)
    (change,) = plan.changes
    assert "c2VjcmV0" not in change.diff and "YWxpY2U" not in change.diff
    assert f'+  token: "{MASK_AFTER}"\n' in change.diff
    assert f'-  token: "{MASK_BEFORE}"\n' in change.diff
    assert "user" not in "".join(line for line in change.diff.splitlines() if line[:1] in "+-")
    added = diff_environment("dev", [], [{**_secret(k="dG9w"), "stringData": {"p": "plain"}}])
    assert "dG9w" not in added.changes[0].diff and "plain" not in added.changes[0].diff
    assert MASK in added.changes[0].diff


def test_a_secret_that_only_changed_its_value_still_differs() -> None:
    plan = diff_environment("dev", [_secret(a="MQ==")], [_secret(a="Mg==")])
    assert plan.summary["changed"] == 1
    masked_base, masked_head = mask_secrets(_secret(a="MQ=="), _secret(a="Mg=="))
    assert masked_base is not None and masked_head is not None
    assert (masked_base["data"], masked_head["data"]) == ({"a": MASK_BEFORE}, {"a": MASK_AFTER})
    assert mask_secrets(_deploy("x"), _deploy("y")) == (_deploy("x"), _deploy("y"))


def test_plan_changed_and_json() -> None:
    same = diff_environment("dev", [_deploy("a")], [_deploy("a")])
    assert not Plan("b" * 40, "h" * 40, (same,)).changed
    differ = diff_environment("prod", [], [_deploy("a")], note="new environment")
    plan = Plan("b" * 40, "h" * 40, (same, differ))
    assert plan.changed
    document = plan.to_json()
    assert document["changed"] is True
    assert document["environments"][1]["note"] == "new environment"
    assert document["environments"][1]["changes"][0] | {"diff": ""} == {
        "action": "added",
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "namespace": "ml-dev",
        "name": "a",
        "diff": "",
    }


def test_a_tasks_new_job_is_one_rerun_entry_with_its_field_change() -> None:
    def task_job(name: str, image: str) -> dict[str, Any]:
        return {"apiVersion": "batch/v1", "kind": "Job",
                "metadata": {"name": name, "namespace": "ml",
                             "labels": {"gitops-agent.io/task": "train", "app.kubernetes.io/part-of": "wf"}},
                "spec": {"template": {"spec": {"containers": [{"name": "train", "image": image}]}}}}

    plan = diff_environment("dev", [task_job("wf-train-aaaa", "t:0.9.1")], [task_job("wf-train-bbbb", "t:0.9.2")])
    [entry] = plan.changes
    assert entry.change.value == "re-runs" and entry.replaces == "wf-train-aaaa" and entry.key.name == "wf-train-bbbb"
    assert [(f.path, f.old, f.new) for f in entry.fields] == [
        ("spec.template.spec.containers[train].image", "t:0.9.1", "t:0.9.2")]
    assert plan.summary["re-runs"] == 1 and plan.summary["added"] == plan.summary["removed"] == 0
    assert plan.risks() == ["Job/ml/wf-train-bbbb: image t:0.9.1 → t:0.9.2", "1 task(s) will run: wf-train-bbbb"]
    assert plan.to_json()["changes"][0]["replaces"] == "wf-train-aaaa"
