"""Helpers for the reconciler's integration tests: kubectl as another field manager,
hand-written manifests that follow the compiler's conventions, waits for Jobs that run on
the simulated nodes."""

from __future__ import annotations

import json
import re
import subprocess
import time
from pathlib import Path
from typing import Any

from gitops_agent.adapters.kube import KubeCluster
from gitops_agent.adapters.kustomize import kubectl_path
from gitops_agent.reconcile.changeset import Action, ChangeSet
from gitops_agent.reconcile.engine import Target

Manifest = dict[str, Any]


def kubectl(kubeconfig: Path, *args: str, check: bool = True) -> str:
    proc = subprocess.run(
        [kubectl_path(), f"--kubeconfig={kubeconfig}", *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"kubectl {' '.join(args)} failed: {proc.stderr}")
    return proc.stdout


def get(kubeconfig: Path, namespace: str, kind: str, name: str) -> Manifest:
    found: Manifest = json.loads(kubectl(kubeconfig, "-n", namespace, "get", kind, name, "-o", "json"))
    return found


def labels(env: str, name: str, workflow: str = "shop") -> dict[str, str]:
    return {
        "app.kubernetes.io/name": name,
        "app.kubernetes.io/part-of": workflow,
        "app.kubernetes.io/managed-by": "gitops-agent",
        "gitops-agent.io/environment": env,
        "team": "search",
    }


def target(namespace: str, **policy: Any) -> Target:
    """Environment named like the test's namespace, so tests never see each other's objects."""
    return Target(environment=namespace, namespace=namespace, revision="test", **policy)


def connect(kubeconfig: Path) -> KubeCluster:
    return KubeCluster(kubeconfig)


def web_stack(ns: str) -> list[Manifest]:
    """A Deployment (no HPA), one with an HPA, a Service, a ConfigMap, a CronJob."""
    env = ns
    pod_labels = {"app.kubernetes.io/name": "web", "app.kubernetes.io/part-of": "shop"}
    return [
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "web-config", "namespace": ns, "labels": labels(env, "web-config")},
            "data": {"greeting": "hello", "mode": "fast"},
        },
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "web", "namespace": ns, "labels": labels(env, "web")},
            "spec": {"selector": pod_labels, "ports": [{"name": "http", "port": 80, "targetPort": "http"}]},
        },
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {
                "name": "web",
                "namespace": ns,
                "labels": labels(env, "web"),
                "annotations": {"example.com/owner": "team-search"},
            },
            "spec": {
                "replicas": 2,
                "selector": {"matchLabels": pod_labels},
                "template": {
                    "metadata": {"labels": pod_labels},
                    "spec": {
                        "containers": [
                            {
                                "name": "web",
                                "image": "registry.example.com/web:1.0",
                                "env": [{"name": "MODE", "value": "fast"}],
                                "ports": [{"name": "http", "containerPort": 8080}],
                                "resources": {
                                    "requests": {"cpu": "1000m", "memory": "1024Mi"},
                                    "limits": {"cpu": "2", "memory": "2048Mi"},
                                },
                            }
                        ]
                    },
                },
            },
        },
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "api", "namespace": ns, "labels": labels(env, "api")},
            "spec": {
                "replicas": 3,
                "selector": {"matchLabels": {"app.kubernetes.io/name": "api"}},
                "template": {
                    "metadata": {"labels": {"app.kubernetes.io/name": "api"}},
                    "spec": {"containers": [{"name": "api", "image": "registry.example.com/api:1.0"}]},
                },
            },
        },
        {
            "apiVersion": "autoscaling/v2",
            "kind": "HorizontalPodAutoscaler",
            "metadata": {"name": "api", "namespace": ns, "labels": labels(env, "api")},
            "spec": {
                "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "api"},
                "minReplicas": 1,
                "maxReplicas": 5,
                "metrics": [
                    {
                        "type": "Resource",
                        "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 70}},
                    }
                ],
            },
        },
        {
            "apiVersion": "batch/v1",
            "kind": "CronJob",
            "metadata": {"name": "nightly", "namespace": ns, "labels": labels(env, "nightly")},
            "spec": {
                "schedule": "30 1 * * *",
                "jobTemplate": {
                    "spec": {
                        "template": {
                            "spec": {
                                "restartPolicy": "Never",
                                "containers": [{"name": "job", "image": "registry.example.com/job:1.0"}],
                            }
                        }
                    }
                },
            },
        },
    ]


def changed(change_set: ChangeSet) -> list[tuple[str, str, str]]:
    """(action, kind, name) of every entry that is not ``unchanged``."""
    return [(str(c.action), c.ref.kind, c.ref.name) for c in change_set.changes if c.action is not Action.UNCHANGED]


def wait_for_job(
    kubeconfig: Path, namespace: str, name: str, condition: str = "Complete", timeout: int = 90
) -> Manifest:
    """Wait until the job controller sets ``condition`` on a Job whose Pod ran on a simulated
    node (the stages of ``tools/testcluster/stages/``); the Job as it then is."""
    kubectl(kubeconfig, "-n", namespace, "wait", f"--for=condition={condition}", f"job/{name}", f"--timeout={timeout}s")
    return get(kubeconfig, namespace, "job", name)


def add_environment(repo: Path, template: str, name: str, namespace: str) -> None:
    """A copy of environment ``template`` named ``name`` (own branch and namespace), committed.

    Tests use their own environment names: the ownership label carries the environment name,
    so two tests sharing one would see each other's objects as theirs to prune.
    """
    text = (repo / "environments" / f"{template}.yaml").read_text()
    text = text.replace(f"metadata: {{name: {template}}}", f"metadata: {{name: {name}}}")
    text = text.replace(f"branch: env/{template}", f"branch: env/{name}")
    text = re.sub(r"namespace: \S+", f"namespace: {namespace}", text, count=1)
    assert f"name: {name}" in text and f"env/{name}" in text
    (repo / "environments" / f"{name}.yaml").write_text(text)
    subprocess.run(["git", "add", "environments"], cwd=repo, check=True, capture_output=True)
    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-q", "-m",
                    f"environment {name}"], cwd=repo, check=True, capture_output=True)


def delete_namespaces(kubeconfig: Path, *names: str) -> None:
    """Delete namespaces a test created and wait until they are gone."""
    for name in names:
        kubectl(kubeconfig, "delete", "namespace", name, "--ignore-not-found", "--wait=false")
    deadline = time.monotonic() + 90
    for name in names:
        while kubectl(kubeconfig, "get", "namespace", name, "--ignore-not-found", "-o", "name").strip():
            if time.monotonic() > deadline:
                raise AssertionError(f"namespace {name} not deleted")
            time.sleep(0.5)
