"""The proposal: the recommended values written into the spec files, as one commit on a
branch (never in the user's checkout), with the evidence in the commit message.

Where a value goes (the spec files are edited in the base commit's version):

- into the environment's ``overrides`` when that environment already overrides the field,
  or when the workflow is deployed by more than one environment — the history came from
  this environment only, so the others keep their values;
- otherwise into the workflow file (a service or task that inherits ``defaults`` gets its
  own ``resources``: other tasks and services keep theirs);
- A/B results (image promotion, variant removal) conclude the experiment for the workflow:
  they edit the file that defines the variant (the workflow file, or the overrides).

The commit's parent is the branch's head when the branch exists (so pushing is a
fast-forward), else the base commit. Nothing is committed when nothing is proposed, or
when the branch (or another proposal branch of the environment) already holds that tree.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from pathlib import Path
from typing import Any

from gitops_agent.adapters import git as gitops
from gitops_agent.errors import GitError
from gitops_agent.history.trailers import PROPOSAL_ENVIRONMENT, PROPOSAL_WINDOW, trailer
from gitops_agent.optimize import retrain, yamledit
from gitops_agent.optimize.model import Edit, EditValue, Recommendation, Strategy
from gitops_agent.spec.model import Environment, SpecSet

BRANCH_PREFIX = "gitops-agent/optimize"


def default_branch(env: str, day: date) -> str:
    return f"{BRANCH_PREFIX}/{env}-{day:%Y%m%d}"


class ProposalState(StrEnum):
    CREATED = "created"
    UPDATED = "updated"
    UNCHANGED = "unchanged"
    NOTHING = "nothing-to-propose"


@dataclass(frozen=True)
class FileEdit:
    """One file of the repository and the ``(path, value)`` edits to apply to it."""

    file: str
    edits: tuple[tuple[tuple[str, ...], EditValue], ...]


def _selecting(specs: SpecSet, workflow: str) -> int:
    return sum(1 for env in specs.environments.values() if env.selects(workflow))


def _has(mapping: Any, path: Sequence[str]) -> bool:
    node = mapping
    for key in path:
        if not isinstance(node, Mapping) or key not in node:
            return False
        node = node[key]
    return True


def locate(specs: SpecSet, env: Environment, recommendation: Recommendation, edit: Edit) -> tuple[str, tuple[str, ...]]:
    """The file and the YAML path (from the document root) where ``edit`` is written."""
    workflow = recommendation.target.workflow
    overrides = env.overrides.get(workflow) or {}
    in_env = ("spec", "overrides", workflow, *edit.path)
    in_workflow = ("spec", *edit.path)
    workflow_file = specs.workflows[workflow].source
    if recommendation.strategy is Strategy.EXPERIMENTS:
        variant_path = edit.path[:4] if "variants" in edit.path else edit.path
        if _has(overrides, variant_path) or ("variants" not in edit.path and _has(overrides, edit.path)):
            return env.source, in_env
        return workflow_file, in_workflow
    if _has(overrides, edit.path) or _selecting(specs, workflow) > 1:
        return env.source, in_env
    return workflow_file, in_workflow


def plan_files(specs: SpecSet, env: Environment, recommendations: Sequence[Recommendation]) -> list[FileEdit]:
    """Group the proposed edits by file, in a stable order."""
    grouped: dict[str, list[tuple[tuple[str, ...], EditValue]]] = {}
    for rec in recommendations:
        if not rec.proposed:
            continue
        for edit in rec.edits:
            file, path = locate(specs, env, rec, edit)
            grouped.setdefault(file, []).append((path, edit.value))
    return [FileEdit(file, tuple(edits)) for file, edits in sorted(grouped.items())]


def apply_edits(files: Mapping[str, bytes], plan: Sequence[FileEdit]) -> dict[str, bytes]:
    """The edited contents of the planned files (only those)."""
    changed: dict[str, bytes] = {}
    for item in plan:
        text = files[item.file].decode("utf-8")
        changed[item.file] = yamledit.edit(text, item.edits).encode("utf-8")
    return changed


MESSAGE_LIMIT = 100_000
"""Bytes of commit message at most (it is passed to ``git commit-tree`` as one argument)."""


def message(env: Environment, window: str, recommendations: Sequence[Recommendation]) -> str:
    """The commit message: a subject, each change with its evidence, then the queries.

    Each query is printed once, numbered; a change cites it as ``[Qn]`` with what it
    observed. Past :data:`MESSAGE_LIMIT` the remaining changes are only counted.
    """
    proposed = [r for r in recommendations if r.proposed]
    numbers: dict[str, int] = {}
    for rec in proposed:
        for evidence in rec.evidence:
            numbers.setdefault(evidence.query, len(numbers) + 1)
    head = [
        f"optimize({env.name}): {len(proposed)} change(s) from {window} of Prometheus history",
        "",
    ]
    tail = ["", f"Queries (each over {window}):"]
    tail += [f"[Q{n}] {query}" for query, n in numbers.items()]
    tail += ["", trailer(PROPOSAL_ENVIRONMENT, env.name), trailer(PROPOSAL_WINDOW, window)]
    tail += [
        retrain.trailer(r.target.workflow, r.target.name, str(r.new))
        for r in proposed
        if r.strategy is Strategy.RETRAIN
    ]
    budget = MESSAGE_LIMIT - sum(len(line) + 1 for line in head + tail)
    body: list[str] = []
    for index, rec in enumerate(proposed):
        cited = "; ".join(f"[Q{numbers[e.query]}] {e.observed}" for e in rec.evidence).replace("\n", "\n    ")
        entry = [
            f"- {rec.target} {rec.field}: {_show(rec.old)} -> {_show(rec.new)}",
            f"  {rec.strategy.value}: {rec.reason}",
            *([f"  evidence: {cited}"] if cited else []),
        ]
        size = sum(len(line) + 1 for line in entry)
        if size > budget - 100:
            body.append(f"- … and {len(proposed) - index} more change(s): see the report")
            break
        budget -= size
        body += entry
    return "\n".join(head + body + tail) + "\n"


def _show(value: object) -> str:
    return "(unset)" if value is None else str(value)


def relative(repo: Path, source: str) -> str:
    """A spec's ``source`` as a repository-relative POSIX path."""
    path = Path(source)
    if path.is_absolute():
        return path.resolve().relative_to(repo.resolve()).as_posix()
    return path.as_posix()


@dataclass(frozen=True)
class ProposalResult:
    """What became of the proposal: its branch, commit and files, and whether it was pushed."""

    state: ProposalState
    branch: str
    commit: str | None = None
    base: str | None = None
    files: tuple[str, ...] = ()
    pushed: bool = False
    message: str = ""


Validator = Callable[[Path], None]


def write_proposal(
    repo_path: Path,
    specs: SpecSet,
    env: Environment,
    recommendations: Sequence[Recommendation],
    *,
    branch: str,
    window: str,
    validate: Validator | None = None,
    push: bool = True,
) -> ProposalResult:
    """Commit the proposed edits on ``branch`` (plumbing only) and push it when ``origin``
    exists. ``validate`` receives a directory holding the proposed tree and raises when
    the edited specs are invalid (nothing is written then)."""
    planned = plan_files(specs, env, recommendations)
    if not planned:
        return ProposalResult(ProposalState.NOTHING, branch)
    repo = gitops.open_repo(repo_path)
    base = gitops.head_commit(repo)
    if base is None:
        raise GitError(f"{repo_path}: no commit to propose changes against")
    prefix = _repo_prefix(repo, repo_path)
    files = gitops.list_files(repo, base)
    planned = [FileEdit(prefix + relative(repo_path, p.file), p.edits) for p in planned]
    missing = [p.file for p in planned if p.file not in files]
    if missing:
        raise GitError(f"{', '.join(missing)}: not committed in {base[:12]}; commit the specs first")
    changed = {path: content for path, content in apply_edits(files, planned).items() if content != files[path]}
    if not changed:
        return ProposalResult(ProposalState.NOTHING, branch, base=base)
    if validate is not None:
        _validate_proposed(validate, {**files, **changed}, prefix)
    tree = gitops.write_tree_over(repo, base, changed)
    text = message(env, window, recommendations)
    remote = gitops.has_remote(repo)
    if remote:
        gitops.fetch(repo, [f"+refs/heads/{branch}:refs/remotes/origin/{branch}"])
    local = gitops.rev_parse(repo, f"refs/heads/{branch}")
    upstream = gitops.rev_parse(repo, f"refs/remotes/origin/{branch}") if remote else None
    head = local or upstream
    same = _same_tree_branch(repo, env, branch, head, tree)
    if same is not None:
        name, sha = same
        if name == branch and local is None:
            gitops.update_ref(repo, f"refs/heads/{branch}", sha, None, "gitops-agent optimize")
        return ProposalResult(
            ProposalState.UNCHANGED,
            name,
            sha,
            base,
            tuple(sorted(changed)),
            pushed=False,
            message=text,
        )
    commit = gitops.commit_tree(repo, tree, [head or base], text, env=gitops.identity_env(repo))
    gitops.update_ref(repo, f"refs/heads/{branch}", commit, local, "gitops-agent optimize")
    pushed = False
    if remote and push:
        gitops.push(repo, f"refs/heads/{branch}:refs/heads/{branch}")
        pushed = True
    state = ProposalState.UPDATED if head else ProposalState.CREATED
    return ProposalResult(state, branch, commit, base, tuple(sorted(changed)), pushed, text)


def pending_retrains(repo_path: Path, env: Environment, *, branch: str) -> dict[tuple[str, str], str]:
    """(workflow, task) → run id proposed by an open proposal of ``env``: a proposal branch
    (``gitops-agent/optimize/<env>-*`` or ``branch``), local or on ``origin`` (fetched first,
    so a fresh clone in CI sees the proposals of earlier runs), whose head is not merged into
    the checkout's ``HEAD`` and carries a retrain trailer."""
    repo = gitops.open_repo(repo_path)
    base = gitops.head_commit(repo)
    prefix = f"{BRANCH_PREFIX}/{env.name}-"
    heads: list[str | None] = list(gitops.branch_heads(repo, prefix).values())
    heads.append(gitops.rev_parse(repo, f"refs/heads/{branch}"))
    if gitops.has_remote(repo):
        remote = "refs/remotes/origin/"
        gitops.fetch(repo, [f"+refs/heads/{prefix}*:{remote}{prefix}*", f"+refs/heads/{branch}:{remote}{branch}"])
        heads += gitops.branch_heads(repo, prefix, namespace=remote).values()
        heads.append(gitops.rev_parse(repo, f"{remote}{branch}"))
    found: dict[tuple[str, str], str] = {}
    for sha in sorted({sha for sha in heads if sha is not None}):
        if base is not None and gitops.is_ancestor(repo, sha, base):
            continue
        found.update(retrain.parse_trailers(gitops.commit_info(repo, sha).message))
    return found


def _repo_prefix(repo: Any, repo_path: Path) -> str:
    """Where ``repo_path`` sits in its git work tree (``""`` at the top, else ``dir/``)."""
    top = Path(repo.working_tree_dir or repo_path).resolve()
    prefix = repo_path.resolve().relative_to(top).as_posix()
    return "" if prefix == "." else prefix + "/"


def _validate_proposed(validate: Validator, tree: Mapping[str, bytes], prefix: str) -> None:
    """Write the proposed files under ``prefix`` to a temporary directory and validate them."""
    with tempfile.TemporaryDirectory(prefix="gitops-agent-proposal-") as tmp:
        for path, content in tree.items():
            if path.startswith(prefix):
                target = Path(tmp) / path[len(prefix) :]
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(content)
        validate(Path(tmp))


def _same_tree_branch(repo: Any, env: Environment, branch: str, head: str | None, tree: str) -> tuple[str, str] | None:
    """A proposal branch of this environment that already holds exactly ``tree``."""
    candidates = {} if head is None else {branch: head}
    prefix = f"{BRANCH_PREFIX}/{env.name}-"
    # proposals already fetched from origin count too (a fresh clone has no local branches)
    for name, sha in gitops.branch_heads(repo, prefix, namespace="refs/remotes/origin/").items():
        candidates.setdefault(name, sha)
    candidates.update(gitops.branch_heads(repo, prefix))
    for name, sha in sorted(candidates.items(), key=lambda item: item[0] != branch):
        if gitops.tree_of(repo, sha) == tree:
            return name, sha
    return None
