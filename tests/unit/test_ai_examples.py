"""The GPU examples (``examples/workflows/``: LLM training and LLM serving, with their
environments in ``examples/environments/``) compile to golden trees, build with the real
kustomize, validate against the Kubernetes 1.36 OpenAPI schemas (HTTPRoutes against the
Gateway API's published CRD schema) and use the fields they show. ``init`` (and so the demo)
scaffolds only the top-level examples, which need no GPU, Kueue or Gateway API.

Regenerate the golden trees after an intended change with ``GITOPS_AGENT_UPDATE_GOLDEN=1``.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest

from gitops_agent.cli import run
from gitops_agent.compile import compile_environment
from gitops_agent.render.overlay import render_files
from gitops_agent.spec import load_specs
from tests.support import published_crds
from tests.support.gitrepos import git

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
GOLDEN = Path(__file__).resolve().parent / "golden_ai_examples"
SOURCE_COMMIT = "fedcba9876543210fedcba9876543210fedcba98"
ENVIRONMENTS = ("gpu-dev", "gpu-prod")


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("gpu-examples") / "repo"
    shutil.copytree(EXAMPLES / "workflows", root / "workflows")
    shutil.copytree(EXAMPLES / "environments", root / "environments")
    git(root, "init", "-q", "-b", "main")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "GPU examples")
    return root


@pytest.fixture(scope="module")
def trees(repo: Path) -> dict[str, dict[str, bytes]]:
    specs = load_specs(repo)
    assert {"llm-serving", "llm-training"} <= set(specs.workflows)
    return {
        env: dict(compile_environment(specs, specs.environments[env], source_commit=SOURCE_COMMIT, repo_root=repo))
        for env in ENVIRONMENTS
    }


@pytest.fixture(scope="module")
def rendered(trees: dict[str, dict[str, bytes]]) -> dict[str, list[dict[str, Any]]]:
    return {env: render_files(trees[env], env) for env in ENVIRONMENTS}


def _read(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_compiled_tree_matches_golden_files(trees: dict[str, dict[str, bytes]], env: str) -> None:
    root = GOLDEN / env
    if os.environ.get("GITOPS_AGENT_UPDATE_GOLDEN") == "1":
        shutil.rmtree(root, ignore_errors=True)
        for path, content in trees[env].items():
            (root / path).parent.mkdir(parents=True, exist_ok=True)
            (root / path).write_bytes(content)
    expected = _read(root)
    assert sorted(trees[env]) == sorted(expected), "file list differs from the golden tree"
    for path in sorted(expected):
        assert trees[env][path] == expected[path], f"{env}/{path} differs from the golden file"


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_rendered_objects_validate(rendered: dict[str, list[dict[str, Any]]], env: str) -> None:
    kinds = set()
    for obj in rendered[env]:
        kinds.add(obj["kind"])
        if obj["apiVersion"].startswith("gateway.networking.k8s.io/"):
            published_crds.validate(obj, published_crds.GATEWAY_API)
        elif not obj["apiVersion"].startswith("monitoring.coreos.com/"):
            kubernetes_validate.validate(obj, "1.36", strict=True)
    assert {"Job", "PersistentVolumeClaim", "Deployment", "HTTPRoute", "HorizontalPodAutoscaler"} <= kinds


def _one(objects: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    found = [
        o
        for o in objects
        if o["kind"] == kind
        and (o["metadata"]["name"] == name or (name.endswith("-") and o["metadata"]["name"].startswith(name)))
    ]
    assert len(found) == 1, [o["metadata"]["name"] for o in objects if o["kind"] == kind]
    return found[0]


def _pod(obj: dict[str, Any]) -> dict[str, Any]:
    pod: dict[str, Any] = obj["spec"]["template"]["spec"]
    return pod


GPU_TOLERATION = {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}


def test_training_example(rendered: dict[str, list[dict[str, Any]]]) -> None:
    for env, gpus, product, queue, size in (
        ("gpu-dev", 1, "NVIDIA-L4", "dev", "50Gi"),
        ("gpu-prod", 8, "NVIDIA-H100-80GB-HBM3", "gpu-training", "500Gi"),
    ):
        objects = rendered[env]
        claim = _one(objects, "PersistentVolumeClaim", "llm-training-dataset")
        assert claim["spec"]["resources"]["requests"]["storage"] == size
        assert claim["metadata"]["annotations"]["gitops-agent.io/prune"] == "false"  # kept unless the spec asks
        prep = _one(objects, "Job", "llm-training-preprocess-")
        assert (prep["spec"]["completionMode"], prep["spec"]["backoffLimitPerIndex"]) == ("Indexed", 2)
        assert {"name": "dataset", "persistentVolumeClaim": {"claimName": "llm-training-dataset"}} in _pod(prep)[
            "volumes"
        ]
        train = _one(objects, "Job", "llm-training-train-")
        assert train["metadata"]["labels"]["kueue.x-k8s.io/queue-name"] == queue
        assert train["spec"]["suspend"] is True
        pod = _pod(train)
        assert pod["containers"][0]["resources"]["limits"]["nvidia.com/gpu"] == gpus
        assert GPU_TOLERATION in pod["tolerations"]
        assert pod["nodeSelector"] == {"nvidia.com/gpu.product": product}
        shm = {"name": "shm", "emptyDir": {"medium": "Memory", "sizeLimit": "64Gi"}}
        assert shm in pod["volumes"]
        assert {"name": "shm", "mountPath": "/dev/shm"} in pod["containers"][0]["volumeMounts"]


def test_serving_example(rendered: dict[str, list[dict[str, Any]]]) -> None:
    for env, product in (("gpu-dev", "NVIDIA-L4"), ("gpu-prod", "NVIDIA-A100-SXM4-80GB")):
        objects = rendered[env]
        claim = _one(objects, "PersistentVolumeClaim", "llm-serving-model-cache")
        assert claim["spec"]["accessModes"] == ["ReadOnlyMany"]
        pod = _pod(_one(objects, "Deployment", "chat"))
        assert pod["containers"][0]["resources"]["limits"]["nvidia.com/gpu"] == 1
        assert pod["nodeSelector"] == {"nvidia.com/gpu.product": product}
        route = _one(objects, "HTTPRoute", "chat")
        backends = route["spec"]["rules"][0]["backendRefs"]
        assert [(b["name"], b["weight"]) for b in backends] == [("chat-main", 90), ("chat-candidate", 10)]
        hpa = _one(objects, "HorizontalPodAutoscaler", "chat")
        assert hpa["spec"]["metrics"] == [
            {
                "type": "Pods",
                "pods": {
                    "metric": {"name": "vllm_num_requests_waiting"},
                    "target": {"type": "AverageValue", "averageValue": "5"},
                },
            }
        ]


def test_init_scaffolds_only_the_examples_that_run_without_gpus_or_kueue(tmp_path: Path) -> None:
    assert run(["init", str(tmp_path / "new")]) == 0
    names = sorted(p.name for p in (tmp_path / "new" / "workflows").iterdir())
    assert names == sorted(p.name for p in EXAMPLES.glob("*.yaml"))
    assert not {"llm-training.yaml", "llm-serving.yaml"} & set(names)
