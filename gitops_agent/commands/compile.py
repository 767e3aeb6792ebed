"""``gitops-agent compile``: specs → kustomize bases + overlays, optionally committed to env branches."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated

import typer

from gitops_agent.adapters import git as gitops_git
from gitops_agent.app.environment import select_environments
from gitops_agent.commands.common import (
    OutputFormat,
    OutputOption,
    RepoOption,
    VerboseOption,
    configure_logging,
    emit_json,
    say,
)
from gitops_agent.compile import Tree, compile_environment, tree_spec_digest
from gitops_agent.errors import EXIT_OK, Diagnostic, InvalidInputError, SpecError
from gitops_agent.history.branches import BranchResult, commit_environment
from gitops_agent.spec import load_specs
from gitops_agent.spec.model import Environment, SpecSet

log = logging.getLogger(__name__)

SPEC_PATHS = ("workflows", "environments")


def check_branch(handle: gitops_git.Repo, env: Environment, source_commit: str) -> None:
    """An environment branch is a branch of its own: not ``HEAD``, not a full ref name, and
    never a branch holding spec history (committing there would overwrite the specs)."""
    problem = None
    if env.branch == "HEAD" or env.branch.startswith("refs/"):
        problem = f"{env.branch!r} must be a plain branch name (not HEAD or refs/...)"
    else:
        for ref in (f"refs/heads/{env.branch}", f"refs/remotes/origin/{env.branch}"):
            head = gitops_git.rev_parse(handle, ref)
            if head is not None and gitops_git.share_history(handle, head, source_commit):
                problem = (
                    f"branch {env.branch!r} shares history with the specs' commit {source_commit[:12]}; "
                    "an environment branch must be a branch of its own (committing there would overwrite the specs)"
                )
                break
    if problem is not None:
        raise SpecError([Diagnostic(env.source, 0, 0, "spec.branch", problem)])


def compile_trees(repo: Path, specs: SpecSet, envs: list[Environment], source_commit: str | None) -> dict[str, Tree]:
    return {env.name: compile_environment(specs, env, source_commit=source_commit, repo_root=repo) for env in envs}


def write_out(out: Path, trees: dict[str, Tree]) -> None:
    """Each environment's tree below ``out/<env>/``, as its branch would hold it."""
    for env_name, tree in trees.items():
        root = out / env_name
        for path, content in tree.items():
            target = root / path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(content)


def compile_command(
    env: Annotated[
        list[str] | None, typer.Option("--env", "-e", help="Environment(s) to compile (default: all).")
    ] = None,
    out: Annotated[Path | None, typer.Option("--out", help="Write each environment's tree to OUT/<env>/.")] = None,
    commit: Annotated[bool, typer.Option("--commit", help="Commit each environment's tree to its branch.")] = False,
    push: Annotated[
        bool, typer.Option("--push", help="Push the environment branches to origin (implies --commit).")
    ] = False,
    repo: RepoOption = Path(),
    output: OutputOption = OutputFormat.TEXT,
    verbose: VerboseOption = False,
) -> int:
    """Compile workflow specs into kustomize bases and per-environment overlays."""
    configure_logging(verbose)
    specs = load_specs(repo)
    envs = select_environments(specs, env)
    handle = gitops_git.open_repo(repo) if (commit or push) else None
    source_commit = None
    if handle is not None:
        if push and not gitops_git.has_remote(handle):
            raise InvalidInputError("--push: the repository has no origin remote (git remote add origin URL)")
        source_commit = gitops_git.head_commit(handle)
        dirty_paths = [*SPEC_PATHS, *sorted({r for e in envs for r in e.resources})]
        if source_commit is None or gitops_git.is_dirty(handle, dirty_paths):
            raise InvalidInputError(
                "--commit needs committed specs: commit your changes under "
                + ", ".join(dirty_paths)
                + " first (provenance names the spec commit)"
            )
        for environment in envs:
            check_branch(handle, environment, source_commit)
    trees = compile_trees(repo, specs, envs, source_commit)
    if out is not None:
        write_out(out, trees)
    results: list[BranchResult] = []
    if handle is not None:
        for environment in envs:
            results.append(
                commit_environment(handle, environment, trees[environment.name], source_commit=source_commit, push=push)
            )
    by_env = {r.environment: r for r in results}
    report = []
    for environment in envs:
        tree = trees[environment.name]
        result = by_env.get(environment.name)
        report.append(
            {
                "environment": environment.name,
                "branch": environment.branch,
                "files": len(tree),
                "specDigest": tree_spec_digest(tree),
                "commit": result.head if result else None,
                "committed": result.committed if result else False,
                "pushed": result.pushed if result else False,
            }
        )
    if output == OutputFormat.JSON:
        emit_json({"sourceCommit": source_commit, "environments": report})
    else:
        for row in report:
            if row["commit"]:
                state = "new commit" if row["committed"] else "unchanged"
                pushed = ", pushed" if row["pushed"] else ""
                say(
                    f"{row['environment']}: {row['files']} files → {row['branch']} "
                    f"{str(row['commit'])[:12]} ({state}{pushed})"
                )
            else:
                where = f" → {out / str(row['environment'])}" if out else ""
                say(f"{row['environment']}: {row['files']} files{where}")
    return EXIT_OK


def register(app: typer.Typer) -> None:
    app.command("compile")(compile_command)
