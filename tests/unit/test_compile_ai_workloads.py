"""AI workload fields (scheduling, GPUs, volumes, Kueue queues, indexed tasks) compile to the
Kubernetes fields they name: golden trees of a training workflow per environment, the
rendered objects valid for Kubernetes 1.36, and the rules behind each field asserted.

Regenerate the golden trees after an intended change with ``GITOPS_AGENT_UPDATE_GOLDEN=1``.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest

from gitops_agent.compile import compile_environment
from gitops_agent.render.overlay import render_files
from gitops_agent.spec import load_specs
from tests.support import published_crds
from tests.support.gitrepos import git

SPECS = Path(__file__).resolve().parent / "specs" / "ai"
GOLDEN = Path(__file__).resolve().parent / "golden_ai"
SOURCE_COMMIT = "0123456789abcdef0123456789abcdef01234567"
ENVIRONMENTS = ("dev", "prod")


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("ai") / "repo"
    shutil.copytree(SPECS, root, ignore=shutil.ignore_patterns("__pycache__", "*.py"))
    git(root, "init", "-q", "-b", "main")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "AI workloads")
    return root


@pytest.fixture(scope="module")
def trees(repo: Path) -> dict[str, dict[str, bytes]]:
    specs = load_specs(repo)
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
def test_rendered_objects_are_valid_kubernetes_objects(rendered: dict[str, list[dict[str, Any]]], env: str) -> None:
    for obj in rendered[env]:
        if obj["apiVersion"].startswith("gateway.networking.k8s.io/"):
            published_crds.validate(obj, published_crds.GATEWAY_API)  # the Gateway API's own CRD schema
        else:
            kubernetes_validate.validate(obj, "1.36", strict=True)


def _one(objects: list[dict[str, Any]], kind: str, name_prefix: str) -> dict[str, Any]:
    def named(name: str) -> bool:
        return name == name_prefix or (name_prefix.endswith("-") and name.startswith(name_prefix))

    found = [o for o in objects if o["kind"] == kind and named(o["metadata"]["name"])]
    assert len(found) == 1, [o["metadata"]["name"] for o in objects if o["kind"] == kind]
    return found[0]


def _pod(obj: dict[str, Any]) -> dict[str, Any]:
    spec: dict[str, Any] = obj["spec"]["template"]["spec"]
    return spec


GPU_TOLERATION = {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}


def test_gpu_short_form_sets_limit_toleration_and_product_selector(rendered: dict[str, list[dict[str, Any]]]) -> None:
    for env, count, product in (("dev", 1, "NVIDIA-L4"), ("prod", 8, "NVIDIA-H100-80GB-HBM3")):
        pod = _pod(_one(rendered[env], "Job", "llm-finetune-train-"))
        assert pod["containers"][0]["resources"]["limits"] == {"nvidia.com/gpu": count}
        assert pod["nodeSelector"] == {"nvidia.com/gpu.product": product}
        assert pod["tolerations"] == [GPU_TOLERATION]
    serving = _pod(_one(rendered["prod"], "Deployment", "chat"))
    assert serving["tolerations"] == [GPU_TOLERATION]
    assert "nodeSelector" not in serving  # no product: any GPU node


def test_scheduling_fields_and_their_environment_overrides(rendered: dict[str, list[dict[str, Any]]]) -> None:
    prod_train = _pod(_one(rendered["prod"], "Job", "llm-finetune-train-"))
    assert prod_train["priorityClassName"] == "training"
    assert prod_train["runtimeClassName"] == "nvidia"
    anti = prod_train["affinity"]["podAntiAffinity"]
    assert anti["preferredDuringSchedulingIgnoredDuringExecution"][0]["weight"] == 50
    dev_train = _pod(_one(rendered["dev"], "Job", "llm-finetune-train-"))
    assert "priorityClassName" not in dev_train  # removed by the dev override (null)
    prod_prep = _pod(_one(rendered["prod"], "Job", "llm-finetune-preprocess-"))
    assert prod_prep["nodeSelector"] == {"pool": "cpu-batch"}
    batch = {"key": "workload", "operator": "Equal", "value": "batch", "effect": "NoSchedule"}
    assert prod_prep["tolerations"] == [batch]
    dev_prep = _pod(_one(rendered["dev"], "Job", "llm-finetune-preprocess-"))
    assert "nodeSelector" not in dev_prep and "tolerations" not in dev_prep


def test_queue_label_and_suspended_job(rendered: dict[str, list[dict[str, Any]]]) -> None:
    for env, queue in (("dev", "dev"), ("prod", "gpu-training")):
        train = _one(rendered[env], "Job", "llm-finetune-train-")
        assert train["metadata"]["labels"]["kueue.x-k8s.io/queue-name"] == queue
        assert train["spec"]["suspend"] is True
    prep = _one(rendered["prod"], "Job", "llm-finetune-preprocess-")
    assert "suspend" not in prep["spec"] and "kueue.x-k8s.io/queue-name" not in prep["metadata"]["labels"]


def test_indexed_task_fields(rendered: dict[str, list[dict[str, Any]]]) -> None:
    spec = _one(rendered["prod"], "Job", "llm-finetune-preprocess-")["spec"]
    assert (spec["parallelism"], spec["completions"], spec["completionMode"]) == (4, 16, "Indexed")
    assert (spec["backoffLimitPerIndex"], spec["maxFailedIndexes"]) == (2, 1)
    dev = _one(rendered["dev"], "Job", "llm-finetune-preprocess-")["spec"]
    assert (dev["parallelism"], dev["completions"]) == (2, 4)


def test_volumes_claims_and_mounts(rendered: dict[str, list[dict[str, Any]]]) -> None:
    objects = rendered["prod"]
    dataset = _one(objects, "PersistentVolumeClaim", "llm-finetune-dataset")
    assert dataset["metadata"]["annotations"] == {"gitops-agent.io/prune": "false"}
    assert dataset["spec"] == {
        "accessModes": ["ReadWriteMany"],
        "storageClassName": "fast-rwx",
        "resources": {"requests": {"storage": "500Gi"}},
    }
    cache = _one(objects, "PersistentVolumeClaim", "llm-finetune-model-cache")
    assert "annotations" not in cache["metadata"]  # prune: true asked for
    dev_dataset = _one(rendered["dev"], "PersistentVolumeClaim", "llm-finetune-dataset")
    assert dev_dataset["spec"] == {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "50Gi"}}}
    train = _pod(_one(objects, "Job", "llm-finetune-train-"))
    volumes = {v["name"]: v for v in train["volumes"]}
    assert volumes["shm"] == {"name": "shm", "emptyDir": {"medium": "Memory", "sizeLimit": "16Gi"}}
    assert volumes["hf-token"] == {"name": "hf-token", "secret": {"secretName": "hf-token"}}
    assert volumes["checkpoints"]["persistentVolumeClaim"] == {"claimName": "llm-checkpoints"}
    assert volumes["dataset"]["persistentVolumeClaim"] == {"claimName": "llm-finetune-dataset"}
    mounts = {m["name"]: m for m in train["containers"][0]["volumeMounts"]}
    assert mounts["shm"] == {"name": "shm", "mountPath": "/dev/shm"}
    assert mounts["hf-token"]["readOnly"] is True
    chat = _pod(_one(objects, "Deployment", "chat"))
    cache_volume = next(v for v in chat["volumes"] if v["name"] == "model-cache")
    assert cache_volume["persistentVolumeClaim"] == {"claimName": "llm-finetune-model-cache", "readOnly": True}


def test_changing_a_task_field_gives_the_job_a_new_name(trees: dict[str, dict[str, bytes]]) -> None:
    """The Job name hashes its spec: dev and prod differ (GPU product, queue, parallelism)."""
    names = {
        env: sorted(p for p in trees[env] if "job-llm-finetune-train-" in p and p.startswith("overlays/"))
        for env in ENVIRONMENTS
    }
    assert names["dev"] and names["prod"] and names["dev"] != names["prod"]


def test_hpa_scales_on_pods_external_and_object_metrics_with_behavior(
    rendered: dict[str, list[dict[str, Any]]],
) -> None:
    spec = _one(rendered["prod"], "HorizontalPodAutoscaler", "chat")["spec"]
    assert (spec["minReplicas"], spec["maxReplicas"]) == (1, 8)
    assert spec["metrics"] == [
        {
            "type": "Pods",
            "pods": {
                "metric": {"name": "vllm_num_requests_waiting"},
                "target": {"type": "AverageValue", "averageValue": "5"},
            },
        },
        {
            "type": "External",
            "external": {
                "metric": {"name": "chat_queue_depth", "selector": {"matchLabels": {"queue": "chat"}}},
                "target": {"type": "AverageValue", "averageValue": "30"},
            },
        },
        {
            "type": "Object",
            "object": {
                "metric": {"name": "requests_per_second"},
                "describedObject": {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "name": "chat"},
                "target": {"type": "Value", "value": "2k"},
            },
        },
    ]  # no CPU target added: the metrics say what to scale on
    assert spec["behavior"] == {
        "scaleUp": {"selectPolicy": "Max", "policies": [{"type": "Percent", "value": 100, "periodSeconds": 30}]},
        "scaleDown": {
            "stabilizationWindowSeconds": 600,
            "policies": [{"type": "Pods", "value": 1, "periodSeconds": 120}],
        },
    }
    chat = _one(rendered["prod"], "Deployment", "chat")
    assert "replicas" not in chat["spec"]  # the HPA owns replicas


def test_route_splits_requests_by_weight_over_a_service_per_variant(
    rendered: dict[str, list[dict[str, Any]]],
) -> None:
    objects = rendered["prod"]
    route = _one(objects, "HTTPRoute", "chat")
    assert route["apiVersion"] == "gateway.networking.k8s.io/v1"
    assert route["spec"]["parentRefs"] == [{"name": "inference"}]
    assert route["spec"]["hostnames"] == ["chat.example.com"]
    rule = route["spec"]["rules"][0]
    assert rule["matches"] == [{"path": {"type": "PathPrefix", "value": "/v1"}}]
    assert rule["backendRefs"] == [
        {"name": "chat-main", "port": 8000, "weight": 90},
        {"name": "chat-lora-v2", "port": 8000, "weight": 10},
    ]
    for variant in ("main", "lora-v2"):
        service = _one(objects, "Service", f"chat-{variant}")
        assert service["spec"]["selector"]["gitops-agent.io/variant"] == variant
    shared = _one(objects, "Service", "chat")
    assert "gitops-agent.io/variant" not in shared["spec"]["selector"]  # still every variant


def test_a_scheduled_queued_task_is_a_cronjob_whose_jobs_are_queued_suspended() -> None:
    from gitops_agent.compile import compile_workflow
    from gitops_agent.spec.build import build_workflow

    document = {
        "apiVersion": "gitops-agent.io/v1alpha1",
        "kind": "Workflow",
        "metadata": {"name": "nightly"},
        "spec": {
            "tasks": {
                "retrain": {
                    "image": "app:1",
                    "schedule": "0 2 * * *",
                    "queue": "batch",
                    "parallelism": 2,
                    "completions": 2,
                    "completionMode": "Indexed",
                }
            }
        },
    }
    objects = compile_workflow(build_workflow(document, "workflows/nightly.yaml"))
    (cronjob,) = [obj for obj in objects if obj["kind"] == "CronJob"]
    template = cronjob["spec"]["jobTemplate"]
    assert template["metadata"]["labels"] == {"kueue.x-k8s.io/queue-name": "batch"}
    assert template["spec"]["suspend"] is True
    assert (template["spec"]["parallelism"], template["spec"]["completionMode"]) == (2, "Indexed")
    assert "kueue.x-k8s.io/queue-name" not in cronjob["metadata"]["labels"]  # Kueue queues the Jobs
    kubernetes_validate.validate(
        {**cronjob, "metadata": {**cronjob["metadata"], "namespace": "ns"}}, "1.36", strict=True
    )


def test_a_zero_stabilization_window_scales_at_once() -> None:
    from gitops_agent.compile import compile_workflow
    from gitops_agent.spec.build import build_workflow

    autoscale = {"min": 1, "max": 3, "behavior": {"scaleDown": {"stabilizationWindow": "0s"}}}
    document = {
        "apiVersion": "gitops-agent.io/v1alpha1",
        "kind": "Workflow",
        "metadata": {"name": "w"},
        "spec": {"services": {"api": {"image": "app:1", "autoscale": autoscale}}},
    }
    hpa = next(
        o for o in compile_workflow(build_workflow(document, "w.yaml")) if o["kind"] == "HorizontalPodAutoscaler"
    )
    assert hpa["spec"]["behavior"] == {"scaleDown": {"stabilizationWindowSeconds": 0}}


CANARY = "nginx.ingress.kubernetes.io/canary"
CANARY_WEIGHT = "nginx.ingress.kubernetes.io/canary-weight"


def _backend(ingress: dict[str, Any]) -> tuple[list[str | None], str, str, int]:
    """(hosts, path, Service, port number) of an Ingress whose rules share one path."""
    rules = ingress["spec"]["rules"]
    paths = [p for rule in rules for p in rule["http"]["paths"]]
    assert len({repr(p) for p in paths}) == 1, paths
    service = paths[0]["backend"]["service"]
    return [rule.get("host") for rule in rules], paths[0]["path"], service["name"], service["port"]["number"]


def test_ingress_splits_requests_by_canary_weight_over_a_service_per_variant(
    rendered: dict[str, list[dict[str, Any]]],
) -> None:
    objects = rendered["prod"]
    main = _one(objects, "Ingress", "rerank")
    canary = _one(objects, "Ingress", "rerank-distilled")
    assert _backend(main) == (["rerank.example.com"], "/v1/rerank", "rerank-main", 8080)
    assert _backend(canary) == (["rerank.example.com"], "/v1/rerank", "rerank-distilled", 8080)
    assert main["spec"]["rules"][0]["http"]["paths"][0]["pathType"] == "Prefix"
    issuer = {"cert-manager.io/cluster-issuer": "letsencrypt", "nginx.ingress.kubernetes.io/proxy-body-size": "16m"}
    assert main["metadata"]["annotations"] == issuer
    assert canary["metadata"]["annotations"] == {**issuer, CANARY: "true", CANARY_WEIGHT: "20"}  # 20% of requests
    for ingress in (main, canary):
        assert ingress["spec"]["ingressClassName"] == "nginx"
        assert ingress["spec"]["tls"] == [{"hosts": ["rerank.example.com"], "secretName": "rerank-tls"}]
    for variant in ("main", "distilled"):
        service = _one(objects, "Service", f"rerank-{variant}")
        assert service["spec"]["selector"]["gitops-agent.io/variant"] == variant
    assert [
        d["spec"]["replicas"]
        for d in objects
        if d["kind"] == "Deployment" and d["metadata"]["name"].startswith("rerank")
    ] == [3, 1]


def test_an_environment_overrides_the_ingress_hosts_and_drops_tls(rendered: dict[str, list[dict[str, Any]]]) -> None:
    for name in ("rerank", "rerank-distilled"):
        ingress = _one(rendered["dev"], "Ingress", name)
        assert _backend(ingress)[0] == ["rerank.dev.example.com"]
        assert "tls" not in ingress["spec"]


def _compiled(services: dict[str, Any], **spec: Any) -> list[dict[str, Any]]:
    from gitops_agent.compile import compile_workflow
    from gitops_agent.spec.build import build_workflow

    document = {
        "apiVersion": "gitops-agent.io/v1alpha1",
        "kind": "Workflow",
        "metadata": {"name": "w"},
        "spec": {"services": services, **spec},
    }
    return compile_workflow(build_workflow(document, "workflows/w.yaml"))


def _namespaced(obj: dict[str, Any]) -> dict[str, Any]:
    return {**obj, "metadata": {**obj["metadata"], "namespace": "ns"}}


def test_an_ingress_without_variants_or_hosts_sends_every_host_to_the_service() -> None:
    objects = _compiled({"api": {"image": "app:1", "ports": {"http": 8080}, "ingress": {}}})
    (ingress,) = [o for o in objects if o["kind"] == "Ingress"]
    assert ingress["metadata"]["name"] == "api" and "annotations" not in ingress["metadata"]
    assert ingress["spec"] == {
        "rules": [
            {
                "http": {
                    "paths": [
                        {
                            "path": "/",
                            "pathType": "Prefix",
                            "backend": {"service": {"name": "api", "port": {"number": 8080}}},
                        }
                    ]
                }
            }
        ]
    }
    assert [o["metadata"]["name"] for o in objects if o["kind"] == "Service"] == ["api"]
    kubernetes_validate.validate(_namespaced(ingress), "1.36", strict=True)


@pytest.mark.parametrize("exposure", [{"route": {"gateway": "gw"}}, {"ingress": {"className": "nginx"}}])
def test_the_service_monitor_scrapes_each_pod_once_beside_per_variant_services(exposure: dict[str, Any]) -> None:
    """The per-variant Services select the same pods as the shared Service: a ServiceMonitor
    matching them too would scrape every pod twice (and double every rate)."""
    service = {
        "image": "app:1",
        "ports": {"http": 8080},
        "variants": {"b": {"image": "app:2", "weight": 10}},
        **exposure,
    }
    objects = _compiled({"api": service}, monitoring={"scrape": {"port": "http"}})
    (monitor,) = [o for o in objects if o["kind"] == "ServiceMonitor"]
    selector = monitor["spec"]["selector"]["matchLabels"]
    services = [o for o in objects if o["kind"] == "Service"]
    assert sorted(o["metadata"]["name"] for o in services) == ["api", "api-b", "api-main"]
    scraped = [o["metadata"]["name"] for o in services if selector.items() <= o["metadata"]["labels"].items()]
    assert scraped == ["api"]


def test_prune_lists_every_kind_the_compiler_emits(rendered: dict[str, list[dict[str, Any]]]) -> None:
    """A kind missing from the listed kinds is never found once git has none of it left: the
    last HTTPRoute, Ingress or claim dropped from git would stay in the cluster for good."""
    from gitops_agent.reconcile.engine import MANAGED_KINDS

    listed = {(group, kind) for group, _, kind in MANAGED_KINDS}
    emitted = {(o["apiVersion"].rpartition("/")[0], o["kind"]) for objects in rendered.values() for o in objects}
    emitted |= {
        (o["apiVersion"].rpartition("/")[0], o["kind"])
        for o in _compiled(
            {"api": {"image": "app:1", "ports": {"http": 80}, "ingress": {}, "autoscale": {"min": 1, "max": 2}}},
            tasks={"nightly": {"image": "app:1", "schedule": "0 2 * * *"}},
            config={"a.yaml": "a: 1\n"},
            monitoring={"scrape": {"port": "http"}, "alerts": [{"name": "Down", "expr": "up == 0"}]},
        )
    }
    assert {("", "Namespace"), ("networking.k8s.io", "Ingress"), ("gateway.networking.k8s.io", "HTTPRoute")} <= emitted
    assert sorted(emitted - listed) == []
