"""Search spaces of hyperparameter sweeps: grid points and seeded random samples (pure).

The compiler and ``optimize`` share these rules, so a sweep's first generation (which is
not in git yet) is the same wherever it is computed:

- grid: the Cartesian product of every parameter's axis, parameters in name order, the
  last one varying fastest; an axis is the ``values`` in order, or ``min, min+step, …``
  up to ``max`` (Katib's grid algorithm). Generation *g* takes the next points in order.
- random: generation *g* draws its trials from a ``random.Random`` seeded with
  ``"<seed>/<g>"`` (CPython's string seeding is the same on every platform and run):
  categorical values uniformly, int and float ranges uniformly (``linear``) or
  log-uniformly (``log``), floats rounded to 6 significant digits.
"""

from __future__ import annotations

import itertools
import math
import random
from collections.abc import Iterator, Mapping, Sequence

from gitops_agent.spec.model import ParameterValue, Sweep, SweepParameter, Trial, frozen_map

SIGNIFICANT_DIGITS = 6

Point = Mapping[str, ParameterValue]


def tidy(value: float, digits: int = SIGNIFICANT_DIGITS) -> float:
    """``value`` rounded to ``digits`` significant digits (readable in YAML)."""
    return float(f"{value:.{digits}g}")


def digits_for(parameter: SweepParameter) -> int:
    """Significant digits that keep :data:`SIGNIFICANT_DIGITS` digits of the variation: more
    when the range (or the grid's step) is narrow next to its bounds, e.g. 1.0000001…1.0000009,
    so rounding never makes distinct grid points or samples equal (17 digits: float64's all)."""
    assert parameter.low is not None and parameter.high is not None
    spacing = float(parameter.step if parameter.step is not None else parameter.high - parameter.low)
    magnitude = max(abs(float(parameter.low)), abs(float(parameter.high)))
    if spacing <= 0 or magnitude <= spacing:
        return SIGNIFICANT_DIGITS
    return min(17, SIGNIFICANT_DIGITS + math.floor(math.log10(magnitude / spacing)))


def tidy_in(parameter: SweepParameter, value: float) -> float:
    """``value`` tidied, kept inside the range (rounding must not cross a bound written with
    more digits)."""
    assert parameter.low is not None and parameter.high is not None
    return min(max(tidy(value, digits_for(parameter)), float(parameter.low)), float(parameter.high))


def axis_length(parameter: SweepParameter) -> int:
    """Grid values of one parameter (a float range needs ``step``; a log range has none)."""
    if parameter.categorical:
        return len(parameter.values)
    assert parameter.low is not None and parameter.high is not None
    if parameter.step is None or parameter.scale == "log":
        raise ValueError(f"{parameter.name}: grid search needs values or a linear step")
    if parameter.kind == "int":  # exact: a float quotient loses whole numbers beyond 2**53
        return int(parameter.high - parameter.low) // int(parameter.step) + 1
    return math.floor((parameter.high - parameter.low) / parameter.step + 1e-9) + 1


def axis_value(parameter: SweepParameter, index: int) -> ParameterValue:
    """The ``index``-th grid value of one parameter (computed, not listed: a range may hold
    more points than memory)."""
    if parameter.categorical:
        return parameter.values[index]
    assert parameter.low is not None and parameter.step is not None
    if parameter.kind == "int":
        return int(parameter.low) + index * int(parameter.step)
    return tidy_in(parameter, parameter.low + index * parameter.step)


def grid_size(sweep: Sweep) -> int:
    return math.prod(axis_length(p) for p in sweep.parameters)


def grid_point(sweep: Sweep, number: int) -> Point:
    """Point ``number`` of the grid: ``number`` in mixed radix, the last parameter the
    lowest digit (so the last parameter varies fastest)."""
    values: dict[str, ParameterValue] = {}
    for parameter in reversed(sweep.parameters):
        number, digit = divmod(number, axis_length(parameter))
        values[parameter.name] = axis_value(parameter, digit)
    return frozen_map(values)


def grid_points(sweep: Sweep, start: int = 0) -> Iterator[Point]:
    """The grid points from ``start`` on, in order (lazily)."""
    for number in range(start, grid_size(sweep)):
        yield grid_point(sweep, number)


def budget(sweep: Sweep) -> int:
    """Trials the sweep runs in all: ``maxTrialCount``, at most the grid's size."""
    return min(sweep.max_trials, grid_size(sweep)) if sweep.algorithm == "grid" else sweep.max_trials


def sample(parameter: SweepParameter, rng: random.Random) -> ParameterValue:
    """One random value of ``parameter`` (uniform, or log-uniform on a log scale)."""
    if parameter.categorical:
        return rng.choice(parameter.values)
    assert parameter.low is not None and parameter.high is not None
    if parameter.kind == "int":
        if parameter.scale == "log":
            drawn = math.exp(rng.uniform(math.log(parameter.low), math.log(parameter.high + 1)))
            return min(int(parameter.high), int(drawn))
        return rng.randint(int(parameter.low), int(parameter.high))
    if parameter.scale == "log":
        return tidy_in(parameter, math.exp(rng.uniform(math.log(parameter.low), math.log(parameter.high))))
    return tidy_in(parameter, rng.uniform(parameter.low, parameter.high))


def random_points(sweep: Sweep, generation: int, count: int) -> list[Point]:
    """``count`` seeded samples for ``generation`` (the same on every run)."""
    rng = random.Random(f"{sweep.seed}/{generation}")
    return [frozen_map({p.name: sample(p, rng) for p in sweep.parameters}) for _ in range(count)]


def next_points(sweep: Sweep, generation: int, start: int, count: int) -> list[Point]:
    """The grid or random points of ``generation``, whose first trial is number ``start``."""
    if sweep.algorithm == "grid":
        return list(itertools.islice(grid_points(sweep, start), count))
    return random_points(sweep, generation, count)


def as_trials(points: Sequence[Point], generation: int, start: int) -> tuple[Trial, ...]:
    return tuple(Trial(start + i, generation, point) for i, point in enumerate(points))


def first_generation(sweep: Sweep) -> tuple[Trial, ...]:
    """Generation 1: grid order, or seeded random (also for optuna, whose TPE sampler starts
    from random trials too); ``parallelTrialCount`` trials, at most the budget."""
    count = min(sweep.parallel_trials, budget(sweep))
    return as_trials(next_points(sweep, 1, 0, count), 1, 0)


def all_trials(sweep: Sweep) -> tuple[Trial, ...]:
    """The trials in git, or generation 1 when git has none yet."""
    return sweep.trials or first_generation(sweep)


def current_trials(sweep: Sweep) -> tuple[Trial, ...]:
    """The trials of the newest generation: what the Indexed Job runs, index = position."""
    trials = all_trials(sweep)
    newest = max(t.generation for t in trials)
    return tuple(t for t in trials if t.generation == newest)
