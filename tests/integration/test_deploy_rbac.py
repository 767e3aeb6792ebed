"""``deploy/`` on a real control plane: the agent's ServiceAccount may do exactly what the agent
needs (its own SelfSubjectAccessReview check, run with a token minted for that account),
and not more."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import pytest

from gitops_agent.adapters.kube import KubeCluster
from gitops_agent.adapters.kustomize import kubectl_path
from gitops_agent.reconcile.engine import MANAGED_KINDS
from gitops_agent.reconcile.permissions import (
    LEASE_VERBS,
    OBJECT_VERBS,
    POD_VERBS,
    Permission,
    check,
    check_agent_permissions,
    denied,
    required_permissions,
)
from tests.support.cluster import install_crds, kube_api
from tests.support.published_crds import GATEWAY_API, crd_dir
from tests.support.reliability import ReliabilityCounters
from tools.testcluster.launcher import RunningCluster

pytestmark = pytest.mark.integration

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
NAMESPACE = "gitops-agent"


def service_account_kubeconfig(cluster: RunningCluster, path: Path) -> Path:
    """Mint a token for the agent's ServiceAccount (TokenRequest) and write a kubeconfig."""
    api = cluster.api()
    deadline = time.monotonic() + 30
    while api.request("GET", f"/api/v1/namespaces/{NAMESPACE}/serviceaccounts/gitops-agent")[0] != 200:
        assert time.monotonic() < deadline, "ServiceAccount gitops-agent not created"
        time.sleep(0.2)
    status, body = api.request(
        "POST",
        f"/api/v1/namespaces/{NAMESPACE}/serviceaccounts/gitops-agent/token",
        {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": {"expirationSeconds": 600}},
    )
    assert status == 201, body
    config = json.loads(cluster.kubeconfig.read_text())
    config["users"] = [{"name": "gitops-agent", "user": {"token": body["status"]["token"]}}]
    config["contexts"] = [{"name": "agent", "context": {"cluster": "testcluster", "user": "gitops-agent"}}]
    config["current-context"] = "agent"
    path.write_text(json.dumps(config))
    return path


@pytest.fixture(scope="module")
def deployed(kube_cluster: RunningCluster) -> RunningCluster:
    with kube_api(kube_cluster.kubeconfig) as api:  # HTTPRoute, a managed kind, is a CRD
        install_crds(api, crd_dir(GATEWAY_API))
    proc = subprocess.run(
        [kubectl_path(), "--kubeconfig", str(kube_cluster.kubeconfig), "apply", "--server-side", "-k", str(DEPLOY)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    return kube_cluster


def test_service_account_has_every_permission_the_agent_needs(
    deployed: RunningCluster, tmp_path: Path, reliability: ReliabilityCounters
) -> None:
    kubeconfig = service_account_kubeconfig(deployed, tmp_path / "agent.kubeconfig")
    cluster = KubeCluster(kubeconfig)
    try:
        needed, not_served = required_permissions(cluster, lease_namespace=NAMESPACE)
        assert not_served == []  # the test cluster serves every managed kind (monitoring, Gateway API CRDs installed)
        assert len(needed) == len(MANAGED_KINDS) * len(OBJECT_VERBS) + len(POD_VERBS) + len(LEASE_VERBS)
        nodes = Permission("delete", "", "nodes", None, "never needed")
        results = check_agent_permissions(cluster, lease_namespace=NAMESPACE, extra=[nodes])
        reliability.add("access reviews", len(results))
        assert [str(r.permission) for r in denied(results)] == ["delete nodes"]
    finally:
        cluster.close()


def test_service_account_is_denied_what_the_agent_does_not_need(
    deployed: RunningCluster, tmp_path: Path, reliability: ReliabilityCounters
) -> None:
    kubeconfig = service_account_kubeconfig(deployed, tmp_path / "agent.kubeconfig")
    cluster = KubeCluster(kubeconfig)
    try:
        never = [
            Permission("update", "apps", "deployments", None, "the agent only applies"),
            Permission("deletecollection", "", "configmaps", None, "prune deletes one by one"),
            Permission("create", "", "pods/exec", "default", "no exec"),
            Permission("escalate", "rbac.authorization.k8s.io", "clusterroles", None, "no escalation"),
            Permission("bind", "rbac.authorization.k8s.io", "clusterroles", None, "no escalation"),
            Permission("impersonate", "", "users", None, "no impersonation"),
            Permission("list", "", "nodes", None, "nodes are not managed"),
            Permission("get", "", "pods", "default", "pods are not managed"),
            Permission("update", "coordination.k8s.io", "leases", "kube-system", "only its own Lease namespace"),
            Permission("delete", "coordination.k8s.io", "leases", NAMESPACE, "the Lease is never deleted"),
        ]
        results = check(cluster, never)
        reliability.add("access reviews", len(results))
        assert [r.permission for r in denied(results)] == never
    finally:
        cluster.close()


def test_deployment_runs_the_leader_elected_loop_as_non_root(deployed: RunningCluster) -> None:
    status, body = deployed.api().request("GET", f"/apis/apps/v1/namespaces/{NAMESPACE}/deployments/gitops-agent")
    assert status == 200, body
    pod = body["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == "gitops-agent"
    assert pod["securityContext"]["runAsNonRoot"] is True
    agent = pod["containers"][0]
    assert agent["args"][0] == "reconcile" and "--leader-elect" in agent["args"]
    assert agent["securityContext"]["allowPrivilegeEscalation"] is False


def test_deployment_and_image_arguments_are_accepted_by_the_cli(capsys: pytest.CaptureFixture[str]) -> None:
    """The flags in deploy/deployment.yaml and the Dockerfile's CMD are real options (click
    rejects an unknown option before it honours --help)."""
    from ruamel.yaml import YAML

    from gitops_agent.cli import run

    documents = list(YAML(typ="safe").load_all((DEPLOY / "deployment.yaml").read_text()))
    deployment = next(d for d in documents if d["kind"] == "Deployment")
    args = deployment["spec"]["template"]["spec"]["containers"][0]["args"]
    dockerfile = (DEPLOY.parent / "Dockerfile").read_text()
    cmd = json.loads(next(line for line in dockerfile.splitlines() if line.startswith("CMD "))[4:])
    for argv in (args, cmd):
        assert run([*argv, "--help"]) == 0, capsys.readouterr().err
        assert "--leader-elect" in capsys.readouterr().out
    assert run(["reconcile", "--no-such-flag", "--help"]) == 2
