"""Every example workflow in every environment: compile, commit, sync (tasks finishing as a
kubelet would report them), then ``diff`` reports no difference (exit 0)."""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
from ruamel.yaml import YAML

from gitops_agent.cli import run
from tests.integration.reconcile_helpers import add_environment, delete_namespaces, finish_job, kubectl
from tests.support.gitrepos import make_gitops_repo

pytestmark = pytest.mark.integration
ENVIRONMENTS = ("dev", "staging", "prod")


@pytest.fixture(scope="module")
def examples_repo(  # type: ignore[no-untyped-def]
    tmp_path_factory: pytest.TempPathFactory, kube_cluster
) -> Iterator[tuple[Path, dict[str, tuple[str, str]]]]:
    """The examples; each environment copied under a name and namespace unique to this run
    (the ownership label carries the environment's name: other tests' "dev" is not ours)."""
    repo = make_gitops_repo(tmp_path_factory.mktemp("examples") / "repo")
    suffix = secrets.token_hex(3)
    copies: dict[str, tuple[str, str]] = {}
    for env in ENVIRONMENTS:
        copies[env] = (f"{env}{suffix}", f"ml-{env}-{suffix}")
        add_environment(repo, env, *copies[env])
    for name, _ in copies.values():
        assert run(["compile", "--repo", str(repo), "--env", name, "--commit"]) == 0
    yield repo, copies
    delete_namespaces(kube_cluster.kubeconfig, *(namespace for _, namespace in copies.values()))


def context_of(kubeconfig: Path) -> str:
    """staging and prod name their own kubeconfig contexts; the test cluster has one."""
    return str(YAML(typ="safe").load(kubeconfig.read_text())["current-context"])


def sync_json(repo: Path, env: str, kubeconfig: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, dict]:  # type: ignore[type-arg]
    capsys.readouterr()
    code = run(["sync", env, "--repo", str(repo), "--kubeconfig", str(kubeconfig),
                "--context", context_of(kubeconfig), "-o", "json"])
    out, err = capsys.readouterr()
    assert out, f"exit {code}: {err}"
    return code, json.loads(out)


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_sync_then_diff_is_clean(env: str, examples_repo, kube_cluster, capsys) -> None:  # type: ignore[no-untyped-def]
    repo, copies = examples_repo
    kubeconfig = kube_cluster.kubeconfig
    env, namespace = copies[env]
    finished: set[str] = set()
    for _ in range(10):
        code, document = sync_json(repo, env, kubeconfig, capsys)
        assert code == 0, document
        assert document["environment"] == env and len(document["revision"]) == 40
        waiting = [c for c in document["changes"] if c["action"] == "waiting"]
        if not waiting:
            break
        jobs = json.loads(kubectl(kubeconfig, "-n", namespace, "get", "jobs", "-o", "json"))["items"]
        for job in jobs:
            name = job["metadata"]["name"]
            if name not in finished:
                finish_job(kubeconfig, namespace, name)
                finished.add(name)
    else:
        pytest.fail("tasks never all ran")

    capsys.readouterr()
    code = run(["diff", env, "--repo", str(repo), "--kubeconfig", str(kubeconfig),
                "--context", context_of(kubeconfig), "-o", "json"])
    document = json.loads(capsys.readouterr().out)
    assert code == 0, [c for c in document["changes"] if c["action"] != "unchanged"]
    assert document["summary"]["create"] == document["summary"]["update"] == document["summary"]["delete"] == 0
    assert document["summary"]["unchanged"] == len(document["changes"]) > 10
    kinds = {c["kind"] for c in document["changes"]}
    assert {"Namespace", "Deployment", "Service", "Job", "ConfigMap"} <= kinds
    # text output agrees, and says so in one line per environment
    capsys.readouterr()
    assert run(["diff", env, "--repo", str(repo), "--kubeconfig", str(kubeconfig),
                "--context", context_of(kubeconfig)]) == 0
    assert f"{env} @ " in capsys.readouterr().out
