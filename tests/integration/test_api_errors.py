"""The kube adapter raises one typed error per kind of refusal, from the real API server."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from gitops_agent.adapters.kube import KubeCluster
from gitops_agent.errors import (
    EXIT_EXTERNAL,
    ConflictError,
    ForbiddenError,
    InvalidError,
    NotFoundError,
    ObjectError,
    UnreachableError,
)
from gitops_agent.vocabulary.objects import ObjectRef

pytestmark = pytest.mark.integration


def config_map(namespace: str, name: str) -> dict[str, object]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": namespace}, "data": {}}


def test_conflict_invalid_and_not_found_are_typed(kube_cluster, namespace: str) -> None:  # type: ignore[no-untyped-def]
    cluster = KubeCluster(kube_cluster.kubeconfig)
    info = cluster.resource("", "v1", "ConfigMap")
    assert info is not None
    cluster.create(info, config_map(namespace, "once"))
    with pytest.raises(ConflictError) as conflict:
        cluster.create(info, config_map(namespace, "once"))
    assert conflict.value.status == 409 and conflict.value.exit_code == EXIT_EXTERNAL
    assert f"ConfigMap/{namespace}/once" in str(conflict.value)
    with pytest.raises(InvalidError) as invalid:
        cluster.create(info, config_map(namespace, "Not_A_Name"))
    assert invalid.value.status == 422
    gone = ObjectRef("", "v1", "ConfigMap", namespace, "never-created")
    assert cluster.get(info, gone) is None  # a missing object is an answer, not an error
    cluster.delete(info, gone)  # deleting what is gone already is done
    with pytest.raises(NotFoundError):
        cluster.json_patch(info, gone, [{"op": "add", "path": "/data/a", "value": "b"}])
    cluster.close()


def test_forbidden_is_typed(kube_cluster, namespace: str) -> None:  # type: ignore[no-untyped-def]
    cluster = KubeCluster(kube_cluster.restricted_kubeconfig)
    info = cluster.resource("", "v1", "ConfigMap")
    assert info is not None
    with pytest.raises(ForbiddenError) as denied:
        cluster.create(info, config_map(namespace, "outside"))
    assert denied.value.status == 403
    cluster.close()


def test_no_answer_is_unreachable_not_an_object_error(kube_cluster, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    document = yaml.safe_load(Path(kube_cluster.kubeconfig).read_text())
    for entry in document["clusters"]:
        entry["cluster"]["server"] = "https://127.0.0.1:1"
    closed = tmp_path / "closed.kubeconfig"
    closed.write_text(yaml.safe_dump(document))
    cluster = KubeCluster(closed)
    with pytest.raises(UnreachableError) as unreachable:
        cluster.resource("", "v1", "ConfigMap")
    assert not isinstance(unreachable.value, ObjectError) and unreachable.value.exit_code == EXIT_EXTERNAL
    assert "cluster unreachable at https://127.0.0.1:1" in str(unreachable.value)
    cluster.close()
