"""Hyperparameter sweeps: the trials' objectives from Prometheus → the next generation, or
the best trial's parameters in the training task (pure, but for Optuna's sampler).

The objective contract (docs/optimize.md): each trial exports ``<metric>`` with the labels
``namespace``, ``workflow``, ``task`` and ``trial`` (the trial's number, its position in
``sweep.trials``); a trial's objective is the last value of its series in the window
(``last_over_time``), the best of its series when there are several (a retried pod).

Decision, per sweep (Katib's experiment loop, one generation at a time):

1. a trial of the newest generation without an objective (in git or in Prometheus):
   ``not-enough-data``, nothing proposed — the generation is still running;
2. fewer trials than the budget (``maxTrialCount``, the grid's size at most): the next
   generation, ``min(parallelTrialCount, budget left)`` trials — grid: the next points;
   random: seeded samples of generation *g*; optuna: TPE told every finished trial — with
   the finished trials' objectives written next to them in ``sweep.trials``;
3. the budget spent: the best trial (lowest or highest objective by ``goal``, the lowest
   number on a tie) has its parameters written as environment variables of
   ``trainingTask``; ``unchanged`` once git holds them and every objective.

A generation is proposed from the state of git, so a re-run before the proposal is merged
proposes the same generation (the same commit tree), never a second one.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

from gitops_agent.errors import InvalidInputError
from gitops_agent.optimize import tpe
from gitops_agent.optimize.model import Edit, Evidence, Recommendation, Status, Strategy, Target, TargetKind
from gitops_agent.optimize.queries import Query, QueryKind
from gitops_agent.spec.model import ParameterValue, Sweep, Task, Trial, Workflow
from gitops_agent.spec.search_space import Point, all_trials, as_trials, budget, next_points

TrialKey = tuple[str, str, int]
"""(workflow, task, trial number)"""


def sweeps_of(workflows: Sequence[Workflow]) -> list[tuple[Workflow, Task, Sweep]]:
    return [(w, t, t.sweep) for w in workflows for t in w.tasks if t.sweep is not None]


def require_algorithms(workflows: Sequence[Workflow]) -> None:
    """Refuse, before any query, a sweep whose algorithm needs a missing optional extra.

    :raises InvalidInputError: ``<file>: spec.tasks.<task>.sweep.algorithm: …`` (exit 2).
    """
    for workflow, task, sweep in sweeps_of(workflows):
        if sweep.algorithm == "optuna" and not tpe.available():
            raise InvalidInputError(f"{workflow.source}: spec.tasks.{task.name}.sweep.algorithm: {tpe.MISSING}")


def _quoted(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"')


def objective_query(namespace: str, window: str, found: Sequence[tuple[Workflow, Task, Sweep]]) -> Query:
    """One instant query for the objectives of every sweep of the environment: per sweep
    ``max|min by (workflow, task, trial) (last_over_time({__name__="<metric>",…}[W]))``
    (``max`` when maximizing), the terms joined by ``or`` (their ``workflow``/``task`` labels
    differ). The name is a ``__name__`` matcher, not a bare identifier: a valid metric name
    can be a PromQL keyword or literal (``bool``, ``nan``, ``inf``), which the parser refuses
    before a ``{`` (Prometheus docs, "Querying basics": ``{__name__=…}`` selects any name)."""
    terms = []
    for workflow, task, sweep in found:
        selector = (
            f'__name__="{_quoted(sweep.metric)}",namespace="{_quoted(namespace)}",'
            f'workflow="{_quoted(workflow.name)}",task="{_quoted(task.name)}",trial!=""'
        )
        best = "max" if sweep.maximize else "min"
        terms.append(f"{best} by (workflow, task, trial) (last_over_time({{{selector}}}[{window}]))")
    return Query(QueryKind.SWEEP, " or ".join(terms))


def _show(value: ParameterValue) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return value if isinstance(value, str) else json.dumps(value)


def _parameters(point: Point) -> str:
    return " ".join(f"{name}={_show(value)}" for name, value in point.items())


def _objective_text(trial: Trial) -> str:
    if trial.failed:
        return "failed"
    return "-" if trial.objective is None else f"{trial.objective:.6g}"


def trials_table(trials: Sequence[Trial]) -> str:
    """The trials as a plain-text table: number, generation, objective, parameters."""
    header = ("trial", "generation", "objective", "parameters")
    rows = [
        (
            str(t.number),
            str(t.generation),
            _objective_text(t),
            _parameters(t.parameters),
        )
        for t in trials
    ]
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(3)]
    return "\n".join(
        "  ".join([*(row[i].ljust(widths[i]) for i in range(3)), row[3]]).rstrip() for row in [header, *rows]
    )


def trial_yaml(trial: Trial) -> dict[str, Any]:
    """A trial as ``sweep.trials`` holds it (generation, parameters, objective)."""
    entry: dict[str, Any] = {"generation": trial.generation, "parameters": dict(trial.parameters)}
    if trial.finished:
        entry["objective"] = trial.objective  # None (null): failed
    return entry


def best_trial(sweep: Sweep, trials: Sequence[Trial]) -> Trial | None:
    """The finished trial with the best objective by ``goal`` (the lowest number on a tie)."""
    finished = [t for t in trials if t.objective is not None]
    if not finished:
        return None
    sign = -1.0 if sweep.maximize else 1.0
    return min(finished, key=lambda t: (sign * (t.objective or 0.0), t.number))


def next_generation(sweep: Sweep, trials: Sequence[Trial], count: int) -> tuple[Trial, ...]:
    """The ``count`` trials of the generation after the newest one of ``trials``."""
    generation = max(t.generation for t in trials) + 1
    start = len(trials)
    if sweep.algorithm == "optuna":
        points = tpe.ask(sweep, trials, count)
    else:
        points = next_points(sweep, generation, start, count)
    return as_trials(points, generation, start)


def _observed(trial: Trial, value: float | None) -> Trial:
    """``trial`` with what Prometheus reported: a finite objective, or failed (NaN, ±Inf)."""
    if value is None:
        return trial
    if not math.isfinite(value):
        return replace(trial, failed=True)
    return replace(trial, objective=value)


def recommend(
    workflow: Workflow, task: Task, observed: Mapping[TrialKey, float], *, query: str, window: str
) -> Recommendation:
    """The sweep's recommendation (see the module docstring for the rules)."""
    sweep = task.sweep
    assert sweep is not None
    target = Target(workflow.name, TargetKind.TASK, task.name)
    trials = tuple(
        t if t.finished else _observed(t, observed.get((workflow.name, task.name, t.number))) for t in all_trials(sweep)
    )
    generation = max(t.generation for t in trials)
    evidence = (
        Evidence(query, window, f"algorithm {sweep.algorithm}, generation {generation}\n{trials_table(trials)}"),
    )
    details: dict[str, float | str] = {
        "algorithm": sweep.algorithm,
        "generation": generation,
        "trials": len(trials),
        "budget": budget(sweep),
    }
    base = Recommendation(
        Strategy.SWEEPS,
        target,
        "sweep.trials",
        f"generation {generation}",
        None,
        Status.UNCHANGED,
        "",
        evidence=evidence,
        details=details,
        trials=tuple({"trial": t.number, **trial_yaml(t)} for t in trials),
    )
    waiting = [t.number for t in trials if t.generation == generation and not t.finished]
    if waiting:
        reason = (
            f"generation {generation} is running: no {sweep.metric} for trial(s) "
            f"{', '.join(map(str, waiting))} in the last {window}"
        )
        return replace(base, status=Status.NOT_ENOUGH_DATA, reason=reason)
    recorded = Edit(("tasks", task.name, "sweep", "trials"), [trial_yaml(t) for t in trials])
    left = budget(sweep) - len(trials)
    if left > 0:
        new = next_generation(sweep, trials, min(sweep.parallel_trials, left))
        edit = Edit(recorded.path, [trial_yaml(t) for t in (*trials, *new)])
        reason = (
            f"generation {generation} finished ({len(trials)} of {budget(sweep)} trials); "
            f"{sweep.algorithm} search proposes generation {generation + 1}: "
            + "; ".join(f"trial {t.number} {_parameters(t.parameters)}" for t in new)
        )
        new_text = f"generation {generation + 1} ({len(new)} trials)"
        return replace(base, new=new_text, status=Status.PROPOSE, reason=reason, edits=(edit,))
    return _conclude(base, workflow, task, sweep, trials, recorded)


def _conclude(
    base: Recommendation, workflow: Workflow, task: Task, sweep: Sweep, trials: Sequence[Trial], recorded: Edit
) -> Recommendation:
    """The budget is spent: the best trial's parameters into the training task's env."""
    best = best_trial(sweep, trials)
    if best is None:
        reason = f"budget spent ({len(trials)} trials), but no trial exported a finite {sweep.metric}"
        return replace(base, status=Status.SKIPPED, reason=reason)
    training = workflow.task(sweep.training_task)
    values = {name: _show(value) for name, value in best.parameters.items()}
    current = {name: training.container.env.get(name) for name in values}
    field = f"{sweep.training_task} env"
    old = " ".join(f"{k}={'(unset)' if v is None else v}" for k, v in current.items())
    new = " ".join(f"{k}={v}" for k, v in values.items())
    details = {**base.details, "bestTrial": best.number, "bestObjective": best.objective or 0.0}
    verdict = f"trial {best.number} has the best {sweep.metric} ({sweep.goal}): {best.objective:.6g}"
    in_git = all(t.finished for t in sweep.trials) and len(sweep.trials) == len(trials)
    if current == values and in_git:
        reason = f"budget spent ({len(trials)} trials); {verdict}, already in {sweep.training_task}"
        return replace(base, field=field, old=old, new=new, status=Status.UNCHANGED, reason=reason, details=details)
    edits = (recorded, *(Edit(("tasks", sweep.training_task, "env", k), v) for k, v in values.items()))
    reason = f"budget spent ({len(trials)} trials); {verdict}; its parameters go to {sweep.training_task}"
    return replace(
        base, field=field, old=old, new=new, status=Status.PROPOSE, reason=reason, edits=edits, details=details
    )
