"""Every recommendation — proposed, below the threshold, without enough data, skipped —
as a JSON document for programs or a table for people, each with its reason."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

from gitops_agent.optimize.model import Recommendation, Status
from gitops_agent.optimize.rightsizing import NO_SERIES


def recommendation_json(rec: Recommendation) -> dict[str, Any]:
    out = {
        "strategy": rec.strategy.value,
        "workflow": rec.target.workflow,
        "kind": rec.target.kind.value,
        "name": rec.target.name,
        "field": rec.field,
        "old": rec.old,
        "new": rec.new,
        "status": rec.status.value,
        "reason": rec.reason,
        "evidence": [{"query": e.query, "window": e.window, "observed": e.observed} for e in rec.evidence],
        "details": dict(rec.details),
    }
    if rec.trials:
        out["trials"] = [dict(trial) for trial in rec.trials]
    return out


def summary(recommendations: Sequence[Recommendation]) -> dict[str, int]:
    counts = Counter(rec.status.value for rec in recommendations)
    return {status.value: counts.get(status.value, 0) for status in Status}


def why_nothing(recommendations: Sequence[Recommendation], namespace: str, window: str) -> str:
    """Why a run proposes nothing, in one line: no series at all (a wrong namespace or no
    cAdvisor scrape, most likely), or how many recommendations stopped where."""
    waiting = [r for r in recommendations if r.status is Status.NOT_ENOUGH_DATA]
    others = [r for r in recommendations if r.status not in (Status.NOT_ENOUGH_DATA, Status.SKIPPED)]
    if waiting and not others and all(r.reason == NO_SERIES for r in waiting):
        return f"Prometheus has no usage series for namespace {namespace} in the last {window}"
    counts = ", ".join(f"{n} {status}" for status, n in summary(recommendations).items() if n)
    return f"no value changes enough to propose ({counts or 'no recommendations'})"


def document(
    *,
    environment: str,
    window: str,
    prometheus: str,
    queries: int,
    recommendations: Sequence[Recommendation],
    proposal: Mapping[str, Any] | None,
    pull_request: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The ``-o json`` document of ``gitops-agent optimize``."""
    return {
        "environment": environment,
        "window": window,
        "prometheus": prometheus,
        "queries": queries,
        "recommendations": [recommendation_json(r) for r in recommendations],
        "summary": summary(recommendations),
        "proposal": dict(proposal) if proposal is not None else None,
        "pullRequest": dict(pull_request) if pull_request is not None else None,
    }


def table(recommendations: Sequence[Recommendation]) -> str:
    """A plain-text table, one row per recommendation."""
    header = ("TARGET", "FIELD", "OLD", "NEW", "STATUS", "REASON")
    rows = [
        (
            str(r.target),
            r.field,
            "-" if r.old is None else str(r.old),
            "-" if r.new is None else str(r.new),
            r.status.value,
            r.reason,
        )
        for r in recommendations
    ]
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header) - 1)]
    lines = []
    for row in [header, *rows]:
        cells = [cell.ljust(widths[i]) for i, cell in enumerate(row[:-1])]
        lines.append("  ".join([*cells, row[-1]]).rstrip())
    return "\n".join(lines)


def markdown_table(recommendations: Sequence[Recommendation]) -> str:
    """The proposed changes as a markdown table (for a pull request's body)."""
    lines = ["| target | field | old | new | why |", "| --- | --- | --- | --- | --- |"]
    for r in recommendations:
        if r.proposed:
            reason = r.reason.replace("|", "\\|")
            old = "(unset)" if r.old is None else r.old  # a field the spec did not set
            lines.append(f"| `{r.target}` | `{r.field}` | {old} | {r.new} | {reason} |")
    return "\n".join(lines)
