"""An environment's extra ``resources:`` may reference secrets, never carry their values."""

from __future__ import annotations

from pathlib import Path

import pytest

from gitops_agent.cli import run
from tests.support.gitrepos import git, make_gitops_repo

SEALED = """\
apiVersion: bitnami.com/v1alpha1
kind: SealedSecret
metadata: {name: db}
spec:
  encryptedData: {password: AgBy3i4OJSWK+PiTySYZZA==}
"""
EXTERNAL = """\
apiVersion: external-secrets.io/v1beta1
kind: ExternalSecret
metadata: {name: db}
spec:
  secretStoreRef: {name: vault, kind: ClusterSecretStore}
  target: {name: db}
  data: [{secretKey: password, remoteRef: {key: db/password}}]
"""
EMPTY_SECRET = "apiVersion: v1\nkind: Secret\nmetadata: {name: filled-later}\ntype: Opaque\n"

REFUSED = {
    "data": "apiVersion: v1\nkind: Secret\nmetadata: {name: db}\ndata: {password: aHVudGVyMg==}\n",
    "stringData": "apiVersion: v1\nkind: Secret\nmetadata: {name: db}\nstringData: {password: hunter2}\n",
    "second document": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n---\n"
    "apiVersion: v1\nkind: Secret\nmetadata: {name: db}\nstringData: {password: hunter2}\n",
}


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return make_gitops_repo(tmp_path / "repo")


def compile_with(repo: Path, name: str, text: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    (repo / "manifests" / "common" / name).write_text(text)
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", f"add {name}")
    code = run(["compile", "--repo", str(repo), "--commit", "--env", "dev"])
    return code, capsys.readouterr().err


@pytest.mark.parametrize("case", sorted(REFUSED))
def test_secret_with_values_is_refused(repo: Path, case: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, err = compile_with(repo, "db-secret.yaml", REFUSED[case], capsys)
    assert code == 2
    assert err.startswith("error: manifests/common/db-secret.yaml:")
    assert "must not be committed to git" in err
    assert "hunter2" not in err and "aHVudGVyMg" not in err
    assert git(repo, "branch", "--list", "env/*") == ""


def test_secret_generator_in_a_kustomize_dir_is_refused(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (repo / "manifests" / "common" / "kustomization.yaml").write_text(
        "resources: [networkpolicy.yaml, serviceaccounts.yaml]\n"
        "secretGenerator:\n- name: db\n  literals: [password=hunter2]\n"
    )
    code, err = compile_with(repo, "x.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n", capsys)
    assert code == 2
    assert "manifests/common/kustomization.yaml" in err and "secretGenerator" in err


@pytest.mark.parametrize("text", [SEALED, EXTERNAL, EMPTY_SECRET], ids=["sealed", "external", "no-values"])
def test_secret_references_are_fine(repo: Path, text: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, err = compile_with(repo, "ref.yaml", text, capsys)
    assert code == 0, err
    assert git(repo, "rev-parse", "--verify", "env/dev")
