"""The sweep decision (pure): wait for the running generation, propose the next one (grid,
seeded random, Optuna TPE), or, with the budget spent, the best trial's parameters; the
objective query and its answer; a missing optional extra is one located line, exit 2."""

from __future__ import annotations

import json
import math
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from gitops_agent.cli import run
from gitops_agent.errors import InvalidInputError
from gitops_agent.optimize import proposal, sweeps, tpe
from gitops_agent.optimize.model import Recommendation, Status
from gitops_agent.optimize.queries import QueryKind, trial_objectives
from gitops_agent.spec import load_specs
from gitops_agent.spec.model import Container, Environment, Sweep, SweepParameter, Task, Trial, Workflow, frozen_map
from gitops_agent.spec.search_space import first_generation, grid_points, random_points
from tests.unit.specs.helpers import VALID_ENVIRONMENT, write_repo

W = "5d"
GRID = (SweepParameter("depth", values=(3, 5)), SweepParameter("lr", values=(0.001, 0.01, 0.1)))


def _sweep(algorithm: str = "grid", *, goal: str = "minimize", most: int = 6, parallel: int = 3) -> Sweep:
    space = GRID
    if algorithm != "grid":
        space = (
            SweepParameter("depth", kind="int", low=2, high=12),
            SweepParameter("lr", kind="float", low=1e-4, high=1.0, scale="log"),
        )
    return Sweep(space, "loss", goal, most, "train", algorithm=algorithm, seed=3, parallel_trials=parallel)


def _workflow(sweep: Sweep, env: dict[str, str] | None = None) -> Workflow:
    tune = Task("tune", Container("img:1"), sweep=sweep)
    train = Task("train", Container("img:1", env=frozen_map(env or {})))
    return Workflow("lab", "workflows/lab.yaml", tasks=(train, tune))


def _decide(sweep: Sweep, observed: dict[int, float], env: dict[str, str] | None = None) -> Recommendation:
    workflow = _workflow(sweep, env)
    keyed = {("lab", "tune", n): v for n, v in observed.items()}
    return sweeps.recommend(workflow, workflow.task("tune"), keyed, query="Q", window=W)


def _loss(point: object) -> float:
    depth, lr = point["depth"], point["lr"]  # type: ignore[index]
    return abs(depth - 5) + abs(lr - 0.01) * 10


def test_a_generation_without_all_objectives_is_waited_for() -> None:
    rec = _decide(_sweep(), {0: 1.0, 2: 2.0})
    assert rec.status is Status.NOT_ENOUGH_DATA and not rec.edits
    assert rec.reason == f"generation 1 is running: no loss for trial(s) 1 in the last {W}"


def test_grid_proposes_the_next_points_with_the_finished_objectives_recorded() -> None:
    rec = _decide(_sweep(), {0: 3.0, 1: 2.0, 2: 2.5})
    assert rec.status is Status.PROPOSE and rec.new == "generation 2 (3 trials)"
    (edit,) = rec.edits
    assert edit.path == ("tasks", "tune", "sweep", "trials")
    points = [dict(p) for p in grid_points(_sweep())]
    assert edit.value == [
        {"generation": 1, "parameters": points[0], "objective": 3.0},
        {"generation": 1, "parameters": points[1], "objective": 2.0},
        {"generation": 1, "parameters": points[2], "objective": 2.5},
        *({"generation": 2, "parameters": points[n]} for n in (3, 4, 5)),
    ]
    assert rec.details["algorithm"] == "grid" and rec.details["generation"] == 1
    table = rec.evidence[0].observed
    assert table.splitlines()[1] == "trial  generation  objective  parameters"
    assert "1      1           2          depth=3 lr=0.01" in table


def test_random_proposes_the_seeded_samples_of_the_next_generation() -> None:
    sweep = _sweep("random", most=5)
    rec = _decide(sweep, {0: 1.0, 1: 2.0, 2: 3.0})
    new = rec.edits[0].value[3:]  # type: ignore[index]
    assert [t["parameters"] for t in new] == [dict(p) for p in random_points(sweep, 2, 2)]  # 2 left of 5
    assert [t["generation"] for t in new] == [2, 2]
    assert _decide(sweep, {0: 1.0, 1: 2.0, 2: 3.0}) == rec  # the same data, the same generation


def _run_sweep(sweep: Sweep, generations: int) -> Sweep:
    """Play ``generations`` generations with the objective :func:`_loss`."""
    for _ in range(generations):
        rec = _decide(sweep, {t.number: _loss(t.parameters) for t in sweeps.all_trials(sweep)})
        assert rec.status is Status.PROPOSE
        trials = rec.edits[0].value
        assert isinstance(trials, list)
        sweep = replace(
            sweep,
            trials=tuple(
                Trial(n, t["generation"], frozen_map(t["parameters"]), t.get("objective")) for n, t in enumerate(trials)
            ),
        )
    return sweep


def test_optuna_asks_after_telling_every_finished_trial_deterministically() -> None:
    sweep = _sweep("optuna", most=40, parallel=4)
    played = _run_sweep(sweep, 6)
    again = _run_sweep(sweep, 6)
    assert played.trials == again.trials  # seeded: a re-run proposes the same generation
    assert [t.generation for t in played.trials] == [g for g in range(1, 8) for _ in range(4)]
    for trial in played.trials:
        assert 2 <= int(trial.parameters["depth"]) <= 12 and 1e-4 <= float(trial.parameters["lr"]) <= 1.0
    other = _run_sweep(replace(sweep, seed=4), 6)
    assert other.trials[4:] != played.trials[4:]


def test_optuna_is_told_the_results(monkeypatch: pytest.MonkeyPatch) -> None:
    told: list[int] = []
    original = tpe.ask

    def spy(sweep: Sweep, finished: list[Trial], count: int) -> object:
        told.extend(t.number for t in finished if t.objective is not None)
        return original(sweep, finished, count)

    monkeypatch.setattr(tpe, "ask", spy)
    _decide(_sweep("optuna", most=10), {0: 1.0, 1: 2.0, 2: 0.5})
    assert told == [0, 1, 2]


def test_a_missing_optuna_is_one_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "optuna", None)  # import optuna raises ImportError
    assert not tpe.available()
    with pytest.raises(InvalidInputError, match=r"pip install 'gitops-agent\[optuna\]'"):
        _decide(_sweep("optuna"), {0: 1.0, 1: 2.0, 2: 0.5})
    with pytest.raises(InvalidInputError) as caught:
        sweeps.require_algorithms([_workflow(_sweep("optuna"))])
    assert str(caught.value) == (
        "workflows/lab.yaml: spec.tasks.tune.sweep.algorithm: algorithm optuna needs the optional extra: "
        "pip install 'gitops-agent[optuna]'"
    )
    sweeps.require_algorithms([_workflow(_sweep("random"))])  # grid and random need nothing


def test_optimize_without_optuna_exits_2_before_asking_prometheus(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    workflow = """\
        apiVersion: gitops-agent.io/v1alpha1
        kind: Workflow
        metadata: {name: lab}
        spec:
          tasks:
            train: {image: app:1}
            tune:
              image: app:1
              sweep:
                algorithm: optuna
                maxTrialCount: 4
                objective: {metric: loss, goal: minimize}
                trainingTask: train
                parameters: {lr: {min: 0.001, max: 0.1, scale: log}}
        """
    write_repo(tmp_path, {"workflows/lab.yaml": workflow, "environments/dev.yaml": VALID_ENVIRONMENT})
    monkeypatch.setitem(sys.modules, "optuna", None)
    code = run(["optimize", "dev", "--repo", str(tmp_path), "--prometheus", "http://127.0.0.1:9"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1, err
    assert err.endswith(
        "workflows/lab.yaml: spec.tasks.tune.sweep.algorithm: algorithm optuna needs the optional extra: "
        "pip install 'gitops-agent[optuna]'"
    )


@pytest.mark.parametrize(("goal", "best"), [("minimize", 1), ("maximize", 3)])
def test_with_the_budget_spent_the_best_trial_goes_to_the_training_task(goal: str, best: int) -> None:
    sweep = _sweep(goal=goal, most=4, parallel=2)
    first = first_generation(sweep)
    points = [dict(p) for p in grid_points(sweep)]
    second = (Trial(2, 2, frozen_map(points[2])), Trial(3, 2, frozen_map(points[3])))
    sweep = replace(sweep, trials=(replace(first[0], objective=2.0), replace(first[1], objective=0.5), *second))
    rec = _decide(sweep, {2: 1.5, 3: 9.0, 1: 100.0}, env={"lr": "0.1"})  # git's objective of trial 1 stands
    assert rec.status is Status.PROPOSE and rec.details["bestTrial"] == best
    trials, *env = rec.edits
    assert [t["objective"] for t in trials.value] == [2.0, 0.5, 1.5, 9.0]  # type: ignore[index]
    values = {e.path: e.value for e in env}
    expected = points[best]
    assert values == {
        ("tasks", "train", "env", "depth"): str(expected["depth"]),
        ("tasks", "train", "env", "lr"): str(expected["lr"]),
    }
    assert rec.field == "train env" and rec.old == "depth=(unset) lr=0.1"


def test_a_tie_goes_to_the_earlier_trial() -> None:
    sweep = _sweep(most=3, parallel=3)
    rec = _decide(sweep, {0: 1.0, 1: 0.5, 2: 0.5})
    assert rec.details["bestTrial"] == 1


def test_a_concluded_sweep_is_unchanged() -> None:
    sweep = _sweep(most=3, parallel=3)
    trials = tuple(replace(t, objective=float(3 - t.number)) for t in first_generation(sweep))
    best = dict(trials[2].parameters)
    rec = _decide(replace(sweep, trials=trials), {}, env={k: str(v) for k, v in best.items()})
    assert rec.status is Status.UNCHANGED and not rec.edits
    assert "already in train" in rec.reason


def test_objectives_of_other_tasks_do_not_count() -> None:
    workflow = _workflow(_sweep())
    observed = {("lab", "other", 0): 1.0, ("other", "tune", 1): 1.0, ("lab", "tune", 2): 1.0}
    rec = sweeps.recommend(workflow, workflow.task("tune"), observed, query="Q", window=W)
    assert rec.status is Status.NOT_ENOUGH_DATA and "trial(s) 0, 1 " in rec.reason


def test_one_query_asks_for_every_sweep_by_goal() -> None:
    low, high = _workflow(_sweep()), _workflow(_sweep(goal="maximize"))
    high = replace(high, name="other")
    found = sweeps.sweeps_of([low, high])
    query = sweeps.objective_query("ns", "7d", found)
    assert query.kind is QueryKind.SWEEP
    assert query.promql == (
        'min by (workflow, task, trial) (last_over_time({__name__="loss",namespace="ns",workflow="lab",task="tune",'
        'trial!=""}[7d])) or max by (workflow, task, trial) (last_over_time({__name__="loss",namespace="ns",'
        'workflow="other",task="tune",trial!=""}[7d]))'
    )


def test_answers_without_a_trial_number_are_left_out() -> None:
    rows = [
        ({"workflow": "lab", "task": "tune", "trial": "3"}, 0.5),
        ({"workflow": "lab", "task": "tune", "trial": "best"}, 0.1),
        ({"workflow": "lab", "task": "tune"}, 0.2),
    ]
    assert trial_objectives(rows) == {("lab", "tune", 3): 0.5}


@pytest.mark.parametrize("label", ["²", "١", "03", "+3", " 3", "3 ", "-3", "3.0", "٣"])
def test_a_trial_label_that_is_not_a_plain_decimal_number_is_left_out(label: str) -> None:
    """``str.isdigit`` accepts '²' (int() then raised: an internal error, exit 70) and
    Arabic-Indic digits; '03' overwrote trial 3's objective depending on the answer's order.
    Only what the compiler writes (``str(number)``) is a trial's label."""
    rows = [
        ({"workflow": "lab", "task": "tune", "trial": "3"}, 0.5),
        ({"workflow": "lab", "task": "tune", "trial": label}, 0.1),
    ]
    assert trial_objectives(rows) == {("lab", "tune", 3): 0.5}
    assert trial_objectives(list(reversed(rows))) == {("lab", "tune", 3): 0.5}


def test_the_commit_message_keeps_the_trials_table_readable() -> None:
    rec = _decide(_sweep(), {0: 3.0, 1: 2.0, 2: 2.5})
    env = Environment("dev", "environments/dev.yaml", "ns", "env/dev")
    text = proposal.message(env, W, [rec])
    assert "  evidence: [Q1] algorithm grid, generation 1\n    trial  generation  objective  parameters\n" in text
    assert "\n    0      1           3          depth=3 lr=0.001\n" in text


def test_the_pull_request_body_carries_the_proposal_and_the_trials_table() -> None:
    from gitops_agent.app.optimize import _pr_body

    rec = _decide(_sweep(), {0: 3.0, 1: 2.0, 2: 2.5})
    env = Environment("dev", "environments/dev.yaml", "ns", "env/dev")
    result = proposal.ProposalResult(proposal.ProposalState.CREATED, "b", message=proposal.message(env, W, [rec]))
    body = _pr_body(env, W, [rec], result)
    assert "| `lab/task/tune` | `sweep.trials` | generation 1 | generation 2 (3 trials) |" in body
    assert "    trial  generation  objective  parameters\n    0      1           3          depth=3 lr=0.001" in body


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_a_trial_without_a_finite_objective_failed_and_is_never_the_best(bad: float) -> None:
    rec = _decide(_sweep(), {0: 3.0, 1: bad, 2: 2.5})  # a diverged training: NaN or ±Inf
    assert rec.status is Status.PROPOSE  # the failed trial does not hold the sweep up
    recorded = rec.edits[0].value[:3]  # type: ignore[index]
    assert [t["objective"] for t in recorded] == [3.0, None, 2.5]  # null: failed
    assert "1      1           failed" in rec.evidence[0].observed
    assert json.dumps(rec.trials, allow_nan=False)  # -o json stays valid JSON
    sweep = _sweep(most=3)
    done = _decide(sweep, {0: 3.0, 1: bad, 2: 2.5})
    assert done.details["bestTrial"] == 2


def test_a_sweep_whose_trials_all_failed_proposes_nothing() -> None:
    rec = _decide(_sweep(most=3), {0: math.nan, 1: math.inf, 2: math.nan})
    assert rec.status is Status.SKIPPED and not rec.edits
    assert rec.reason == "budget spent (3 trials), but no trial exported a finite loss"


def test_optuna_is_told_failed_trials_as_failed() -> None:
    rec = _decide(_sweep("optuna", most=10), {0: 1.0, 1: math.nan, 2: 0.5})
    assert rec.status is Status.PROPOSE and len(rec.edits[0].value) == 6  # type: ignore[arg-type]


def test_a_failed_trial_reads_back_from_git_as_failed(tmp_path: Path) -> None:
    workflow = """\
        apiVersion: gitops-agent.io/v1alpha1
        kind: Workflow
        metadata: {name: lab}
        spec:
          tasks:
            train: {image: app:1}
            tune:
              image: app:1
              sweep:
                maxTrialCount: 2
                parallelTrialCount: 2
                objective: {metric: loss, goal: minimize}
                trainingTask: train
                parameters: {lr: {min: 0.001, max: 0.1, scale: log}}
                trials:
                - {generation: 1, parameters: {lr: 0.01}, objective: null}
                - {generation: 1, parameters: {lr: 0.02}}
        """
    write_repo(tmp_path, {"workflows/lab.yaml": workflow, "environments/dev.yaml": VALID_ENVIRONMENT})
    sweep = load_specs(tmp_path).workflows["lab"].task("tune").sweep
    assert sweep is not None
    assert [(t.failed, t.objective, t.finished) for t in sweep.trials] == [(True, None, True), (False, None, False)]


def test_optuna_samples_stay_inside_bounds_written_with_more_digits() -> None:
    low, high = 0.12345678901, 0.12345679999
    sweep = Sweep((SweepParameter("x", kind="float", low=low, high=high),), "loss", "minimize", 20, "train", "optuna")
    trials = tuple(Trial(n, 1, frozen_map({"x": low}), float(n)) for n in range(12))
    points = tpe.ask(sweep, trials, 8)
    assert all(low <= float(p["x"]) <= high for p in points)
