"""A user allowed to edit one namespace only: 403s are reported per object, exit 3, and
nothing is written anywhere."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gitops_agent.cli import run
from gitops_agent.reconcile.changeset import Action
from gitops_agent.reconcile.engine import SyncOptions, Target, sync
from tests.integration.reconcile_helpers import connect, kubectl, labels, web_stack
from tests.support.gitrepos import git, make_gitops_repo

pytestmark = pytest.mark.integration


def owned_in(kubeconfig: Path, namespace: str, env: str) -> list[str]:
    selector = f"gitops-agent.io/environment={env}"
    out = kubectl(kubeconfig, "-n", namespace, "get", "configmaps,services,deployments,cronjobs,jobs",
                  "-l", selector, "-o", "name")
    return out.split()


def test_forbidden_objects_are_reported_one_by_one_and_nothing_is_applied(kube_cluster, namespace: str) -> None:  # type: ignore[no-untyped-def]
    allowed = kube_cluster.restricted_namespace
    env = f"restricted-{namespace[-6:]}"
    desired = web_stack(allowed)
    for obj in desired:
        obj["metadata"]["labels"]["gitops-agent.io/environment"] = env
    elsewhere = {"apiVersion": "v1", "kind": "ConfigMap",
                 "metadata": {"name": "outside", "namespace": namespace, "labels": labels(env, "outside")},
                 "data": {"a": "b"}}
    cluster = connect(kube_cluster.restricted_kubeconfig)
    result = sync(cluster, [*desired, elsewhere], Target(environment=env, namespace=allowed), SyncOptions())
    errors = [c for c in result.changes if c.action is Action.ERROR]
    assert [(c.ref.kind, c.ref.namespace, c.ref.name) for c in errors] == [("ConfigMap", namespace, "outside")]
    assert "HTTP 403" in errors[0].message and f"ConfigMap/{namespace}/outside" in errors[0].message
    assert "nothing was applied: the plan has errors" in result.notes
    # nothing was written, neither in the allowed namespace nor elsewhere
    assert owned_in(kube_cluster.kubeconfig, allowed, env) == []
    assert owned_in(kube_cluster.kubeconfig, namespace, env) == []


def restricted_repo(tmp_path: Path, namespace: str) -> Path:
    repo = make_gitops_repo(tmp_path / "repo")
    dev = repo / "environments" / "dev.yaml"
    dev.write_text(dev.read_text().replace("namespace: ml-dev", f"namespace: {namespace}"))
    git(repo, "commit", "-q", "-am", "dev in the restricted namespace")
    assert run(["compile", "--repo", str(repo), "--env", "dev", "--commit"]) == 0
    return repo


def test_cli_sync_with_restricted_kubeconfig_exits_3_naming_each_object(kube_cluster, tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    allowed = kube_cluster.restricted_namespace
    repo = restricted_repo(tmp_path, allowed)
    capsys.readouterr()
    code = run(["sync", "dev", "--repo", str(repo), "--kubeconfig", str(kube_cluster.restricted_kubeconfig),
                "-o", "json"])
    out, err = capsys.readouterr()
    assert code == 3
    document = json.loads(out)
    errors = [c for c in document["changes"] if c["action"] == "error"]
    refused = {(c["kind"], c["name"]) for c in errors}
    # the Namespace (cluster-scoped) and the monitoring objects (not in the edit role) are refused
    assert ("Namespace", allowed) in refused
    assert any(kind == "PrometheusRule" for kind, _ in refused)
    assert all("HTTP 403" in c["message"] for c in errors)
    assert err.startswith("error: ")
    assert f"Namespace/{allowed}: cannot read live state: HTTP 403" in err
    assert {c["action"] for c in document["changes"]} <= {"create", "error", "waiting"}
    assert owned_in(kube_cluster.kubeconfig, allowed, "dev") == []
