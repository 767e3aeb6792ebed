"""Drift and heal on published manifest sets (ingress-nginx, cert-manager, the Argo CD install,
a ZooKeeper StatefulSet), each carried through an environment's ``resources:`` as a user would:
compile, sync, ``diff`` exits 0; a person's edit is reported as exactly that object with the
field manager's name; one plain ``sync`` heals it; ``diff`` exits 0 again; ``sync --prune``
deletes nothing that a controller created.

The sets are read from ``../shared/realworld`` (copied into each test's own GitOps repository,
never into this one)."""

from __future__ import annotations

import json
import secrets
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from gitops_agent.cli import run
from tests.integration.reconcile_helpers import kubectl
from tests.support.gitrepos import git

pytestmark = pytest.mark.integration

REALWORLD = Path(__file__).resolve().parents[3] / "shared" / "realworld"
CONTROLLER_MADE = ("replicasets.apps", "pods", "controllerrevisions.apps", "persistentvolumeclaims",
                   "endpointslices.discovery.k8s.io", "jobs.batch")


@dataclass(frozen=True)
class Edit:
    """A person's out-of-band edit: the kubectl arguments, the object it drifts, its manager."""

    args: tuple[str, ...]
    kind: str
    name: str
    manager: str


SETS: dict[str, Edit] = {
    # git sets no replicas here: scaling it is not drift; the image is
    "ingress-nginx": Edit(("set", "image", "deployment/ingress-nginx-controller",
                           "controller=registry.k8s.io/ingress-nginx/controller:v0.0.1"),
                          "Deployment", "ingress-nginx-controller", "kubectl-set"),
    "cert-manager": Edit(("set", "image", "deployment/cert-manager-webhook",
                          "cert-manager-webhook=quay.io/jetstack/cert-manager-webhook:v0.0.1"),
                         "Deployment", "cert-manager-webhook", "kubectl-set"),
    "argo-cd-install": Edit(("patch", "configmap", "argocd-cm", "--field-manager=kubectl-edit", "--type=merge",
                             "-p", '{"data":{"timeout.reconciliation":"1s"}}'),
                            "ConfigMap", "argocd-cm", "kubectl-edit"),
    "zookeeper-statefulset": Edit(("scale", "statefulset/zk", "--replicas=5"), "StatefulSet", "zk", "kubectl"),
}


@dataclass
class Deployed:
    repo: Path
    env: str
    namespace: str
    kubeconfig: Path

    def agent(self, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, dict]:  # type: ignore[type-arg]
        capsys.readouterr()
        code = run([*args, self.env, "--repo", str(self.repo), "--kubeconfig", str(self.kubeconfig), "-o", "json"])
        out, err = capsys.readouterr()
        assert out, f"{args}: exit {code}: {err}"
        return code, json.loads(out)

    def settle(self) -> None:
        """Wait until the controllers are done on their own: every Deployment's rollout complete
        (old ReplicaSets scaled down) and every Job with ``ttlSecondsAfterFinished`` finished and
        removed by the TTL controller (ingress-nginx's admission Jobs say 0), with its Pods."""
        for name in kubectl(self.kubeconfig, "-n", self.namespace, "get", "deployments", "-o", "name").split():
            kubectl(self.kubeconfig, "-n", self.namespace, "rollout", "status", name, "--timeout=50s")
        jobs = json.loads(kubectl(self.kubeconfig, "-n", self.namespace, "get", "jobs", "-o", "json"))["items"]
        for job in jobs:
            if job["spec"].get("ttlSecondsAfterFinished") is not None:
                name = job["metadata"]["name"]
                kubectl(self.kubeconfig, "-n", self.namespace, "wait", "--for=delete", f"job/{name}", "--timeout=50s")

    def controller_made(self) -> dict[str, list[str]]:
        """uid of every object controllers made in the namespace, by resource."""
        found: dict[str, list[str]] = {}
        for resource in CONTROLLER_MADE:
            items = json.loads(kubectl(self.kubeconfig, "-n", self.namespace, "get", resource, "-o", "json"))["items"]
            found[resource] = sorted(item["metadata"]["uid"] for item in items)
        return found


def changed(document: dict) -> list[tuple[str, str, str]]:  # type: ignore[type-arg]
    return [(c["action"], c["kind"], c["name"]) for c in document["changes"] if c["action"] != "unchanged"]


@pytest.fixture(params=sorted(SETS))
def deployed(request: pytest.FixtureRequest, tmp_path: Path, kube_cluster) -> Iterator[Deployed]:  # type: ignore[no-untyped-def]
    name = request.param
    suffix = secrets.token_hex(3)
    env, namespace = f"rw{suffix}", f"rw-{name[:12]}-{suffix}"
    repo = tmp_path / "repo"
    (repo / "workflows").mkdir(parents=True)
    (repo / "environments").mkdir()
    shutil.copytree(REALWORLD / name / "manifests", repo / "vendor" / name)
    (repo / "environments" / f"{env}.yaml").write_text(
        "apiVersion: gitops-agent.io/v1alpha1\nkind: Environment\n"
        f"metadata: {{name: {env}}}\n"
        f"spec:\n  namespace: {namespace}\n  branch: env/{env}\n  workflows: []\n"
        f"  resources: [vendor/{name}]\n  sync: {{prune: true, selfHeal: true}}\n"
    )
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", f"Deploy {name}")
    assert run(["compile", "--repo", str(repo), "--commit"]) == 0
    yield Deployed(repo, env, namespace, kube_cluster.kubeconfig)
    # not waited for: PVCs of a StatefulSet keep their protection finalizer while no kubelet runs
    kubectl(kube_cluster.kubeconfig, "delete", "namespace", namespace, "--wait=false")
    cluster_scoped = kubectl(kube_cluster.kubeconfig, "get", "clusterroles,clusterrolebindings,"
                             "validatingwebhookconfigurations,mutatingwebhookconfigurations,"
                             "customresourcedefinitions,ingressclasses", "-l",
                             f"gitops-agent.io/environment={env}", "-o", "name").split()
    if cluster_scoped:
        # waited for: the next set (or the same set's next test) creates the same global names
        kubectl(kube_cluster.kubeconfig, "delete", "--wait=true", "--timeout=120s", *cluster_scoped)


@pytest.mark.timeout(900)
def test_published_set_syncs_clean_heals_a_persons_edit_and_prunes_nothing_controllers_made(
    deployed: Deployed, capsys: pytest.CaptureFixture[str], request: pytest.FixtureRequest
) -> None:
    edit = SETS[request.node.callspec.params["deployed"]]
    code, first = deployed.agent(capsys, "sync")
    assert code == 0, [c for c in first["changes"] if c["action"] == "error"]
    assert first["summary"]["create"] > 1
    code, clean = deployed.agent(capsys, "diff")
    assert code == 0, changed(clean)

    kubectl(deployed.kubeconfig, "-n", deployed.namespace, *edit.args)
    code, drifted = deployed.agent(capsys, "diff")
    assert code == 1
    assert changed(drifted) == [("update", edit.kind, edit.name)]
    [entry] = [c for c in drifted["changes"] if c["action"] == "update"]
    assert [author["manager"] for author in entry["changedBy"]] == [edit.manager]

    code, healed = deployed.agent(capsys, "sync")
    assert code == 0, healed
    assert changed(healed) == [("update", edit.kind, edit.name)]
    code, clean = deployed.agent(capsys, "diff")
    assert code == 0, changed(clean)

    # sync --prune deletes nothing that a controller created (one deployment per set: the
    # sets' cluster-scoped objects have global names)
    deployed.settle()  # the heal's rollout replaces Pods by itself; only prune is under test
    before = deployed.controller_made()
    code, pruned = deployed.agent(capsys, "sync", "--prune")
    assert code == 0
    assert [c for c in pruned["changes"] if c["action"] == "delete"] == []
    after = deployed.controller_made()
    for resource, uids in before.items():
        assert set(uids) <= set(after[resource]), f"{resource} deleted by prune"
