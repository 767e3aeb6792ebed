"""Write a compiled tree to its environment branch: one commit only when the output changed.

The user's HEAD, index and working files are never touched (git plumbing only), a branch
moves atomically with compare-and-swap, and a push is never forced: on a non-fast-forward
the remote branch is fetched and the commit is made again on top of it.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass

from gitops_agent import __version__
from gitops_agent.adapters import git as gitops_git
from gitops_agent.compile import SOURCE_FILE, tree_spec_digest
from gitops_agent.errors import GitError
from gitops_agent.history.trailers import SOURCE_COMMIT, SPEC_DIGEST, trailer
from gitops_agent.spec.model import Environment

log = logging.getLogger(__name__)

PUSH_ATTEMPTS = 5


@dataclass(frozen=True)
class BranchResult:
    """What happened to one environment branch."""

    environment: str
    branch: str
    head: str | None
    committed: bool
    pushed: bool
    spec_digest: str


def commit_message(env: Environment, tree: Mapping[str, bytes], source_commit: str | None) -> str:
    """Subject, a short body and the provenance trailers."""
    source = source_commit or "uncommitted"
    workflows = sorted({path.split("/")[1] for path in tree if path.startswith("base/")})
    return (
        f"gitops-agent: compile {env.name} from {source[:12]}\n\n"
        f"Workflows: {', '.join(workflows) or '(none)'}\n"
        f"Namespace: {env.namespace}\n"
        f"Tool: gitops-agent {__version__}\n\n"
        f"{trailer(SOURCE_COMMIT, source)}\n"
        f"{trailer(SPEC_DIGEST, tree_spec_digest(tree))}\n"
    )


def _same_output(repo: gitops_git.Repo, commit: str, tree: Mapping[str, bytes]) -> bool:
    """Whether ``commit`` already holds ``tree`` (provenance file aside)."""
    existing = gitops_git.list_files(repo, commit)
    existing.pop(SOURCE_FILE, None)
    return existing == {path: data for path, data in tree.items() if path != SOURCE_FILE}


def _parent(repo: gitops_git.Repo, local: str | None, remote: str | None, branch: str) -> str | None:
    if remote is None or remote == local:
        return local
    if local is None or gitops_git.is_ancestor(repo, local, remote):
        return remote
    if gitops_git.is_ancestor(repo, remote, local):
        return local
    raise GitError(f"branch {branch} has diverged from origin/{branch}; reconcile them by hand")


def commit_environment(
    repo: gitops_git.Repo,
    env: Environment,
    tree: Mapping[str, bytes],
    *,
    source_commit: str | None,
    push: bool = False,
) -> BranchResult:
    """Commit ``tree`` to ``env.branch`` if it differs from the branch's head; optionally push."""
    ref = f"refs/heads/{env.branch}"
    tracking = f"refs/remotes/origin/{env.branch}"
    message = commit_message(env, tree, source_commit)
    tree_sha = gitops_git.write_tree(repo, tree)
    for attempt in range(1, PUSH_ATTEMPTS + 1):
        remote_head = None
        if push:
            gitops_git.fetch(repo, [f"+{ref}:{tracking}"])
            remote_head = gitops_git.rev_parse(repo, tracking)
        local = gitops_git.rev_parse(repo, ref)
        parent = _parent(repo, local, remote_head, env.branch)
        committed = False
        if parent is not None and _same_output(repo, parent, tree):
            head = parent
        else:
            head = gitops_git.commit_tree(
                repo, tree_sha, [parent] if parent else [], message, env=gitops_git.identity_env(repo)
            )
            committed = True
        if head != local:
            gitops_git.update_ref(repo, ref, head, local, f"gitops-agent: compile {env.name}")
        if not push or head == remote_head:
            return BranchResult(env.name, env.branch, head, committed, False, tree_spec_digest(tree))
        try:
            gitops_git.push(repo, f"{ref}:{ref}")
        except gitops_git.PushRejected:
            log.warning(
                "push of %s rejected (attempt %d/%d); fetching and retrying", env.branch, attempt, PUSH_ATTEMPTS
            )
            if committed:
                # Our commit was not accepted: put the local branch back where it was.
                gitops_git.reset_ref(repo, ref, local, head)
            continue
        return BranchResult(env.name, env.branch, head, committed, True, tree_spec_digest(tree))
    raise GitError(f"push of {env.branch} still rejected after {PUSH_ATTEMPTS} attempts")
