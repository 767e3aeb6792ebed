"""Every value reaches the cluster exactly as git holds it: number-, boolean-, null- and
timestamp-like strings (and a config hash that overflows a float64) through compile, kustomize,
``sync`` and ``render``, on the real control plane."""

from __future__ import annotations

import json
import secrets
import subprocess
from pathlib import Path
from typing import Any

import pytest

from gitops_agent.adapters.kustomize import kubectl_path
from gitops_agent.cli import run
from gitops_agent.vocabulary import labels as L
from gitops_agent.vocabulary.yaml import dump
from tests.integration.reconcile_helpers import delete_namespaces, get
from tests.support.gitrepos import git
from tests.support.number_like import KIND_MEMBERS, overflowing_config

pytestmark = pytest.mark.integration

ENV = f"values{secrets.token_hex(3)}"
NAMESPACE = f"ml-{ENV}"
# ConfigMap data values may be anything; annotation values too. Keys are valid ConfigMap keys.
VALUES = {f"v{index}": value for index, value in enumerate(KIND_MEMBERS)}


def _not_json_number(constant: str) -> Any:
    raise AssertionError(f"render -o json printed {constant}, which is not JSON")


def _write_repo(root: Path, config: dict[str, str]) -> None:
    root.mkdir(parents=True)
    git(root, "init", "-q", "-b", "main")
    for folder in ("workflows", "environments", "extra"):
        (root / folder).mkdir()
    workflow = {
        "apiVersion": "gitops-agent.io/v1alpha1",
        "kind": "Workflow",
        "metadata": {"name": "hashed"},
        "spec": {
            "defaults": {"image": "reg.example.com/a:1.0"},
            "tasks": {"prepare": {"command": ["true"]}},
            "config": config,
        },
    }
    (root / "workflows" / "hashed.yaml").write_bytes(dump(workflow))
    environment = {
        "apiVersion": "gitops-agent.io/v1alpha1",
        "kind": "Environment",
        "metadata": {"name": ENV},
        "spec": {"namespace": NAMESPACE, "branch": f"env/{ENV}", "resources": ["extra/values.yaml"]},
    }
    (root / "environments" / f"{ENV}.yaml").write_bytes(dump(environment))
    config_map = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "values", "annotations": {f"example.com/{k}": v for k, v in VALUES.items()}},
        "data": VALUES,
    }
    (root / "extra" / "values.yaml").write_bytes(dump(config_map))
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "values")


def _annotations(obj: dict[str, Any]) -> dict[str, str]:
    found = obj["metadata"].get("annotations", {})
    return {k.removeprefix("example.com/"): v for k, v in found.items() if k.startswith("example.com/")}


def _get(kubeconfig: Path, kind: str, name: str) -> dict[str, Any]:
    return get(kubeconfig, NAMESPACE, kind, name)  # a cluster-scoped kind ignores the namespace


def _values(obj: dict[str, Any]) -> dict[str, Any]:
    """What an apply could change: labels, annotations, data and spec."""
    meta = obj["metadata"]
    return {
        "labels": meta.get("labels"),
        "annotations": meta.get("annotations"),
        "data": obj.get("data"),
        "spec": obj.get("spec"),
    }


def test_number_like_strings_and_an_overflowing_config_hash_reach_the_cluster_exactly(  # type: ignore[no-untyped-def]
    tmp_path: Path, kube_cluster, capsys
) -> None:
    config, digest = overflowing_config()
    repo = tmp_path / "repo"
    _write_repo(repo, config)
    args = ["--repo", str(repo), "--kubeconfig", str(kube_cluster.kubeconfig)]
    assert run(["compile", "--repo", str(repo), "--env", ENV, "--commit"]) == 0
    try:
        capsys.readouterr()
        assert run(["sync", ENV, *args]) == 0, capsys.readouterr().err
        live = get(kube_cluster.kubeconfig, NAMESPACE, "configmap", "values")
        assert live["data"] == VALUES
        assert _annotations(live) == VALUES
        capsys.readouterr()
        assert run(["diff", ENV, *args]) == 0  # nothing drifted
        assert "0 create, 0 update, 0 delete" in capsys.readouterr().out

        assert run(["render", ENV, "--repo", str(repo), "-o", "json"]) == 0
        rendered = json.loads(capsys.readouterr().out, parse_constant=_not_json_number)
        by_name = {(o["kind"], o["metadata"]["name"]): o for o in rendered["objects"]}
        assert by_name[("ConfigMap", "values")]["data"] == VALUES
        job_name = next(name for kind, name in by_name if kind == "Job")
        job = get(kube_cluster.kubeconfig, NAMESPACE, "job", job_name)
        assert job["spec"]["template"]["metadata"]["annotations"][L.CONFIG_HASH_ANNOTATION] == digest

        assert run(["render", ENV, "--repo", str(repo)]) == 0
        text = capsys.readouterr().out
        synced = {key: _get(kube_cluster.kubeconfig, *key) for key in by_name}
        applied = subprocess.run(
            [
                kubectl_path(),
                f"--kubeconfig={kube_cluster.kubeconfig}",
                "apply",
                "--server-side",
                "--field-manager=render-check",
                "-o",
                "json",
                "-f",
                "-",
            ],
            input=text.encode(),
            capture_output=True,
            check=False,
            timeout=120,
        )
        assert applied.returncode == 0, applied.stderr.decode()
        applied_keys = {(o["kind"], o["metadata"]["name"]) for o in json.loads(applied.stdout)["items"]}
        assert applied_keys == set(by_name)
        for key, before in synced.items():  # kubectl's apply of render's YAML changed no value sync applied
            after = _get(kube_cluster.kubeconfig, *key)
            assert _values(after) == _values(before), key
        assert run(["diff", ENV, *args]) == 0
        capsys.readouterr()
    finally:
        delete_namespaces(kube_cluster.kubeconfig, NAMESPACE)
