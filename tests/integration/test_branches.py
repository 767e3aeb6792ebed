"""Environment branches on real git repositories: commits only on change, the user's
checkout untouched, provenance trailers, and push races that never lose a commit."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gitops_agent.adapters import git as g
from gitops_agent.cli import run
from tests.support.gitrepos import GitRemote, git

pytestmark = pytest.mark.integration

ENVS = ("dev", "prod", "staging")


def branch_heads(repo: Path) -> dict[str, str]:
    return {env: git(repo, "rev-parse", f"env/{env}") for env in ENVS}


def compile_commit(repo: Path, *extra: str) -> int:
    return run(["compile", "--commit", "--repo", str(repo), *extra])


def edit(repo: Path, path: str, old: str, new: str) -> None:
    target = repo / path
    text = target.read_text()
    assert old in text
    target.write_text(text.replace(old, new))


def test_a_commit_appears_only_when_the_output_changed(gitops_repo: Path) -> None:
    assert compile_commit(gitops_repo) == 0
    first = branch_heads(gitops_repo)
    assert compile_commit(gitops_repo) == 0
    assert branch_heads(gitops_repo) == first  # nothing changed, no commit

    (gitops_repo / "NOTES.md").write_text("not a spec\n")
    git(gitops_repo, "add", "NOTES.md")
    git(gitops_repo, "commit", "-q", "-m", "Unrelated change")
    assert compile_commit(gitops_repo) == 0
    assert branch_heads(gitops_repo) == first  # the compiled output is the same

    edit(gitops_repo, "workflows/fraud-risk-scoring.yaml", "timeout: 2h", "timeout: 3h")
    git(gitops_repo, "commit", "-q", "-am", "Longer scoring timeout")
    assert compile_commit(gitops_repo) == 0
    second = branch_heads(gitops_repo)
    assert second["prod"] == first["prod"]  # prod does not deploy fraud-risk-scoring
    for env in ("dev", "staging"):
        assert second[env] != first[env]
        assert git(gitops_repo, "rev-parse", f"{second[env]}^") == first[env]  # one commit on top


def test_commits_carry_provenance(gitops_repo: Path) -> None:
    assert compile_commit(gitops_repo) == 0
    head = git(gitops_repo, "rev-parse", "HEAD")
    repo = g.open_repo(gitops_repo)
    for env in ENVS:
        info = g.commit_info(repo, f"env/{env}")
        assert info.trailer("Source-Commit") == head
        source = json.loads(git(gitops_repo, "show", f"env/{env}:.gitops-agent/source.json"))
        assert info.trailer("Spec-Digest") == source["specDigest"]
        assert source["sourceCommit"] == head and source["environment"] == env
        files = git(gitops_repo, "ls-tree", "-r", "--name-only", f"env/{env}").splitlines()
        assert f"overlays/{env}/kustomization.yaml" in files


def test_the_users_checkout_is_untouched(gitops_repo: Path) -> None:
    (gitops_repo / "NOTES.md").write_text("staged\n")
    git(gitops_repo, "add", "NOTES.md")
    (gitops_repo / "scratch.txt").write_text("untracked\n")
    before = (
        git(gitops_repo, "rev-parse", "HEAD"),
        git(gitops_repo, "symbolic-ref", "HEAD"),
        git(gitops_repo, "write-tree"),
        git(gitops_repo, "status", "--porcelain"),
    )
    assert compile_commit(gitops_repo) == 0
    after = (
        git(gitops_repo, "rev-parse", "HEAD"),
        git(gitops_repo, "symbolic-ref", "HEAD"),
        git(gitops_repo, "write-tree"),
        git(gitops_repo, "status", "--porcelain"),
    )
    assert after == before
    assert (gitops_repo / "scratch.txt").read_text() == "untracked\n"
    assert not (gitops_repo / "base").exists() and not (gitops_repo / "overlays").exists()


def test_uncommitted_spec_changes_are_refused(gitops_repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    edit(gitops_repo, "workflows/fraud-risk-scoring.yaml", "timeout: 2h", "timeout: 3h")
    assert compile_commit(gitops_repo) == 2
    assert "commit your changes" in capsys.readouterr().err
    assert git(gitops_repo, "branch", "--list", "env/*") == ""


def test_push_creates_remote_branches(git_remote: GitRemote) -> None:
    clone = git_remote.clone("a")
    assert compile_commit(clone, "--push") == 0
    for env in ENVS:
        assert git(git_remote.bare, "rev-parse", f"env/{env}") == git(clone, "rev-parse", f"env/{env}")


def test_a_rejected_push_is_retried_on_top_of_the_other_commit(
    git_remote: GitRemote, monkeypatch: pytest.MonkeyPatch
) -> None:
    first, second = git_remote.clone("first"), git_remote.clone("second")
    assert compile_commit(first, "--push", "--env", "dev") == 0
    git(second, "fetch", "-q", "origin")  # second knows the old env/dev ...

    # ... and the first clone pushes a new env/dev right after the second clone fetched,
    # so the second clone's first push is a non-fast-forward.
    edit(first, "workflows/fraud-risk-scoring.yaml", "timeout: 2h", "timeout: 3h")
    git(first, "commit", "-q", "-am", "first: longer timeout")
    edit(second, "workflows/customer-service-agent.yaml", "replicas: 2", "replicas: 3")
    git(second, "commit", "-q", "-am", "second: more retrievers")

    real_fetch = g.fetch
    calls = {"n": 0}

    def racing_fetch(repo, refspecs, remote="origin"):  # type: ignore[no-untyped-def]
        real_fetch(repo, refspecs, remote)
        calls["n"] += 1
        if calls["n"] == 1:
            assert run(["compile", "--commit", "--push", "--env", "dev", "--repo", str(first)]) == 0

    monkeypatch.setattr(g, "fetch", racing_fetch)
    assert compile_commit(second, "--push", "--env", "dev") == 0
    assert calls["n"] >= 2  # it fetched again after the rejection

    first_commit = git(first, "rev-parse", "env/dev")
    remote_head = git(git_remote.bare, "rev-parse", "env/dev")
    assert remote_head != first_commit
    assert git(git_remote.bare, "merge-base", "--is-ancestor", first_commit, remote_head) == ""
    assert git(git_remote.bare, "rev-parse", f"{remote_head}^") == first_commit  # on top, nothing lost
    log = git(git_remote.bare, "log", "--format=%s", "env/dev")
    assert len(log.splitlines()) == 3
    # The final tree holds the second clone's output.
    deployment = git(git_remote.bare, "show", f"{remote_head}:base/customer-service-agent/deployment-retriever.yaml")
    assert "replicas: 3" in deployment
