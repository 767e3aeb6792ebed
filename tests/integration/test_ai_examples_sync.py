"""The GPU examples (``examples/workflows/``) as a team would deploy them: the gpu-dev
environment, pointed at the test cluster's GPU product and at a Kueue queue of its own,
synced to the real control plane with Kueue's and the Gateway API's published CRDs
installed. The API server accepts every object (the HTTPRoute against its CRD's schema and
rules); the indexed preprocessing runs on the simulated nodes into the dataset claim; the
training Job is created suspended in its queue; ``diff`` stays clean after sync, after
Kueue-style unsuspension by another field manager and after scaling of the served model."""

from __future__ import annotations

import json
import secrets
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gitops_agent.cli import run
from tests.integration.reconcile_helpers import delete_namespaces, get, kubectl
from tests.integration.test_ai_workloads_sync import (
    _cli,
    _commit,
    _job,
    _kubectl_stdin,
    _kueue_queues,
    _wait,
)
from tests.support.cluster import install_crds, kube_api
from tests.support.gitrepos import git
from tests.support.published_crds import GATEWAY_API, KUEUE, crd_dir

pytestmark = pytest.mark.integration

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
TEST_GPU = "NVIDIA-A100-SXM4-80GB"  # the product label of the test cluster's GPU node


@pytest.fixture
def crds(kube_cluster: Any) -> Iterator[None]:
    with kube_api(kube_cluster.kubeconfig) as api:
        install_crds(api, crd_dir(KUEUE))
        install_crds(api, crd_dir(GATEWAY_API))
    yield


def _environment(name: str, namespace: str, queue: str) -> str:
    """gpu-dev as shipped, renamed, with the test cluster's GPU and a queue of this test."""
    text = (EXAMPLES / "environments" / "gpu-dev.yaml").read_text()
    for old, new in (
        ("name: gpu-dev", f"name: {name}"),
        ("namespace: llm-dev", f"namespace: {namespace}"),
        ("branch: env/gpu-dev", f"branch: env/{name}"),
        ("NVIDIA-L4", TEST_GPU),
        ("queue: dev", f"queue: {queue}"),
    ):
        assert old in text, old
        text = text.replace(old, new)
    return text


def _volume(kubeconfig: Path, name: str, size: str, mode: str) -> None:
    """A PersistentVolume of the examples' storage class for a claim to bind to."""
    _kubectl_stdin(
        kubeconfig,
        json.dumps(
            {
                "apiVersion": "v1",
                "kind": "PersistentVolume",
                "metadata": {"name": name},
                "spec": {
                    "capacity": {"storage": size},
                    "accessModes": [mode],
                    "storageClassName": "shared-rwx",
                    "persistentVolumeReclaimPolicy": "Retain",
                    "hostPath": {"path": f"/tmp/{name}"},
                },
            }
        ),
    )


def _assert_no_drift(capsys: Any, env: str, cluster: list[str]) -> None:
    """``diff`` finds nothing to change but the evaluation Job, which waits for training to
    finish (a task not yet run, not drift)."""
    code, document = _cli(capsys, "diff", env, *cluster)
    assert code == 1  # the waiting task
    changed = [(c["kind"], c["name"], c["action"]) for c in document["changes"] if c["action"] != "unchanged"]
    assert [(kind, name.rsplit("-", 1)[0], action) for kind, name, action in changed] == [
        ("Job", "llm-training-evaluate", "create")
    ], changed


def test_the_gpu_examples_sync_without_drift(tmp_path: Path, kube_cluster: Any, crds: None, capsys: Any) -> None:
    kubeconfig = kube_cluster.kubeconfig
    suffix = secrets.token_hex(3)
    env, namespace, queue = f"gpu{suffix}", f"llm-{suffix}", f"dev-{suffix}"
    repo = tmp_path / "repo"
    shutil.copytree(EXAMPLES / "workflows", repo / "workflows")
    (repo / "environments").mkdir()
    (repo / "environments" / f"{env}.yaml").write_text(_environment(env, namespace, queue))
    git(repo, "init", "-q", "-b", "main")
    _commit(repo, "GPU examples")
    cluster = ["--repo", str(repo), "--kubeconfig", str(kubeconfig)]
    volumes = (f"data-{suffix}", "50Gi", "ReadWriteMany"), (f"models-{suffix}", "200Gi", "ReadOnlyMany")
    try:
        for volume in volumes:
            _volume(kubeconfig, *volume)
        assert run(["compile", "--repo", str(repo), "--env", env, "--commit"]) == 0
        code, document = _cli(capsys, "sync", env, *cluster)
        assert code == 0, document
        _kueue_queues(kubeconfig, namespace, queue)
        created = {(c["kind"], c["name"]) for c in document["changes"] if c["action"] == "create"}
        assert {("HTTPRoute", "chat"), ("PersistentVolumeClaim", "llm-training-dataset")} <= created
        route = get(kubeconfig, namespace, "httproute", "chat")
        weights = [(b["name"], b["weight"]) for b in route["spec"]["rules"][0]["backendRefs"]]
        assert weights == [("chat-main", 90), ("chat-candidate", 10)]

        _wait(
            "the indexed preprocessing",
            lambda: _job(kubeconfig, namespace, "preprocess")["status"].get("succeeded") == 4,
        )
        code, document = _cli(capsys, "sync", env, *cluster)
        train = _job(kubeconfig, namespace, "train")
        assert train["spec"]["suspend"] is True
        assert train["metadata"]["labels"]["kueue.x-k8s.io/queue-name"] == queue
        _assert_no_drift(capsys, env, cluster)

        # Kueue admits the training workload: another field manager unsuspends the Job.
        kubectl(
            kubeconfig,
            "-n",
            namespace,
            "patch",
            "job",
            train["metadata"]["name"],
            "--type=merge",
            "--field-manager=kueue-admission",
            "-p",
            '{"spec":{"suspend":false}}',
        )
        _assert_no_drift(capsys, env, cluster)

        # The HPA scales the served model (on queue depth, in a real cluster).
        kubectl(kubeconfig, "-n", namespace, "scale", "deployment", "chat", "--replicas=2")
        _assert_no_drift(capsys, env, cluster)
        code, document = _cli(capsys, "sync", env, *cluster)
        assert _job(kubeconfig, namespace, "train")["spec"]["suspend"] is False, "git did not re-suspend"
        for claim in ("llm-training-dataset", "llm-serving-model-cache"):
            assert get(kubeconfig, namespace, "persistentvolumeclaim", claim)["status"]["phase"] == "Bound"
    finally:
        delete_namespaces(kubeconfig, namespace)
        kubectl(
            kubeconfig,
            "delete",
            "clusterqueue",
            queue,
            "resourceflavor",
            queue,
            "pv",
            *(v[0] for v in volumes),
            "--ignore-not-found",
            "--wait=false",
            check=False,
        )
