"""Model-based search with Optuna's TPE sampler through its ask-and-tell interface.

Optuna is an optional extra (``pip install 'gitops-agent[optuna]'``); it is imported only
when a sweep asks for ``algorithm: optuna``. Every finished trial is told to a fresh
in-memory study (``add_trial``), then ``count`` trials are asked; the sampler is seeded
with ``seed`` and ``constant_liar`` keeps the asked batch apart (Optuna docs, TPESampler),
so the same finished trials give the same next generation.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from gitops_agent.errors import InvalidInputError
from gitops_agent.spec.model import Sweep, SweepParameter, Trial, frozen_map
from gitops_agent.spec.search_space import Point, tidy_in

MISSING = "algorithm optuna needs the optional extra: pip install 'gitops-agent[optuna]'"


def available() -> bool:
    """Whether Optuna can be imported."""
    try:
        import optuna  # noqa: F401
    except ImportError:
        return False
    return True


def _optuna() -> Any:
    try:
        import optuna
    except ImportError as error:
        raise InvalidInputError(MISSING) from error
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna


def _distribution(optuna: Any, parameter: SweepParameter) -> Any:
    distributions = optuna.distributions
    if parameter.categorical:
        return distributions.CategoricalDistribution(list(parameter.values))
    log = parameter.scale == "log"
    if parameter.kind == "int":
        return distributions.IntDistribution(int(parameter.low or 0), int(parameter.high or 0), log=log)
    return distributions.FloatDistribution(float(parameter.low or 0), float(parameter.high or 0), log=log)


def _tidy(parameter: SweepParameter, value: Any) -> Any:
    return tidy_in(parameter, value) if isinstance(value, float) and not parameter.categorical else value


def ask(sweep: Sweep, finished: Sequence[Trial], count: int) -> list[Point]:
    """``count`` new points from TPE told ``finished`` (trials with an objective)."""
    optuna = _optuna()
    spaces = {p.name: _distribution(optuna, p) for p in sweep.parameters}
    sampler = optuna.samplers.TPESampler(seed=sweep.seed, constant_liar=True)
    study = optuna.create_study(direction=sweep.goal, sampler=sampler)
    for trial in finished:
        if trial.objective is not None:
            made = optuna.trial.create_trial(params=dict(trial.parameters), distributions=spaces, value=trial.objective)
            study.add_trial(made)
        elif trial.failed:  # told as failed: TPE keeps away from it
            state = optuna.trial.TrialState.FAIL
            study.add_trial(optuna.trial.create_trial(params=dict(trial.parameters), distributions=spaces, state=state))
    spaces_of = {p.name: p for p in sweep.parameters}
    points = []
    for _ in range(count):
        asked = study.ask(spaces)
        points.append(frozen_map({k: _tidy(spaces_of[k], v) for k, v in asked.params.items()}))
    return points
