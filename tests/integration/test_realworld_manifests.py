"""Published manifest sets (test data kept next to the repository, in
``../shared/realworld``) carried through an environment's ``resources:``:
``validate``, ``compile --commit`` and ``render`` with real git and the real ``kubectl
kustomize``; and, against the real API server, the duplicate list keys that ``validate``
refuses are shown to fail at apply.

The sets are copied into a temporary GitOps repository at test time; nothing of them is
kept in this repository.
"""

from __future__ import annotations

import contextlib
import io
import json
import re
import shutil
import stat
import subprocess
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

from gitops_agent.adapters.kustomize import kubectl_path
from gitops_agent.cli import run
from gitops_agent.spec.list_keys import CONTAINER_LISTS, POD_SPEC_LISTS, SERVICE_SPEC_LISTS
from tests.integration.reconcile_helpers import kubectl
from tests.support.gitrepos import ROOT, git, make_gitops_repo

pytestmark = pytest.mark.integration

REALWORLD = ROOT.parent / "shared" / "realworld"
# set → the objects its published files hold (README of the sets; Namespaces dropped by wrappers)
SETS = {"argo-cd-install": 59, "cert-manager": 50, "ingress-nginx": 18, "zookeeper-statefulset": 4}
NAMESPACE = "ml-dev"


def cli(argv: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = run(argv)
    return code, out.getvalue(), err.getvalue()


def copy_set(name: str, repo: Path) -> Path:
    """The set's ``manifests/`` copied to ``vendor/<name>`` (writable, as a checkout is)."""
    target = repo / "vendor" / name
    shutil.copytree(REALWORLD / name / "manifests", target)
    for path in [target, *target.rglob("*")]:
        path.chmod(path.stat().st_mode | stat.S_IWUSR)
    return target


def list_resources(repo: Path, entries: list[str]) -> None:
    env = repo / "environments" / "dev.yaml"
    env.write_text(re.sub(r"resources: \[.*\]", f"resources: {json.dumps(entries)}", env.read_text()))
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "vendor " + " ".join(entries))


def kustomize_count(directory: Path) -> int:
    """Objects ``kubectl kustomize`` builds from ``directory`` on its own (a plain directory
    gets a kustomization listing its files, in a copy)."""
    if not (directory / "kustomization.yaml").exists():
        scratch = directory.parent / f".{directory.name}-count"
        shutil.copytree(directory, scratch)
        files = sorted(p.name for p in scratch.iterdir() if p.suffix in (".yaml", ".yml"))
        (scratch / "kustomization.yaml").write_text(f"resources: {json.dumps(files)}\n")
        directory = scratch
    proc = subprocess.run([kubectl_path(), "kustomize", str(directory)], capture_output=True, check=True)
    if directory.name.endswith("-count"):
        shutil.rmtree(directory)
    return sum(1 for d in YAML(typ="safe").load_all(proc.stdout) if isinstance(d, dict))


def rendered(repo: Path) -> list[dict[str, Any]]:
    code, out, err = cli(["render", "dev", "--repo", str(repo), "-o", "json"])
    assert code == 0, err
    objects: list[dict[str, Any]] = json.loads(out)["objects"]
    return objects


@pytest.fixture(scope="module")
def baseline(tmp_path_factory: pytest.TempPathFactory) -> int:
    """Objects the dev environment renders without any published set."""
    repo = make_gitops_repo(tmp_path_factory.mktemp("baseline") / "repo")
    assert cli(["compile", "--repo", str(repo), "--commit", "--env", "dev"])[0] == 0
    return len(rendered(repo))


@pytest.mark.parametrize("name", sorted(SETS))
def test_a_published_set_validates_compiles_and_renders(name: str, baseline: int, tmp_path: Path) -> None:
    repo = make_gitops_repo(tmp_path / "repo")
    source = copy_set(name, repo)
    expected = kustomize_count(source)
    assert expected == SETS[name]
    list_resources(repo, ["manifests/common", f"vendor/{name}"])
    code, _, err = cli(["validate", "--repo", str(repo)])
    assert code == 0, err
    code, _, err = cli(["compile", "--repo", str(repo), "--commit", "--env", "dev"])
    assert code == 0, err
    objects = rendered(repo)
    assert len(objects) == baseline + expected
    namespaces = [o for o in objects if o["kind"] == "Namespace"]
    assert [n["metadata"]["name"] for n in namespaces] == [NAMESPACE]
    namespaced = [o for o in objects if o["metadata"].get("namespace")]
    assert {o["metadata"]["namespace"] for o in namespaced} == {NAMESPACE}
    # the published files are in the branch byte for byte
    for path in sorted(p for p in source.rglob("*") if p.is_file()):
        relative = path.relative_to(repo).as_posix()
        blob = git(repo, "rev-parse", f"env/dev:overlays/dev/extra/{relative}")
        assert blob == git(repo, "hash-object", str(path)), relative


def test_argo_cd_install_with_its_own_namespace(baseline: int, tmp_path: Path) -> None:
    """The published install as people download it, Namespace included (added at test
    time, with a Pod Security label): it folds into the environment's Namespace."""
    repo = make_gitops_repo(tmp_path / "repo")
    source = copy_set("argo-cd-install", repo)
    install = source / "install.yaml"
    published_namespace = (
        b"apiVersion: v1\nkind: Namespace\nmetadata:\n  name: argocd\n"
        b"  labels:\n    pod-security.kubernetes.io/enforce: restricted\n---\n"
    )
    install.write_bytes(published_namespace + install.read_bytes())
    list_resources(repo, ["manifests/common", "vendor/argo-cd-install/install.yaml"])
    assert cli(["validate", "--repo", str(repo)])[0] == 0
    code, _, err = cli(["compile", "--repo", str(repo), "--commit", "--env", "dev"])
    assert code == 0, err
    objects = rendered(repo)
    assert len(objects) == baseline + SETS["argo-cd-install"]
    (namespace,) = [o for o in objects if o["kind"] == "Namespace"]
    assert namespace["metadata"]["name"] == NAMESPACE
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    assert namespace["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "gitops-agent"
    # kustomize alone leaves these ClusterRoleBindings naming ServiceAccounts in "argocd"
    bindings = [o for o in objects if o["kind"] in ("ClusterRoleBinding", "RoleBinding")]
    assert len(bindings) == 9
    assert {s["namespace"] for b in bindings for s in b["subjects"]} == {NAMESPACE}


# --- duplicate list keys: the API server refuses them, validate refuses them first --------------

DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata: {{name: dup}}
spec:
  selector: {{matchLabels: {{app: dup}}}}
  template:
    metadata: {{labels: {{app: dup}}}}
    spec:
      containers:
      - name: web
        image: nginx:1.27
{container}
{pod}
"""
SERVER_CASES = {
    "env": ("        env: [{name: A, value: '1'}, {name: A, value: '2'}]", ""),
    "container ports": ("        ports: [{containerPort: 80}, {containerPort: 80, name: b}]", ""),
    "volumes": (
        "        volumeMounts: [{name: v, mountPath: /a}]",
        "      volumes: [{name: v, emptyDir: {}}, {name: v, emptyDir: {}}]",
    ),
    "volumeMounts": (
        "        volumeMounts: [{name: v, mountPath: /a}, {name: w, mountPath: /a}]",
        "      volumes: [{name: v, emptyDir: {}}, {name: w, emptyDir: {}}]",
    ),
}


@pytest.mark.parametrize("case", sorted(SERVER_CASES))
def test_a_duplicate_list_key_fails_at_apply_and_validate_refuses_it_first(
    case: str, kube_cluster: Any, namespace: str, tmp_path: Path
) -> None:
    container, pod = SERVER_CASES[case]
    manifest = DEPLOYMENT.format(container=container, pod=pod)
    path = tmp_path / "dup.yaml"
    path.write_text(manifest)
    proc = subprocess.run(
        [kubectl_path(), f"--kubeconfig={kube_cluster.kubeconfig}", "-n", namespace, "apply", "--server-side",
         "--field-manager=gitops-agent", "-f", str(path)],
        capture_output=True, text=True, check=False, timeout=60,
    )  # fmt: skip
    assert proc.returncode != 0, f"the API server accepted a duplicate {case}: {proc.stdout}"
    assert not kubectl(kube_cluster.kubeconfig, "-n", namespace, "get", "deployments", "-o", "name").strip()

    repo = make_gitops_repo(tmp_path / "repo")
    (repo / "vendor").mkdir()
    (repo / "vendor" / "dup.yaml").write_text(manifest)
    list_resources(repo, ["vendor/dup.yaml"])
    code, _, err = cli(["validate", "--repo", str(repo)])
    assert code == 2
    located = rf"^vendor/dup\.yaml:\d+:\d+: spec\.template\.spec\.\S+: duplicate {case.split()[-1]}"
    assert re.search(located, err, re.M), err


def test_the_list_key_table_matches_the_servers_openapi(kube_cluster: Any) -> None:
    """Every ``x-kubernetes-list-type: map`` list of PodSpec, Container and ServiceSpec in
    the served OpenAPI is in the table with the same keys; every table entry is a keyed
    list there (list-map keys, or a patch merge key equal to its first key)."""
    document = json.loads(kubectl(kube_cluster.kubeconfig, "get", "--raw", "/openapi/v3/api/v1"))
    schemas = document["components"]["schemas"]
    for schema_name, table in (
        ("io.k8s.api.core.v1.PodSpec", POD_SPEC_LISTS),
        ("io.k8s.api.core.v1.Container", CONTAINER_LISTS),
        ("io.k8s.api.core.v1.EphemeralContainer", CONTAINER_LISTS),
        ("io.k8s.api.core.v1.ServiceSpec", SERVICE_SPEC_LISTS),
    ):
        properties = schemas[schema_name]["properties"]
        served = {
            name: tuple(body["x-kubernetes-list-map-keys"])
            for name, body in properties.items()
            if body.get("x-kubernetes-list-type") == "map"
        }
        for name, keys in served.items():
            assert table.get(name) == keys, (schema_name, name, keys)
        for name, keys in table.items():
            body = properties[name]
            assert served.get(name) == keys or body.get("x-kubernetes-patch-merge-key") == keys[0], (schema_name, name)
