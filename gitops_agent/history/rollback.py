"""``rollback``: restore an earlier tree of an environment branch with a new commit.

History is never rewritten: the new commit's parent is the branch head and its tree is the
tree of the chosen earlier commit, with a ``Rollback-To: <sha>`` trailer (and the restored
commit's ``Source-Commit`` and ``Spec-Digest``). The branch moves by compare-and-swap; with
an ``origin`` remote it is pushed without force, and a rejected push is retried on top of
the new remote head.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gitops_agent.adapters import git as gitops_git
from gitops_agent.errors import GitError, InvalidInputError
from gitops_agent.history.trailers import ROLLBACK_TO, SOURCE_COMMIT, SPEC_DIGEST, trailer
from gitops_agent.spec.model import Environment

PUSH_ATTEMPTS = 3


@dataclass(frozen=True)
class RollbackResult:
    """What happened to the branch; ``commit`` is None when the head already had the tree."""

    environment: str
    branch: str
    target: str
    previous_head: str
    commit: str | None
    pushed: bool

    @property
    def head(self) -> str:
        return self.commit or self.previous_head

    def to_json(self) -> dict[str, Any]:
        return {
            "environment": self.environment,
            "branch": self.branch,
            "rolled_back_to": self.target,
            "previous_head": self.previous_head,
            "commit": self.commit,
            "pushed": self.pushed,
        }


def rollback_message(env: Environment, target: gitops_git.CommitInfo, head: str) -> str:
    """Subject, what was restored, and the trailers audit reads."""
    trailers = []
    for key in (SOURCE_COMMIT, SPEC_DIGEST):
        value = target.trailer(key)
        if value:
            trailers.append(trailer(key, value))
    trailers.append(trailer(ROLLBACK_TO, target.sha))
    return (
        f"gitops-agent: roll back {env.name} to {target.sha[:12]}\n\n"
        f'Restores the tree of {target.sha[:12]} ("{target.subject}") on {env.branch}.\n'
        f"Previous head: {head}\n\n" + "\n".join(trailers) + "\n"
    )


def _branch_head(handle: gitops_git.Repo, env: Environment, remote: bool) -> tuple[str, str | None]:
    """The commit to build on and the local branch's current value (for compare-and-swap)."""
    branch = env.branch
    if remote:
        gitops_git.fetch(handle, [f"+refs/heads/{branch}:refs/remotes/origin/{branch}"])
    local = gitops_git.rev_parse(handle, f"refs/heads/{branch}")
    upstream = gitops_git.rev_parse(handle, f"refs/remotes/origin/{branch}") if remote else None
    if local is None and upstream is None:
        raise InvalidInputError(
            f"environment {env.name}: branch {branch} does not exist; run `gitops-agent compile --commit` first"
        )
    if local is None or upstream is None or local == upstream:
        return str(upstream or local), local
    if gitops_git.is_ancestor(handle, local, upstream):
        return upstream, local
    if gitops_git.is_ancestor(handle, upstream, local):
        return local, local
    raise GitError(f"branch {branch} has diverged from origin/{branch}; reconcile them by hand")


def rollback_branch(repo: Path, env: Environment, ref: str, *, push: bool = True) -> RollbackResult:
    """Commit ``ref``'s tree on top of ``env.branch`` (refusing a ``ref`` not in its history)."""
    handle = gitops_git.open_repo(repo)
    remote = gitops_git.has_remote(handle)
    branch_ref = f"refs/heads/{env.branch}"
    for attempt in range(1, PUSH_ATTEMPTS + 1):
        head, local = _branch_head(handle, env, remote)
        target = gitops_git.rev_parse(handle, ref)
        if target is None:
            raise InvalidInputError(f"--to {ref}: no such revision")
        if not gitops_git.is_ancestor(handle, target, head):
            raise InvalidInputError(
                f"--to {ref}: {target[:12]} is not on branch {env.branch} of environment "
                f"{env.name}; only its own earlier commits can be restored"
            )
        if gitops_git.tree_of(handle, target) == gitops_git.tree_of(handle, head):
            return RollbackResult(env.name, env.branch, target, head, None, False)
        info = gitops_git.commit_info(handle, target)
        commit = gitops_git.commit_tree(
            handle,
            gitops_git.tree_of(handle, target),
            [head],
            rollback_message(env, info, head),
            env=gitops_git.identity_env(handle),
        )
        gitops_git.update_ref(handle, branch_ref, commit, local, f"gitops-agent: roll back to {target[:12]}")
        if not (remote and push):
            return RollbackResult(env.name, env.branch, target, head, commit, False)
        try:
            gitops_git.push(handle, f"{branch_ref}:{branch_ref}")
        except gitops_git.PushRejected:
            gitops_git.reset_ref(handle, branch_ref, local, commit)
            if attempt == PUSH_ATTEMPTS:
                raise
            continue
        return RollbackResult(env.name, env.branch, target, head, commit, True)
    raise GitError(f"rollback of {env.branch}: the remote kept moving")
