"""Request bodies are strict JSON: a number JSON cannot carry is refused, never sent."""

from __future__ import annotations

import json
import math
import socket
from pathlib import Path
from typing import Any

import pytest

from gitops_agent.adapters.kube import KubeCluster
from gitops_agent.errors import NotSentError, ObjectError
from gitops_agent.reconcile.cluster import ResourceInfo
from gitops_agent.vocabulary.objects import ref_of

DEPLOYMENTS = ResourceInfo("apps", "v1", "Deployment", "deployments", True)


def unreachable_cluster(tmp_path: Path) -> KubeCluster:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = {
        "apiVersion": "v1", "kind": "Config", "current-context": "c",
        "clusters": [{"name": "c",
                      "cluster": {"server": f"https://127.0.0.1:{port}", "insecure-skip-tls-verify": True}}],
        "users": [{"name": "u", "user": {"token": "t"}}],
        "contexts": [{"name": "c", "context": {"cluster": "c", "user": "u"}}],
    }
    path = tmp_path / "kubeconfig"
    path.write_text(json.dumps(config))
    return KubeCluster(path)


def deployment(hash_value: Any) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "api", "namespace": "ml"},
        "spec": {"template": {"metadata": {"annotations": {"gitops-agent.io/config-hash": hash_value}}}},
    }


@pytest.mark.parametrize("number", [math.inf, -math.inf, math.nan])
@pytest.mark.parametrize("method", ["apply", "apply-dry-run", "create", "replace", "json_patch"])
def test_a_non_finite_number_is_refused_before_any_request(tmp_path: Path, method: str, number: float) -> None:
    """``52e58631`` read as a YAML float is infinity; sent as ``Infinity`` the API server
    stored the string "Infinity" in place of the hash."""
    cluster = unreachable_cluster(tmp_path)
    obj = deployment(number)
    calls = {
        "apply": lambda: cluster.apply(DEPLOYMENTS, obj, dry_run=False, force=True),
        "apply-dry-run": lambda: cluster.apply(DEPLOYMENTS, obj, dry_run=True, force=True),
        "create": lambda: cluster.create(DEPLOYMENTS, obj),
        "replace": lambda: cluster.replace(DEPLOYMENTS, obj),
        "json_patch": lambda: cluster.json_patch(DEPLOYMENTS, ref_of(obj), [
            {"op": "replace", "path": "/spec/template/metadata/annotations", "value": {"h": number}}]),
    }
    with pytest.raises(NotSentError) as raised:
        calls[method]()
    assert not isinstance(raised.value, ObjectError)  # nothing was asked: the run stops
    assert "a number JSON cannot carry" in str(raised.value)
    assert ("gitops-agent.io/config-hash" in str(raised.value)) or method == "json_patch"
    assert sum(cluster.requests.values()) == 0  # nothing was sent
    cluster.close()


def test_finite_values_still_go_out(tmp_path: Path) -> None:
    """A normal object reaches the transport (here: an unreachable server, a different error)."""
    cluster = unreachable_cluster(tmp_path)
    with pytest.raises(Exception) as raised:
        cluster.apply(DEPLOYMENTS, deployment("52e58631"), dry_run=True, force=True)
    assert "JSON cannot carry" not in str(raised.value)
    cluster.close()
