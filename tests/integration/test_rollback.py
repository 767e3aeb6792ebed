"""`rollback` against the real control plane: the cluster returns, history only grows."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gitops_agent.cli import run
from gitops_agent.history.notes import SyncEvent, read_sync_notes
from tests.integration.history_helpers import make_history
from tests.support.gitrepos import git
from tools.testcluster.launcher import RunningCluster

pytestmark = pytest.mark.integration


def test_rollback_restores_the_cluster_and_only_adds_a_commit(
    kube_cluster: RunningCluster,
    namespace: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    h = make_history(tmp_path, namespace, kube_cluster.kubeconfig)
    first = h.compile()
    h.sync()
    assert h.live_image_and_replicas() == ("registry.example.com/echo:1.1", 1)

    h.change_spec(tag="1.2", replicas=3, message="echo 1.2, three replicas")
    second = h.compile()
    h.sync()
    assert h.live_image_and_replicas() == ("registry.example.com/echo:1.2", 3)
    before = h.branch_history()
    assert before == [second, first]
    capsys.readouterr()

    assert h.cli("rollback", namespace, "--to", first, "--kubeconfig", str(h.kubeconfig), "-o", "json") == 0
    document = json.loads(capsys.readouterr().out)

    assert h.live_image_and_replicas() == ("registry.example.com/echo:1.1", 1)
    after = h.branch_history()
    assert after[1:] == before, "the rollback must add exactly one commit and drop none"
    rollback = after[0]
    assert document["commit"] == rollback and document["rolled_back_to"] == first
    assert document["pushed"] is True
    assert document["sync"]["summary"]["update"] >= 1
    assert git(h.repo, "rev-parse", f"{rollback}^{{tree}}") == git(h.repo, "rev-parse", f"{first}^{{tree}}")
    assert git(h.repo, "rev-parse", f"{rollback}^") == second
    message = git(h.repo, "log", "-1", "--format=%B", rollback)
    assert f"Rollback-To: {first}" in message
    assert "Source-Commit: " in message
    assert git(h.bare, "rev-parse", f"refs/heads/env/{namespace}") == rollback
    notes = read_sync_notes(h.repo, namespace)
    assert [(n.event, n.revision) for n in notes if n.event is SyncEvent.ROLLBACK] == [(SyncEvent.ROLLBACK, rollback)]
    remote_note = git(h.bare, "notes", "--ref", "refs/notes/gitops-agent", "show", rollback)
    assert '"event":"rollback"' in remote_note


def test_rollback_refuses_a_revision_outside_the_branch(
    kube_cluster: RunningCluster,
    namespace: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    h = make_history(tmp_path, namespace, kube_cluster.kubeconfig)
    h.compile()
    spec_commit = git(h.repo, "rev-parse", "main")
    before = h.branch_history()
    assert h.cli("rollback", namespace, "--to", spec_commit, "--no-sync") == 2
    assert "is not on branch" in capsys.readouterr().err
    assert h.cli("rollback", namespace, "--to", "no-such-ref", "--no-sync") == 2
    assert h.cli("rollback", "nowhere", "--to", before[0], "--no-sync") == 2
    assert h.branch_history() == before
    assert git(h.bare, "rev-parse", f"refs/heads/env/{namespace}") == before[0]


def test_rollback_without_sync_and_to_the_same_tree(
    kube_cluster: RunningCluster,
    namespace: str,
    tmp_path: Path,
) -> None:
    h = make_history(tmp_path, namespace, kube_cluster.kubeconfig)
    first = h.compile()
    h.change_spec(tag="1.3", replicas=2, message="echo 1.3")
    second = h.compile()
    assert h.cli("rollback", namespace, "--to", first, "--no-sync") == 0
    history = h.branch_history()
    assert history[1:] == [second, first]
    # Rolling back again to the same tree adds nothing.
    assert h.cli("rollback", namespace, "--to", first, "--no-sync") == 0
    assert h.branch_history() == history
    # The rollback itself can be rolled back (forward again): history still only grows.
    assert h.cli("rollback", namespace, "--to", second, "--no-sync") == 0
    assert h.branch_history()[1:] == history
    head = h.branch_head()
    assert git(h.repo, "rev-parse", f"{head}^{{tree}}") == git(h.repo, "rev-parse", f"{second}^{{tree}}")
    assert f"Rollback-To: {second}" in git(h.repo, "log", "-1", "--format=%B", head)


def test_rollback_from_a_fresh_clone_builds_on_the_remote_branch(tmp_path: Path) -> None:
    h = make_history(tmp_path, "rollback-clone", tmp_path / "no-kubeconfig")
    first = h.compile()
    h.change_spec(tag="1.5", replicas=2, message="echo 1.5")
    second = h.compile()
    clone = tmp_path / "ci-checkout"
    git(tmp_path, "clone", "-q", str(h.bare), str(clone))
    git(clone, "config", "user.name", "CI")
    git(clone, "config", "user.email", "ci@example.com")
    assert git(clone, "branch", "--list", "env/rollback-clone") == ""
    assert run(["rollback", "rollback-clone", "--to", first, "--no-sync", "--repo", str(clone)]) == 0
    remote_history = git(h.bare, "rev-list", "refs/heads/env/rollback-clone").split()
    assert remote_history[1:] == [second, first]
    assert git(clone, "log", "-1", "--format=%an", remote_history[0]) == "CI"


def test_rollback_retries_when_the_remote_branch_moved_meanwhile(tmp_path: Path) -> None:
    h = make_history(tmp_path, "rollback-race", tmp_path / "no-kubeconfig")
    first = h.compile()
    h.change_spec(tag="1.6", replicas=2, message="echo 1.6")
    second = h.compile()
    hook = h.repo / ".git" / "hooks" / "pre-push"
    hook.write_text(
        "#!/bin/sh\n"  # another writer lands a commit on the branch just before our push
        f'[ -e "{tmp_path}/moved" ] && exit 0\ntouch "{tmp_path}/moved"\n'
        f'b="--git-dir={h.bare}"; ref=refs/heads/env/rollback-race\n'
        "head=$(git $b rev-parse $ref)\n"
        "new=$(GIT_AUTHOR_NAME=o GIT_AUTHOR_EMAIL=o@x GIT_COMMITTER_NAME=o GIT_COMMITTER_EMAIL=o@x "
        'git $b commit-tree "$head^{tree}" -p "$head" -m "meanwhile")\n'
        'git $b update-ref $ref "$new" "$head"\n'
    )
    hook.chmod(0o755)
    assert h.cli("rollback", "rollback-race", "--to", first, "--no-sync") == 0
    assert (tmp_path / "moved").exists()
    remote_history = git(h.bare, "rev-list", "refs/heads/env/rollback-race").split()
    assert len(remote_history) == 4 and remote_history[2:] == [second, first]
    assert git(h.bare, "log", "-1", "--format=%s", remote_history[1]) == "meanwhile"
    assert git(h.bare, "rev-parse", f"{remote_history[0]}^{{tree}}") == git(h.bare, "rev-parse", f"{first}^{{tree}}")
    assert h.branch_history() == remote_history
