"""Property tests: for random valid specs, compile is deterministic and kustomize builds it."""

from __future__ import annotations

import copy
import string
from pathlib import Path
from typing import Any

import kubernetes_validate
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gitops_agent.compile import compile_environment
from gitops_agent.render.overlay import render_files
from gitops_agent.spec import load_specs
from gitops_agent.vocabulary import labels as L
from gitops_agent.vocabulary.yaml import dump
from tests.support import published_crds

names = st.text(string.ascii_lowercase, min_size=1, max_size=6).map(lambda s: "n" + s)
cpu = st.sampled_from(["100m", "250m", "1", "2", "1500m"])
memory = st.sampled_from(["128Mi", "1Gi", "2G", "512Mi"])
images = st.sampled_from(["reg.example.com/a:1.0", "reg.example.com/b:2", "b:3"])


VOLUMES: dict[str, dict[str, Any]] = {
    "data": {"mountPath": "/data", "claim": {"size": "10Gi", "accessModes": ["ReadWriteMany"]}},
    "cache": {"mountPath": "/cache", "readOnly": True, "claim": {"size": "1Gi", "storageClass": "fast", "prune": True}},
    "shm": {"mountPath": "/dev/shm", "emptyDir": {"medium": "Memory", "sizeLimit": "2Gi"}},
    "scratch": {"mountPath": "/scratch", "emptyDir": {}},
    "ckpt": {"mountPath": "/ckpt", "subPath": "run-1", "existingClaim": "checkpoints"},
    "prompts": {"mountPath": "/etc/prompts", "configMap": "prompts"},
    "certs": {"mountPath": "/certs", "secret": "tls-certs", "readOnly": True},
}
PRODUCTS = ["NVIDIA-A100-SXM4-80GB", "NVIDIA-H100-80GB-HBM3", "NVIDIA-L4"]


@st.composite
def placement(draw: st.DrawFn) -> dict[str, Any]:
    """Scheduling fields, the GPU short form and volumes (any subset, all valid)."""
    fields: dict[str, Any] = {}
    if draw(st.booleans()):
        fields["nodeSelector"] = {"pool": draw(names)}
    if draw(st.booleans()):
        fields["tolerations"] = draw(
            st.lists(
                st.sampled_from(
                    [
                        {"key": "pool", "operator": "Equal", "value": "batch", "effect": "NoSchedule"},
                        {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"},
                        {"operator": "Exists"},
                        {
                            "key": "node.kubernetes.io/unreachable",
                            "operator": "Exists",
                            "effect": "NoExecute",
                            "tolerationSeconds": 60,
                        },
                    ]
                ),
                min_size=1,
                max_size=3,
                unique_by=repr,
            )
        )
    if draw(st.booleans()):
        term = {"matchExpressions": [{"key": "pool", "operator": "In", "values": [draw(names)]}]}
        fields["affinity"] = draw(
            st.sampled_from(
                [
                    {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [term]}}},
                    {
                        "nodeAffinity": {
                            "preferredDuringSchedulingIgnoredDuringExecution": [{"weight": 10, "preference": term}]
                        }
                    },
                    {
                        "podAntiAffinity": {
                            "requiredDuringSchedulingIgnoredDuringExecution": [
                                {
                                    "topologyKey": "kubernetes.io/hostname",
                                    "labelSelector": {"matchLabels": {"app": "x"}},
                                }
                            ]
                        }
                    },
                ]
            )
        )
    if draw(st.booleans()):
        fields["priorityClassName"] = draw(st.sampled_from(["high", "batch-low"]))
    if draw(st.booleans()):
        fields["runtimeClassName"] = "nvidia"
    if draw(st.booleans()):
        gpu: dict[str, Any] = {"count": draw(st.integers(1, 8))}
        if draw(st.booleans()):
            gpu["product"] = draw(st.sampled_from(PRODUCTS))
        fields["resources"] = {"gpu": gpu}
    chosen = draw(st.lists(st.sampled_from(sorted(VOLUMES)), max_size=3, unique=True))
    if chosen:
        fields["volumes"] = {name: VOLUMES[name] for name in chosen}
    return copy.deepcopy(fields)  # no shared values: the YAML writer would emit anchors


@st.composite
def batch_fields(draw: st.DrawFn) -> dict[str, Any]:
    """A Kueue queue and parallel (possibly Indexed) Job fields."""
    fields: dict[str, Any] = {}
    if draw(st.booleans()):
        fields["queue"] = draw(st.sampled_from(["team-a", "gpu.training"]))
    if draw(st.booleans()):
        fields["parallelism"] = draw(st.integers(1, 8))
        completions = draw(st.integers(1, 32))
        fields["completions"] = completions
        if draw(st.booleans()):
            fields["completionMode"] = "Indexed"
            if draw(st.booleans()):
                fields["backoffLimitPerIndex"] = draw(st.integers(0, 3))
                fields["maxFailedIndexes"] = draw(st.integers(0, completions))
    return fields


@st.composite
def hpa_extras(draw: st.DrawFn) -> dict[str, Any]:
    """Pods/External/Object metrics (with or without the CPU target) and scaling behavior."""
    choices = [
        {"pods": {"metric": "vllm_num_requests_waiting", "averageValue": draw(st.sampled_from([5, "500m", "2k"]))}},
        {"external": {"metric": "queue_depth", "selector": {"queue": draw(names)}, "value": 30}},
        {"external": {"metric": "queue_depth", "averageValue": "10"}},
        {
            "object": {
                "metric": "requests_per_second",
                "describedObject": {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "name": "web"},
                "value": "1k",
            }
        },
    ]
    extras: dict[str, Any] = {
        "metrics": draw(st.lists(st.sampled_from(choices), min_size=1, max_size=3, unique_by=repr))
    }
    if draw(st.booleans()):
        extras["cpuUtilization"] = None  # metrics alone: no CPU target
    if draw(st.booleans()):
        policy = {
            "type": draw(st.sampled_from(["Pods", "Percent"])),
            "value": draw(st.integers(1, 100)),
            "period": "1m",
        }
        window = draw(st.sampled_from(["0s", "30s", "5m", "1h"]))
        extras["behavior"] = {
            "scaleDown": {"stabilizationWindow": window, "policies": [policy]},
            "scaleUp": {"selectPolicy": draw(st.sampled_from(["Max", "Min", "Disabled"]))},
        }
    return copy.deepcopy(extras)


def _merge(body: dict[str, Any], extra: dict[str, Any]) -> None:
    for key, value in extra.items():
        if key == "resources" and key in body:
            body[key] = {**body[key], **value}
        else:
            body[key] = value


@st.composite
def workflow_specs(draw: st.DrawFn) -> dict[str, Any]:
    task_names = draw(st.lists(names, min_size=1, max_size=5, unique=True))
    tasks: dict[str, Any] = {}
    for index, name in enumerate(task_names):
        task: dict[str, Any] = {"command": ["python", "-m", name]}
        earlier = task_names[:index]
        if earlier and draw(st.booleans()):
            task["dependsOn"] = draw(st.lists(st.sampled_from(earlier), min_size=1, max_size=2, unique=True))
        elif index == len(task_names) - 1 and draw(st.booleans()):
            task["schedule"] = draw(st.sampled_from(["0 2 * * *", "*/5 * * * *", "15 3 * * 1-5"]))
        if draw(st.booleans()):
            task["resources"] = {"cpu": draw(cpu), "memory": draw(memory)}
        if draw(st.booleans()):
            task["retries"] = draw(st.integers(0, 5))
        if draw(st.booleans()):
            task["timeout"] = draw(st.sampled_from(["30s", "5m", "4h", "1d"]))
        if draw(st.booleans()):
            _merge(task, draw(placement()))
            _merge(task, draw(batch_fields()))
        tasks[name] = task
    services: dict[str, Any] = {}
    dag_tasks = [n for n in task_names if "schedule" not in tasks[n]]
    for name in draw(st.lists(names.map(lambda s: "s" + s), max_size=3, unique=True)):
        service: dict[str, Any] = {"ports": {"http": draw(st.integers(1024, 9999))}}
        if dag_tasks and draw(st.booleans()):
            service["dependsOn"] = [draw(st.sampled_from(dag_tasks))]
        if draw(st.booleans()):
            low = draw(st.integers(1, 4))
            service["autoscale"] = {"min": low, "max": low + draw(st.integers(0, 6)), "cpuUtilization": 70}
            if draw(st.booleans()):
                service["autoscale"].update(draw(hpa_extras()))
                service["autoscale"] = {k: v for k, v in service["autoscale"].items() if v is not None}
        else:
            service["replicas"] = draw(st.integers(1, 5))
        if draw(st.booleans()):
            service["variants"] = {"canary": {"image": draw(images), "weight": draw(st.integers(1, 50))}}
        if draw(st.booleans()):
            service["disruption"] = {"minAvailable": 1}
        if draw(st.booleans()):
            service["probes"] = {"readiness": {"path": "/healthz", "port": "http"}}
        if draw(st.booleans()):
            _merge(service, draw(placement()))
        exposure = draw(st.sampled_from([None, "route", "ingress"]))
        path = draw(st.sampled_from(["/", "/v1", "/api/chat"]))
        if exposure == "route":
            service["route"] = {"gateway": "gw", "path": path}
            if draw(st.booleans()):
                service["route"]["hostnames"] = [draw(names) + ".example.com"]
        elif exposure == "ingress":
            service["ingress"] = {"path": path}
            if draw(st.booleans()):
                service["ingress"]["hosts"] = draw(
                    st.lists(names.map(lambda s: s + ".example.com"), min_size=1, max_size=2, unique=True)
                )
            if draw(st.booleans()):
                service["ingress"].update(className="nginx", tlsSecret=draw(names) + "-tls")
            if draw(st.booleans()):
                service["ingress"]["annotations"] = {"nginx.ingress.kubernetes.io/proxy-body-size": "16m"}
        services[name] = service
    spec: dict[str, Any] = {
        "defaults": {"image": draw(images), "resources": {"cpu": draw(cpu), "memory": draw(memory)}}
    }
    spec["tasks"] = tasks
    if services:
        spec["services"] = services
        if draw(st.booleans()):
            spec["monitoring"] = {"scrape": {"port": "http"}, "alerts": [{"name": "Down", "expr": "up == 0"}]}
    if draw(st.booleans()):
        spec["config"] = {"settings.yaml": "a: 1\n"}
    if draw(st.booleans()):
        spec["defaults"]["tolerations"] = [
            {"key": "pool", "operator": "Equal", "value": "batch", "effect": "NoSchedule"}
        ]
    return spec


def uses_image_a(workflow: dict[str, Any]) -> bool:
    return "reg.example.com/a:" in repr(workflow)


@st.composite
def environments(draw: st.DrawFn, workflow: dict[str, Any]) -> dict[str, Any]:
    spec: dict[str, Any] = {"namespace": "ns-" + draw(names), "branch": "env/test"}
    if uses_image_a(workflow) and draw(st.booleans()):  # a pin must match an image in use
        spec["images"] = {"reg.example.com/a": draw(st.sampled_from(["9.9", "sha256:" + "a" * 64]))}
    if draw(st.booleans()):
        spec["labels"] = {"tier": draw(names)}
    return spec


def write_repo(root: Path, workflow: dict[str, Any], env: dict[str, Any]) -> None:
    (root / "workflows").mkdir(parents=True, exist_ok=True)
    (root / "environments").mkdir(parents=True, exist_ok=True)
    document = {"apiVersion": "gitops-agent.io/v1alpha1", "kind": "Workflow", "metadata": {"name": "wf"}}
    (root / "workflows" / "wf.yaml").write_bytes(dump({**document, "spec": workflow}))
    env_doc = {"apiVersion": "gitops-agent.io/v1alpha1", "kind": "Environment", "metadata": {"name": "test"}}
    (root / "environments" / "test.yaml").write_bytes(dump({**env_doc, "spec": env}))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_random_valid_specs_compile_deterministically_and_render(tmp_path_factory: Any, data: st.DataObject) -> None:
    workflow = data.draw(workflow_specs(), label="workflow")
    env = data.draw(environments(workflow), label="environment")
    root = tmp_path_factory.mktemp("prop")
    write_repo(root, workflow, env)
    specs = load_specs(root)
    environment = specs.environments["test"]
    first = compile_environment(specs, environment, source_commit="c" * 40, repo_root=root)
    second = compile_environment(load_specs(root), environment, source_commit="c" * 40, repo_root=root)
    assert dict(first) == dict(second)
    objects = render_files(dict(first), "test")
    kinds = [o["kind"] for o in objects]
    assert kinds.count("Job") + kinds.count("CronJob") == len(workflow["tasks"])
    claims = {
        v
        for body in [*workflow["tasks"].values(), *workflow.get("services", {}).values()]
        for v, volume in body.get("volumes", {}).items()
        if "claim" in volume
    }
    assert kinds.count("PersistentVolumeClaim") == len(claims)
    assert kinds.count("Deployment") == sum(
        1 + len(s.get("variants", {})) for s in workflow.get("services", {}).values()
    )
    assert kinds.count("Ingress") == sum(
        1 + len(s.get("variants", {})) for s in workflow.get("services", {}).values() if "ingress" in s
    )
    for obj in objects:
        labels = obj["metadata"]["labels"]
        assert labels[L.MANAGED_BY_LABEL] == "gitops-agent" and labels[L.ENVIRONMENT_LABEL] == "test"
        if obj["kind"] != "Namespace":
            assert obj["metadata"]["namespace"] == env["namespace"]
        if obj["apiVersion"].startswith("gateway.networking.k8s.io/"):
            published_crds.validate(obj, published_crds.GATEWAY_API)
        elif not obj["apiVersion"].startswith("monitoring.coreos.com/"):
            kubernetes_validate.validate(obj, "1.36", strict=True)
