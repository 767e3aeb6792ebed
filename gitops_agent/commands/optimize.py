"""``gitops-agent optimize [ENV]``: Prometheus history → recommendations → a proposal commit
on a branch (and, with ``--pr``, a pull request). The cluster is never touched."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer

from gitops_agent.commands.common import (
    OutputFormat,
    OutputOption,
    RepoOption,
    emit_json,
    progress,
    say,
)
from gitops_agent.errors import EXIT_OK, InvalidInputError
from gitops_agent.optimize import report, sweeps
from gitops_agent.optimize.engine import fetch, nothing_to_do, plan_for, recommend, replay_proposals
from gitops_agent.optimize.model import Recommendation
from gitops_agent.optimize.proposal import (
    ProposalResult,
    ProposalState,
    default_branch,
    write_proposal,
)
from gitops_agent.spec.model import Environment, SpecSet, Workflow
from gitops_agent.spec.urls import http_url_problem

_DURATION = re.compile(r"^[1-9]\d*[smhdw]$")


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
    from gitops_agent.spec import effective_workflow

    return [effective_workflow(specs, env, name) for name in sorted(specs.workflows) if env.selects(name)]


def _validator(env_name: str) -> Any:
    def validate(root: Path) -> None:
        from gitops_agent.compile import compile_environment
        from gitops_agent.spec import load_specs

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


def optimize(
    env: Annotated[str | None, typer.Argument(help="Environment (default: the only one).")] = None,
    window: Annotated[
        str | None,
        typer.Option("--window", help="History window, e.g. 7d (default: the policies')."),
    ] = None,
    branch: Annotated[
        str | None,
        typer.Option("--branch", help="Proposal branch (default gitops-agent/optimize/<env>-<date>)."),
    ] = None,
    pr: Annotated[bool, typer.Option("--pr", help="Open or update a GitHub pull request.")] = False,
    prometheus: Annotated[
        str | None,
        typer.Option("--prometheus", help="Prometheus URL (overrides the environment's)."),
    ] = None,
    timeout: Annotated[float, typer.Option("--timeout", help="Seconds to wait for each Prometheus query.")] = 60.0,
    repo: RepoOption = Path(),
    output: OutputOption = OutputFormat.TEXT,
) -> int:
    """Recommend requests, limits, HPA bounds and A/B outcomes; propose them as a commit."""
    from gitops_agent.adapters import git as gitops
    from gitops_agent.adapters.github import GitHubClient
    from gitops_agent.adapters.prometheus import PrometheusClient
    from gitops_agent.spec import load_specs

    if window is not None and not _DURATION.match(window):
        raise InvalidInputError(f"--window {window}: not a duration such as 30m, 12h or 7d")
    specs = load_specs(repo)
    environment = _environment(specs, env)
    url = prometheus or environment.prometheus_url
    if not url:
        raise InvalidInputError(f"{environment.source}: spec.prometheus.url is not set (or pass --prometheus URL)")
    problem = http_url_problem(url) if prometheus else None  # the environment's: checked by validate
    if problem:
        raise InvalidInputError(f"--prometheus {prometheus}: {problem}")
    github = None
    if pr:
        handle = gitops.open_repo(repo)
        if not gitops.has_remote(handle):
            raise InvalidInputError("--pr: the repository has no origin remote to push the branch to")
        github = GitHubClient.from_environment(gitops.remote_url(handle))
    workflows = _workflows(specs, environment)
    sweeps.require_algorithms(workflows)
    query_plan = plan_for(environment.namespace, workflows, window)
    client = PrometheusClient(url, timeout=timeout)
    started = time.monotonic()
    if not query_plan.queries:
        client.check(at=time.time())  # an unreachable Prometheus fails even with nothing to ask
    idle = nothing_to_do(workflows)
    if idle is not None:
        return _nothing(environment.name, url, idle, output)
    at = time.time()
    fetched = fetch(client, query_plan, at=at)
    recs = replay_proposals(client, workflows, recommend(workflows, fetched), fetched, at=at)
    progress(f"{len(client.log.queries)} PromQL queries over {query_plan.window} in {time.monotonic() - started:.2f}s")
    chosen = branch or default_branch(environment.name, datetime.now(UTC).date())
    result = write_proposal(
        repo,
        specs,
        environment,
        recs,
        branch=chosen,
        window=query_plan.window,
        validate=_validator(environment.name),
    )
    pull: dict[str, Any] | None = None
    if github is not None and result.state is not ProposalState.NOTHING:
        if not result.pushed:
            handle = gitops.open_repo(repo)
            gitops.push(handle, f"refs/heads/{result.branch}:refs/heads/{result.branch}")
        # the pull request targets the branch the proposal was based on; from a detached
        # HEAD (as CI checkouts often are), the repository's default branch
        base = gitops.run(gitops.open_repo(repo), "rev-parse", "--abbrev-ref", "HEAD")
        if base == "HEAD":
            base = github.default_branch()
        proposed = sum(1 for r in recs if r.proposed)
        opened = github.open_or_update_pull_request(
            branch=result.branch,
            base=base,
            title=f"gitops-agent: optimize {environment.name} ({proposed} change(s))",
            body=_pr_body(environment, query_plan.window, recs, result),
        )
        pull = {"number": opened.number, "url": opened.url, "created": opened.created}
    proposal = {
        "state": result.state.value,
        "branch": result.branch if result.state is not ProposalState.NOTHING else None,
        "commit": result.commit,
        "base": result.base,
        "files": list(result.files),
        "pushed": result.pushed,
        **(
            {"why": report.why_nothing(recs, environment.namespace, query_plan.window)}
            if result.state is ProposalState.NOTHING
            else {}
        ),
    }
    if output == OutputFormat.JSON:
        emit_json(
            report.document(
                environment=environment.name,
                window=query_plan.window,
                prometheus=url,
                queries=len(client.log.queries),
                recommendations=recs,
                proposal=proposal,
                pull_request=pull,
            )
        )
        return EXIT_OK
    say(report.table(recs))
    counts = ", ".join(f"{n} {status}" for status, n in report.summary(recs).items() if n)
    say(f"{len(recs)} recommendation(s): {counts or 'none'}")
    if result.state is ProposalState.NOTHING:
        say(f"nothing to propose: {report.why_nothing(recs, environment.namespace, query_plan.window)}")
    elif result.state is ProposalState.UNCHANGED:
        say(f"already proposed on {result.branch} ({(result.commit or '')[:12]})")
    else:
        pushed = " and pushed" if result.pushed else ""
        commit = (result.commit or "")[:12]
        say(f"proposal {result.state.value} on {result.branch} ({commit}){pushed}")
    if pull is not None:
        verb = "opened" if pull["created"] else "updated"
        say(f"pull request #{pull['number']} {verb}: {pull['url']}")
    return EXIT_OK


def _nothing(env: str, url: str, why: str, output: OutputFormat) -> int:
    """One line (or a JSON document with ``nothing``) saying why there is nothing to do."""
    if output == OutputFormat.JSON:
        emit_json({"environment": env, "prometheus": url, "nothing": why, "recommendations": [], "proposal": None})
    else:
        say(f"nothing to optimize in {env}: {why}")
    return EXIT_OK


def register(app: typer.Typer) -> None:
    app.command("optimize")(optimize)
