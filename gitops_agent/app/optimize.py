"""``optimize`` for one environment: Prometheus history → recommendations → a proposal commit
on a branch and, when asked, a pull request. The cluster is never touched."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from gitops_agent.adapters import git as gitops_git
from gitops_agent.adapters.github import GitHubClient
from gitops_agent.adapters.prometheus import PrometheusClient
from gitops_agent.compile import compile_environment
from gitops_agent.errors import InvalidInputError, SpecError
from gitops_agent.optimize import report, sweeps
from gitops_agent.optimize.model import Recommendation
from gitops_agent.optimize.proposal import (
    ProposalResult,
    ProposalState,
    default_branch,
    pending_retrains,
    write_proposal,
)
from gitops_agent.optimize.recommend import (
    RefusedPolicyQuery,
    fetch,
    nothing_to_do,
    plan_for,
    recommend,
    replay_proposals,
    retrain_recommendations,
)
from gitops_agent.spec import effective_workflow, load_specs
from gitops_agent.spec.loader import locate
from gitops_agent.spec.model import Environment, SpecSet, Workflow

Say = Callable[[str], None]


@dataclass(frozen=True)
class OptimizeRequest:
    """What ``optimize`` was asked: the environment (None: the only one), the history window
    (None: the policies'), the proposal branch (None: the dated default), whether to open a
    pull request, the Prometheus URL (None: the environment's) and the per-query timeout (s)."""

    environment: str | None = None
    window: str | None = None
    branch: str | None = None
    pull_request: bool = False
    prometheus: str | None = None
    timeout: float = 60.0


@dataclass(frozen=True)
class OptimizeOutcome:
    """What ``optimize`` did. ``nothing`` says why no query was needed (then no proposal);
    ``pull`` is the pull request opened or updated (number, url, created)."""

    environment: Environment
    prometheus: str
    window: str
    queries: int
    recommendations: list[Recommendation]
    result: ProposalResult | None = None
    pull: dict[str, Any] | None = None
    nothing: str | None = None

    def proposal_json(self) -> dict[str, Any] | None:
        """The proposal part of ``-o json``."""
        result = self.result
        if result is None:
            return None
        document: dict[str, Any] = {
            "state": result.state.value,
            "branch": result.branch if result.state is not ProposalState.NOTHING else None,
            "commit": result.commit,
            "base": result.base,
            "files": list(result.files),
            "pushed": result.pushed,
        }
        if result.state is ProposalState.NOTHING:
            document["why"] = report.why_nothing(self.recommendations, self.environment.namespace, self.window)
        return document


def _environment(specs: SpecSet, name: str | None) -> Environment:
    if name is None:
        if len(specs.environments) != 1:
            known = ", ".join(sorted(specs.environments)) or "none"
            raise InvalidInputError(f"ENV: name the environment to optimize (known: {known})")
        return next(iter(specs.environments.values()))
    if name not in specs.environments:
        known = ", ".join(sorted(specs.environments)) or "none"
        raise InvalidInputError(f"ENV {name}: no such environment (known: {known})")
    return specs.environments[name]


def _workflows(specs: SpecSet, env: Environment) -> list[Workflow]:
    return [effective_workflow(specs, env, name) for name in sorted(specs.workflows) if env.selects(name)]


def _validator(env_name: str) -> Any:
    def validate(root: Path) -> None:
        try:
            specs = load_specs(root)
            env = specs.environments[env_name]
            _workflows(specs, env)
            compile_environment(specs, env, source_commit=None, repo_root=root)
        except InvalidInputError as error:
            raise InvalidInputError(
                f"the proposed values would not validate, nothing was committed:\n{error}"
            ) from error

    return validate


def _pr_body(env: Environment, window: str, recs: list[Recommendation], result: ProposalResult) -> str:
    lines = [
        f"Proposed by `gitops-agent optimize {env.name}` from {window} of Prometheus history "
        f"(namespace `{env.namespace}`).",
        "",
        report.markdown_table(recs),
        "",
        "<details><summary>Evidence</summary>",
        "",
        "```",
        result.message.strip(),
        "```",
        "",
        "</details>",
    ]
    return "\n".join(lines) + "\n"


def _github(repo: Path) -> GitHubClient:
    """The GitHub client of the repository's origin (``--pr``); InvalidInputError without one."""
    handle = gitops_git.open_repo(repo)
    if not gitops_git.has_remote(handle):
        raise InvalidInputError("--pr: the repository has no origin remote to push the branch to")
    return GitHubClient.from_environment(gitops_git.remote_url(handle))


def _retrains(
    repo: Path, specs: SpecSet, env: Environment, client: PrometheusClient, workflows: list[Workflow],
    *, at: float, branch: str,
) -> list[Recommendation]:
    """Retrain proposals; a query Prometheus refuses is a located error at the policy (exit 2)."""
    try:
        return retrain_recommendations(
            client,
            workflows,
            at=datetime.fromtimestamp(at, UTC),
            pending=pending_retrains(repo, env, branch=branch),
            namespace=env.namespace,
        )
    except RefusedPolicyQuery as refused:
        source = specs.workflows[refused.workflow].source
        where = locate(repo, source, "workflow", refused.workflow, refused.path, refused.message)
        raise SpecError([where]) from refused


def _open_pull_request(
    repo: Path, github: GitHubClient, env: Environment, window: str, recs: list[Recommendation],
    result: ProposalResult,
) -> dict[str, Any]:
    """Push the proposal branch if needed and open or update its pull request."""
    if not result.pushed:
        handle = gitops_git.open_repo(repo)
        gitops_git.push(handle, f"refs/heads/{result.branch}:refs/heads/{result.branch}")
    # the pull request targets the branch the proposal was based on; from a detached
    # HEAD (as CI checkouts often are), the repository's default branch
    base = gitops_git.run(gitops_git.open_repo(repo), "rev-parse", "--abbrev-ref", "HEAD")
    if base == "HEAD":
        base = github.default_branch()
    proposed = sum(1 for r in recs if r.proposed)
    opened = github.open_or_update_pull_request(
        branch=result.branch,
        base=base,
        title=f"gitops-agent: optimize {env.name} ({proposed} change(s))",
        body=_pr_body(env, window, recs, result),
    )
    return {"number": opened.number, "url": opened.url, "created": opened.created}


def optimize_environment(repo: Path, request: OptimizeRequest, say: Say) -> OptimizeOutcome:
    """Run every policy of the environment's workflows on its Prometheus and write what they
    propose as one commit on the proposal branch (and a pull request with ``pull_request``).

    Raises InvalidInputError/SpecError (exit 2) for a bad environment, window or policy,
    PrometheusError (exit 3) when Prometheus cannot be reached, GitError/GitHubError when git
    or GitHub refuse.
    """
    specs = load_specs(repo)
    env = _environment(specs, request.environment)
    url = request.prometheus or env.prometheus_url
    if not url:
        raise InvalidInputError(f"{env.source}: spec.prometheus.url is not set (or pass --prometheus URL)")
    github = _github(repo) if request.pull_request else None
    workflows = _workflows(specs, env)
    sweeps.require_algorithms(workflows)
    query_plan = plan_for(env.namespace, workflows, request.window)
    client = PrometheusClient(url, timeout=request.timeout)
    started = time.monotonic()
    if not query_plan.queries:
        client.check(at=time.time())  # an unreachable Prometheus fails even with nothing to ask
    idle = nothing_to_do(workflows)
    if idle is not None:
        return OptimizeOutcome(env, url, query_plan.window, len(client.log.queries), [], nothing=idle)
    at = time.time()
    fetched = fetch(client, query_plan, at=at)
    recs = replay_proposals(client, workflows, recommend(workflows, fetched), fetched, at=at)
    chosen = request.branch or default_branch(env.name, datetime.now(UTC).date())
    recs += _retrains(repo, specs, env, client, workflows, at=at, branch=chosen)
    say(f"{len(client.log.queries)} PromQL queries over {query_plan.window} in {time.monotonic() - started:.2f}s")
    result = write_proposal(
        repo, specs, env, recs, branch=chosen, window=query_plan.window, validate=_validator(env.name)
    )
    pull = None
    if github is not None and result.state is not ProposalState.NOTHING:
        pull = _open_pull_request(repo, github, env, query_plan.window, recs, result)
    return OptimizeOutcome(env, url, query_plan.window, len(client.log.queries), recs, result, pull)
