"""A training and serving workflow with the AI workload fields, synced to the real control
plane with Kueue's and the Gateway API's published CRDs installed (the API server checks
the HTTPRoute against its CRD's schema and validation rules): the indexed task runs on the simulated nodes,
the queued GPU task is created suspended and lands on the GPU node once unsuspended by
another field manager (as Kueue's admission does), and ``diff`` stays clean throughout —
after sync, after the unsuspension, after the HPA's scaling (an HPA on Pods and External
metrics with a partial behavior the API server completes with its defaults) — while the workflow's claim
survives ``sync --prune`` once git drops it. A second service is exposed through an Ingress with an
ingress-nginx canary Ingress for its variant; once git drops the variant, prune removes the canary."""

from __future__ import annotations

import json
import secrets
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gitops_agent.cli import run
from tests.integration.reconcile_helpers import delete_namespaces, get, kubectl
from tests.support.cluster import install_crds, kube_api
from tests.support.gitrepos import git
from tests.support.published_crds import GATEWAY_API, KUEUE, crd_dir

pytestmark = pytest.mark.integration

WORKFLOW = """\
apiVersion: gitops-agent.io/v1alpha1
kind: Workflow
metadata: {name: trainer}
spec:
  defaults:
    image: registry.example.com/llm:1.0
    resources: {cpu: 100m, memory: 128Mi}
  tasks:
    preprocess:
      command: [python, -m, prep]
      parallelism: 2
      completions: 4
      completionMode: Indexed
      backoffLimitPerIndex: 1
      volumes:
        data: {mountPath: /data, claim: {size: 1Gi, accessModes: [ReadWriteMany]}}
    train:
      dependsOn: [preprocess]
      command: [torchrun, -m, train]
      queue: QUEUE
      resources: {gpu: {count: 1, product: NVIDIA-A100-SXM4-80GB}}
      volumes:
        data: {mountPath: /data, claim: {size: 1Gi, accessModes: [ReadWriteMany]}}
        shm: {mountPath: /dev/shm, emptyDir: {medium: Memory, sizeLimit: 1Gi}}
  services:
    chat:
      command: [python, -m, serve]
      ports: {http: 8000}
      route: {gateway: inference, hostnames: [chat.example.com]}
      variants:
        lora: {env: {ADAPTER: lora-v2}, weight: 10}
      autoscale:
        min: 1
        max: 4
        cpuUtilization: 70
        metrics:
          - pods: {metric: vllm_num_requests_waiting, averageValue: 5}
          - external: {metric: chat_queue_depth, selector: {queue: chat}, value: 30}
        behavior: {scaleDown: {stabilizationWindow: 10m}}
      tolerations: [{key: nvidia.com/gpu, operator: Exists, effect: NoSchedule}]
      volumes:
        cache: {mountPath: /models, emptyDir: {}}
    rerank:
      command: [python, -m, rerank]
      ports: {http: 8080}
      ingress:
        className: nginx
        hosts: [rerank.example.com]
        path: /v1
        tlsSecret: rerank-tls
        annotations: {nginx.ingress.kubernetes.io/proxy-body-size: 16m}
      variants:
        distilled: {image: registry.example.com/rerank-distilled:1.0, weight: 20}
"""
CANARY_WEIGHT = "nginx.ingress.kubernetes.io/canary-weight"


def _commit(repo: Path, message: str) -> None:
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", message)


def _cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, dict[str, Any]]:
    capsys.readouterr()
    code = run([*args, "-o", "json"])
    out, err = capsys.readouterr()
    assert out, f"exit {code}: {err}"
    document: dict[str, Any] = json.loads(out)
    return code, document


def _wait(what: str, check: Any, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.5)


@pytest.fixture
def kueue(kube_cluster: Any) -> Iterator[str]:
    """Kueue's and the Gateway API's published CRDs installed, with a ResourceFlavor, ClusterQueue and the
    LocalQueue (in the environment's namespace) the workflow names — created through the
    API server, which validates them against the CRDs' schemas."""
    with kube_api(kube_cluster.kubeconfig) as api:
        install_crds(api, crd_dir(KUEUE))
        install_crds(api, crd_dir(GATEWAY_API))
    yield "gpu-" + secrets.token_hex(3)


def test_queued_gpu_training_syncs_without_drift(  # type: ignore[no-untyped-def]
    tmp_path: Path, kube_cluster, kueue: str, capsys
) -> None:
    kubeconfig = kube_cluster.kubeconfig
    suffix = secrets.token_hex(3)
    env, namespace, queue = f"ai{suffix}", f"ml-ai-{suffix}", kueue
    repo = tmp_path / "repo"
    (repo / "workflows").mkdir(parents=True)
    (repo / "environments").mkdir()
    git(repo, "init", "-q", "-b", "main")
    (repo / "workflows" / "trainer.yaml").write_text(WORKFLOW.replace("QUEUE", queue))
    (repo / "environments" / f"{env}.yaml").write_text(
        "apiVersion: gitops-agent.io/v1alpha1\nkind: Environment\n"
        f"metadata: {{name: {env}}}\nspec: {{namespace: {namespace}, branch: env/{env}}}\n"
    )
    _commit(repo, "trainer")
    cluster = ["--repo", str(repo), "--kubeconfig", str(kubeconfig)]
    volume = f"pv-{suffix}"
    try:
        _volume(kubeconfig, volume)
        assert run(["compile", "--repo", str(repo), "--env", env, "--commit"]) == 0

        code, document = _cli(capsys, "sync", env, *cluster)
        _kueue_queues(kubeconfig, namespace, queue)
        actions = {(c["kind"], c["name"].split("-")[1] if c["kind"] == "Job" else c["name"]): c["action"]
                   for c in document["changes"]}
        assert actions[("PersistentVolumeClaim", "trainer-data")] == "create"
        assert actions[("HTTPRoute", "chat")] == "create"
        route = get(kubeconfig, namespace, "httproute", "chat")
        assert [(b["name"], b["weight"]) for b in route["spec"]["rules"][0]["backendRefs"]] == [
            ("chat-main", 90), ("chat-lora", 10)]
        assert actions[("Job", "preprocess")] == "create" and actions[("Job", "train")] == "waiting", actions
        assert actions[("Ingress", "rerank")] == actions[("Ingress", "rerank-distilled")] == "create"
        assert _ingress_split(kubeconfig, namespace) == {"rerank-main": None, "rerank-distilled": "20"}

        prep = _job(kubeconfig, namespace, "preprocess")
        _wait("the indexed task", lambda: _job(kubeconfig, namespace, "preprocess")["status"].get("succeeded") == 4)
        assert prep["spec"]["completionMode"] == "Indexed" and prep["spec"]["backoffLimitPerIndex"] == 1

        code, document = _cli(capsys, "sync", env, *cluster)
        train = _job(kubeconfig, namespace, "train")
        assert train["spec"]["suspend"] is True
        assert train["metadata"]["labels"]["kueue.x-k8s.io/queue-name"] == queue
        assert not _pods(kubeconfig, namespace, "train"), "a suspended Job starts no Pod"
        _assert_no_drift(capsys, env, cluster)

        # Kueue admits the workload: another field manager unsuspends the Job.
        kubectl(kubeconfig, "-n", namespace, "patch", "job", train["metadata"]["name"], "--type=merge",
                "--field-manager=kueue-admission", "-p", '{"spec":{"suspend":false}}')
        _wait("the admitted task", lambda: _job(kubeconfig, namespace, "train")["status"].get("succeeded") == 1)
        pod = _pods(kubeconfig, namespace, "train")[0]
        assert pod["spec"]["nodeName"] == "gpu-node-0"
        assert pod["spec"]["nodeSelector"] == {"nvidia.com/gpu.product": "NVIDIA-A100-SXM4-80GB"}
        _assert_no_drift(capsys, env, cluster)
        code, document = _cli(capsys, "sync", env, *cluster)
        assert code == 0 and _job(kubeconfig, namespace, "train")["spec"]["suspend"] is False, "git did not re-suspend"

        # The HPA's scaling (the scale subresource, another manager) is not drift either.
        kubectl(kubeconfig, "-n", namespace, "scale", "deployment", "chat", "--replicas=3")
        _assert_no_drift(capsys, env, cluster)

        # git drops the claim: sync --prune keeps it (and its data).
        text = (repo / "workflows" / "trainer.yaml").read_text()
        data = "        data: {mountPath: /data, claim: {size: 1Gi, accessModes: [ReadWriteMany]}}\n"
        text = text.replace("      volumes:\n" + data, "", 1).replace(data, "")
        # ... and the rerank experiment ends (as an A/B promotion writes it): the canary goes.
        variant = "      variants:\n        distilled: {image: registry.example.com/rerank-distilled:1.0, weight: 20}\n"
        assert variant in text
        text = text.replace(variant, "")
        (repo / "workflows" / "trainer.yaml").write_text(text)
        _commit(repo, "no dataset claim; rerank without its variant")
        assert run(["compile", "--repo", str(repo), "--env", env, "--commit"]) == 0
        code, document = _cli(capsys, "sync", env, *cluster, "--prune")
        claim = get(kubeconfig, namespace, "persistentvolumeclaim", "trainer-data")
        assert claim["metadata"].get("deletionTimestamp") is None
        assert not [c for c in document["changes"] if c["kind"] == "PersistentVolumeClaim" and c["action"] == "delete"]
        pruned = {(c["kind"], c["name"]) for c in document["changes"] if c["action"] == "delete"}
        canary = {("Ingress", "rerank-distilled"), ("Service", "rerank-main"), ("Deployment", "rerank-distilled")}
        assert canary <= pruned, pruned
        assert _ingress_split(kubeconfig, namespace) == {"rerank": None}
        code, document = _cli(capsys, "diff", env, *cluster)  # the changed tasks run again; the rest is clean
        serving = [c for c in document["changes"] if c["kind"] not in ("Job", "PersistentVolumeClaim")]
        assert all(c["action"] == "unchanged" for c in serving), serving
    finally:
        delete_namespaces(kubeconfig, namespace)
        kubectl(kubeconfig, "delete", "clusterqueue", queue, "resourceflavor", queue, "pv", volume,
                "--ignore-not-found", "--wait=false", check=False)


def _assert_no_drift(capsys: pytest.CaptureFixture[str], env: str, cluster: list[str]) -> None:
    code, document = _cli(capsys, "diff", env, *cluster)
    assert code == 0, [(c["kind"], c["name"], c["action"], c.get("fields")) for c in document["changes"]
                       if c["action"] != "unchanged"]


def _ingress_split(kubeconfig: Path, namespace: str) -> dict[str, str | None]:
    """Backend Service → canary weight of each live Ingress (None: not a canary)."""
    live = json.loads(kubectl(kubeconfig, "-n", namespace, "get", "ingresses", "-o", "json"))["items"]
    return {
        i["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]["name"]: i["metadata"]
        .get("annotations", {})
        .get(CANARY_WEIGHT)
        for i in live
        if i["metadata"].get("deletionTimestamp") is None
    }


def _job(kubeconfig: Path, namespace: str, task: str) -> dict[str, Any]:
    items = json.loads(kubectl(kubeconfig, "-n", namespace, "get", "jobs", "-l", f"gitops-agent.io/task={task}",
                               "-o", "json"))["items"]
    assert len(items) == 1, [i["metadata"]["name"] for i in items]
    job: dict[str, Any] = items[0]
    return job


def _pods(kubeconfig: Path, namespace: str, task: str) -> list[dict[str, Any]]:
    pods: list[dict[str, Any]] = json.loads(kubectl(kubeconfig, "-n", namespace, "get", "pods", "-l",
                                                    f"gitops-agent.io/task={task}", "-o", "json"))["items"]
    return pods


def _kubectl_stdin(kubeconfig: Path, body: str) -> None:
    from gitops_agent.adapters.kustomize import kubectl_path

    proc = subprocess.run([kubectl_path(), f"--kubeconfig={kubeconfig}", "create", "-f", "-"], input=body,
                          text=True, capture_output=True, check=False, timeout=60)
    assert proc.returncode == 0, proc.stderr


def _kueue_queues(kubeconfig: Path, namespace: str, queue: str) -> None:
    """ResourceFlavor, ClusterQueue (1 GPU of quota) and LocalQueue: Kueue objects as its
    docs' 'Administer cluster quotas' shows them; the namespace is the environment's."""
    quota = [{"name": queue, "resources": [{"name": r, "nominalQuota": q} for r, q in
                                           (("cpu", "4"), ("memory", "4Gi"), ("nvidia.com/gpu", "1"))]}]
    _kubectl_stdin(kubeconfig, json.dumps({"apiVersion": "v1", "kind": "List", "items": [
        {"apiVersion": "kueue.x-k8s.io/v1beta2", "kind": "ResourceFlavor", "metadata": {"name": queue}},
        {"apiVersion": "kueue.x-k8s.io/v1beta2", "kind": "ClusterQueue", "metadata": {"name": queue},
         "spec": {"namespaceSelector": {}, "resourceGroups": [
             {"coveredResources": ["cpu", "memory", "nvidia.com/gpu"], "flavors": quota}]}},
        {"apiVersion": "kueue.x-k8s.io/v1beta2", "kind": "LocalQueue",
         "metadata": {"name": queue, "namespace": namespace}, "spec": {"clusterQueue": queue}},
    ]}))


def _volume(kubeconfig: Path, name: str) -> None:
    """A PersistentVolume the workflow's claim binds to (the test cluster has no provisioner)."""
    _kubectl_stdin(kubeconfig, json.dumps({
        "apiVersion": "v1", "kind": "PersistentVolume", "metadata": {"name": name},
        "spec": {"capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteMany"],
                 "persistentVolumeReclaimPolicy": "Retain", "hostPath": {"path": f"/tmp/{name}"}},
    }))


DROPPED = """\
apiVersion: gitops-agent.io/v1alpha1
kind: Workflow
metadata: {name: dropper}
spec:
  services:
    api:
      image: registry.example.com/api:1.0
      resources: {cpu: 50m, memory: 64Mi}
      ports: {http: 8080}
      route: {gateway: inference}
      volumes:
        scratch: {mountPath: /scratch, claim: {size: 1Gi, prune: true}}
        results: {mountPath: /results, claim: {size: 1Gi}}
"""


def test_the_last_route_and_claims_dropped_from_git_are_pruned_as_asked(  # type: ignore[no-untyped-def]
    tmp_path: Path, kube_cluster, kueue: str, capsys
) -> None:
    """Once git has no HTTPRoute and no claim left, prune still finds them: the route goes,
    the claim that says ``prune: true`` goes, the other claim (and its data) stays."""
    kubeconfig = kube_cluster.kubeconfig
    suffix = secrets.token_hex(3)
    env, namespace = f"drop{suffix}", f"ml-drop-{suffix}"
    repo = tmp_path / "repo"
    (repo / "workflows").mkdir(parents=True)
    (repo / "environments").mkdir()
    git(repo, "init", "-q", "-b", "main")
    (repo / "workflows" / "dropper.yaml").write_text(DROPPED)
    (repo / "environments" / f"{env}.yaml").write_text(
        "apiVersion: gitops-agent.io/v1alpha1\nkind: Environment\n"
        f"metadata: {{name: {env}}}\nspec: {{namespace: {namespace}, branch: env/{env}}}\n"
    )
    _commit(repo, "api with a route and two claims")
    cluster = ["--repo", str(repo), "--kubeconfig", str(kubeconfig)]
    try:
        assert run(["compile", "--repo", str(repo), "--env", env, "--commit"]) == 0
        code, document = _cli(capsys, "sync", env, *cluster)
        assert code == 0, document
        get(kubeconfig, namespace, "httproute", "api")

        text = DROPPED.replace("      route: {gateway: inference}\n", "").split("      volumes:\n")[0]
        (repo / "workflows" / "dropper.yaml").write_text(text)
        _commit(repo, "no route, no claims")
        assert run(["compile", "--repo", str(repo), "--env", env, "--commit"]) == 0
        code, document = _cli(capsys, "sync", env, *cluster, "--prune")
        deleted = sorted((c["kind"], c["name"]) for c in document["changes"] if c["action"] == "delete")
        assert deleted == [("HTTPRoute", "api"), ("PersistentVolumeClaim", "dropper-scratch")], deleted
        kept = get(kubeconfig, namespace, "persistentvolumeclaim", "dropper-results")
        assert kept["metadata"].get("deletionTimestamp") is None
        _assert_no_drift(capsys, env, cluster)
    finally:
        delete_namespaces(kubeconfig, namespace)
