"""``gitops-agent optimize [ENV]``: Prometheus history → recommendations → a proposal commit
on a branch (and, with ``--pr``, a pull request). The cluster is never touched."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from gitops_agent.commands.common import (
    OutputFormat,
    OutputOption,
    RepoOption,
    emit_json,
    parse_seconds,
    progress,
    say,
)
from gitops_agent.errors import EXIT_OK, InvalidInputError
from gitops_agent.vocabulary.durations import parse_duration
from gitops_agent.vocabulary.urls import http_url_problem

if TYPE_CHECKING:
    from gitops_agent.app.optimize import OptimizeOutcome


def optimize(
    env: Annotated[str | None, typer.Argument(help="Environment (default: the only one).")] = None,
    window: Annotated[
        str | None,
        typer.Option(
            "--window", help="History window, e.g. 7d (default: the longest rightsizing.window, else 7d)."
        ),
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
    timeout: Annotated[
        str, typer.Option("--timeout", help="How long to wait for each Prometheus query (e.g. 30s).")
    ] = "60s",
    repo: RepoOption = Path(),
    output: OutputOption = OutputFormat.TEXT,
) -> int:
    """Propose requests, limits, HPA bounds, A/B winners, sweep generations and retraining from
    Prometheus history, as a commit on a branch (never a cluster edit)."""
    from gitops_agent.app.optimize import OptimizeRequest, optimize_environment

    if window is not None and parse_duration(window) is None:
        raise InvalidInputError(f"--window {window}: not a duration such as 30m, 12h or 7d")
    if prometheus is not None and (problem := http_url_problem(prometheus)):
        raise InvalidInputError(f"--prometheus {prometheus}: {problem}")
    request = OptimizeRequest(env, window, branch, pr, prometheus, parse_seconds(timeout, "--timeout"))
    outcome = optimize_environment(repo, request, progress)
    if outcome.nothing is not None:
        return _nothing(outcome.environment.name, outcome.prometheus, outcome.nothing, output)
    if output == OutputFormat.JSON:
        _print_json(outcome)
    else:
        _print_text(outcome)
    return EXIT_OK


def _print_json(outcome: OptimizeOutcome) -> None:
    from gitops_agent.optimize import report

    emit_json(
        report.document(
            environment=outcome.environment.name,
            window=outcome.window,
            prometheus=outcome.prometheus,
            queries=outcome.queries,
            recommendations=outcome.recommendations,
            proposal=outcome.proposal_json(),
            pull_request=outcome.pull,
        )
    )


def _print_text(outcome: OptimizeOutcome) -> None:
    from gitops_agent.optimize import report
    from gitops_agent.optimize.proposal import ProposalState

    recs, result = outcome.recommendations, outcome.result
    say(report.table(recs))
    counts = ", ".join(f"{n} {status}" for status, n in report.summary(recs).items() if n)
    say(f"{len(recs)} recommendation(s): {counts or 'none'}")
    if result is None or result.state is ProposalState.NOTHING:
        say(f"nothing to propose: {report.why_nothing(recs, outcome.environment.namespace, outcome.window)}")
    elif result.state is ProposalState.UNCHANGED:
        say(f"already proposed on {result.branch} ({(result.commit or '')[:12]})")
    else:
        pushed = " and pushed" if result.pushed else ""
        say(f"proposal {result.state.value} on {result.branch} ({(result.commit or '')[:12]}){pushed}")
    if outcome.pull is not None:
        verb = "opened" if outcome.pull["created"] else "updated"
        say(f"pull request #{outcome.pull['number']} {verb}: {outcome.pull['url']}")


def _nothing(env: str, url: str, why: str, output: OutputFormat) -> int:
    """One line (or a JSON document with ``nothing``) saying why there is nothing to do."""
    if output == OutputFormat.JSON:
        emit_json({"environment": env, "prometheus": url, "nothing": why, "recommendations": [], "proposal": None})
    else:
        say(f"nothing to optimize in {env}: {why}")
    return EXIT_OK


def register(app: typer.Typer) -> None:
    app.command("optimize")(optimize)
