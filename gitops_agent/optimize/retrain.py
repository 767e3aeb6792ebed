"""Retraining on model decay (pure): a policy's model-quality query, its mean over the window,
and a new run id for the training task when the mean is on the wrong side of the threshold.

The rule (docs/optimize.md, "Retraining on model decay"):

- the mean is over every value of every series the query returns, evaluated every
  :data:`RESOLUTION` over the window: ``sum(sum_over_time((q)[W:5m])) /
  sum(count_over_time((q)[W:5m]))`` — one request for all policies (:func:`batch_query`); NaN values (a ratio
  over zero fresh labels) are left out (``(q) >= -Inf`` keeps every other value);
- fewer than :data:`MIN_POINTS` values: ``not-enough-data``;
- a breach is ``mean < threshold`` (``direction: below``, e.g. accuracy) or
  ``mean > threshold`` (``above``, e.g. a drift score); equal is not a breach;
- the proposal sets the task's ``runId`` to ``retrain-<window end, UTC>``
  (:func:`run_id_for`), which gives its Job a new name, so the reconciler runs it and, through
  the ``upstream-runs`` stamp, everything downstream of it, each after its upstream succeeded.

Not twice for one breach: when the task's current run id is a retrain whose window end lies
inside this window (the windows overlap), the breach already has its run
(``unchanged``); when an open proposal branch already proposes a run id for the task, that
same run id is proposed again, so the proposal's tree, and so its commit, stays the same.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from gitops_agent.history.trailers import PROPOSAL_RETRAIN
from gitops_agent.history.trailers import trailer as history_trailer
from gitops_agent.optimize.model import Edit, Evidence, Recommendation, Status, Strategy, Target, TargetKind
from gitops_agent.spec.model import Direction, Retrain, Workflow
from gitops_agent.vocabulary.durations import parse_duration

RESOLUTION = "5m"
MIN_POINTS = 12
"""Values needed in the window (an hour at 5-minute resolution) before a mean is trusted."""
RUN_PREFIX = "retrain-"
_RUN_TIME = "%Y%m%dT%H%M%SZ"
_RUN_ID = re.compile(r"^retrain-(\d{8}T\d{6}Z)$")
FIELD = "runId"
TRAILER = PROPOSAL_RETRAIN


@dataclass(frozen=True)
class Quality:
    """What a policy's query returned over the window: the sum and the number of values."""

    total: float
    points: int

    @property
    def mean(self) -> float | None:
        return self.total / self.points if self.points else None


NAMESPACE_VARIABLE = "$namespace"
"""Replaced in a policy's query by the environment's namespace (one workflow file serves
every environment; its model's series are told apart by namespace)."""


def quality_query(policy: Retrain, namespace: str) -> str:
    """One instant query answering the sum (``stat="sum"``) and count (``stat="points"``)
    of the policy query's values over its window, at :data:`RESOLUTION`, NaN left out;
    ``$namespace`` in the query is the environment's ``namespace``."""
    query = policy.query.replace(NAMESPACE_VARIABLE, namespace)
    inner = f"(({query}) >= -Inf)[{policy.window}:{RESOLUTION}]"
    total = f'label_replace(sum(sum_over_time({inner})), "stat", "sum", "", "")'
    points = f'label_replace(sum(count_over_time({inner})), "stat", "points", "", "")'
    return f"{total} or {points}"


POLICY_LABEL = "policy"


def batch_query(queries: Sequence[str]) -> str:
    """The :func:`quality_query` of several policies as one request, each answer labelled
    ``policy="<index>"`` (so the number of requests does not grow with the policies)."""
    return " or ".join(f'label_replace({q}, "{POLICY_LABEL}", "{i}", "", "")' for i, q in enumerate(queries))


def split_batch(rows: Sequence[tuple[Mapping[str, str], float]], count: int) -> list[Quality]:
    """The answer of :func:`batch_query` as one :class:`Quality` per policy, in order."""
    grouped: dict[str, list[tuple[Mapping[str, str], float]]] = {str(i): [] for i in range(count)}
    for labels, value in rows:
        grouped.setdefault(labels.get(POLICY_LABEL, ""), []).append((labels, value))
    return [quality_of(grouped[str(i)]) for i in range(count)]


def quality_of(rows: Sequence[tuple[Mapping[str, str], float]]) -> Quality:
    """Fold the answer of :func:`quality_query` (no rows: no data)."""
    stats = {labels.get("stat", ""): value for labels, value in rows}
    return Quality(total=stats.get("sum", 0.0), points=int(stats.get("points", 0.0)))


def breached(policy: Retrain, mean: float) -> bool:
    """``mean`` on the wrong side of the threshold (strictly)."""
    if policy.direction is Direction.BELOW:
        return mean < policy.threshold
    return mean > policy.threshold


def run_id_for(window_end: datetime) -> str:
    """``retrain-20261130T120000Z``: the run id of a retrain for the breach window ending then."""
    return RUN_PREFIX + window_end.astimezone(UTC).strftime(_RUN_TIME)


def window_end_of(run_id: str | None) -> datetime | None:
    """The breach window end a retrain run id records (None for any other run id)."""
    match = _RUN_ID.match(run_id or "")
    if match is None:
        return None
    return datetime.strptime(match.group(1), _RUN_TIME).replace(tzinfo=UTC)


def trailer(workflow: str, task: str, run_id: str) -> str:
    return history_trailer(TRAILER, f"{workflow}/{task} {run_id}")


def parse_trailers(message: str) -> dict[tuple[str, str], str]:
    """(workflow, task) → run id from the retrain trailers of a commit message."""
    found: dict[tuple[str, str], str] = {}
    for line in message.splitlines():
        name, sep, value = line.partition(":")
        if not sep or name.strip() != TRAILER:
            continue
        target, _, run_id = value.strip().partition(" ")
        workflow, slash, task = target.partition("/")
        if slash and run_id:
            found[(workflow, task)] = run_id.strip()
    return found


def recommend(
    workflow: Workflow,
    policy: Retrain,
    quality: Quality,
    *,
    at: datetime,
    pending: Mapping[tuple[str, str], str],
    namespace: str,
) -> Recommendation:
    """The retrain recommendation of one policy, evaluated at ``at`` (the window's end) in
    the environment's ``namespace``.

    ``pending``: run ids already proposed on open proposal branches, by (workflow, task).
    """
    task = next(t for t in workflow.tasks if t.name == policy.task)
    target = Target(workflow.name, TargetKind.TASK, task.name)
    side = "<" if policy.direction is Direction.BELOW else ">"
    mean = quality.mean
    observed = f"mean {mean:.6g} over {quality.points} values" if mean is not None else "no values"
    evidence = (Evidence(quality_query(policy, namespace), policy.window, observed),)
    details: dict[str, float | str] = {
        "threshold": policy.threshold,
        "direction": policy.direction.value,
        "points": quality.points,
        "windowEnd": at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    if mean is not None:
        details["mean"] = mean
    if task.run_id is not None:
        details["replaces"] = task.run_id

    def result(status: Status, reason: str, new: str | None = None) -> Recommendation:
        edits = (Edit(("tasks", task.name, FIELD), new),) if new is not None else ()
        return Recommendation(
            Strategy.RETRAIN, target, FIELD, task.run_id, new, status, reason, evidence, edits, details
        )

    if mean is None or quality.points < MIN_POINTS:
        return result(Status.NOT_ENOUGH_DATA, f"{quality.points} values in {policy.window} (at least {MIN_POINTS})")
    if not breached(policy, mean):
        return result(Status.UNCHANGED, f"model quality holds: mean {mean:.6g} is not {side} {policy.threshold:g}")
    breach = f"mean {mean:.6g} {side} {policy.threshold:g} over {policy.window}"
    previous = window_end_of(task.run_id)
    if previous is not None and previous > at - timedelta(seconds=parse_duration(policy.window) or 0):
        return result(
            Status.UNCHANGED,
            f"{breach}, but run {task.run_id} already retrains for a breach whose window overlaps this one",
        )
    proposed = pending.get((workflow.name, task.name))
    if proposed is not None:
        return result(Status.PROPOSE, f"{breach}; run {proposed} is already proposed (kept)", proposed)
    new = run_id_for(at)
    replaces = f"replacing run {task.run_id}" if task.run_id else "the first retrain"
    return result(Status.PROPOSE, f"{breach}: run the task again as {new} ({replaces})", new)
