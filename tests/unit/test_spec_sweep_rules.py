"""Located errors for sweeps: every invalid form of a task's ``sweep`` names the file, line,
column and field (exit 2 at the command line); a valid sweep has no problem."""

from __future__ import annotations

from pathlib import Path

import pytest

from gitops_agent.cli import run
from gitops_agent.compile.objects import compile_workflow
from gitops_agent.spec import load_specs
from tests.unit.specs.helpers import VALID_ENVIRONMENT, assert_only, diagnose, workflow_problems, write_repo

F = "workflows/wf.yaml"
SWEEP_EXAMPLE_REPO = Path(__file__).resolve().parent / "specs" / "sweep"
S = "spec.tasks.t.sweep"
BASE = """\
apiVersion: gitops-agent.io/v1alpha1
kind: Workflow
metadata: {name: wf}
spec:
  tasks:
    train:
      image: app:1
    t:
      image: app:1
      sweep:
        algorithm: random
        maxTrialCount: 4
        parallelTrialCount: 2
        objective: {metric: loss, goal: minimize}
        trainingTask: train
        parameters:
          lr: {min: 0.001, max: 0.1, scale: log}
          opt: {values: [adam, sgd]}
"""
TRIALS = """\
        trials:
        - {generation: 1, parameters: {lr: 0.01, opt: adam}}
        - {generation: 1, parameters: {lr: 0.02, opt: sgd}}
"""

# name: (old text, new text, the text the error points at, field, message fragment)
CASES = {
    "unknown-algorithm": ("algorithm: random", "algorithm: bayes", "bayes", f"{S}.algorithm", "grid"),
    "objective-missing": (
        "        objective: {metric: loss, goal: minimize}\n",
        "",
        "sweep",
        f"{S}.objective",
        "'objective'",
    ),
    "goal-unknown": ("goal: minimize", "goal: lowest", "lowest", f"{S}.objective.goal", "minimize"),
    "metric-not-a-name": ("metric: loss", "metric: val-loss", "val-loss", f"{S}.objective.metric", "metric name"),
    "budget-zero": ("maxTrialCount: 4", "maxTrialCount: 0", "0\n", f"{S}.maxTrialCount", "at least 1"),
    "parallel-over-budget": (
        "parallelTrialCount: 2",
        "parallelTrialCount: 5",
        "5\n",
        f"{S}.parallelTrialCount",
        "exceeds maxTrialCount (4)",
    ),
    "parameter-name": ("opt: {values", "opt-name: {values", "opt-name", f"{S}.parameters.opt-name", "parameter name"),
    "no-parameters": (
        "          lr: {min: 0.001, max: 0.1, scale: log}\n          opt: {values: [adam, sgd]}\n",
        "          {}\n",
        "{}",
        f"{S}.parameters",
        "at least 1",
    ),
    "min-not-below-max": (
        "min: 0.001, max: 0.1",
        "min: 0.1, max: 0.1",
        "0.1, scale",
        f"{S}.parameters.lr.max",
        "greater",
    ),
    "log-needs-positive-min": ("min: 0.001", "min: 0", "0,", f"{S}.parameters.lr.min", "min > 0"),
    "int-needs-whole-numbers": (
        "lr: {min: 0.001, max: 0.1, scale: log}",
        "lr: {type: int, min: 1.5, max: 4}",
        "1.5",
        f"{S}.parameters.lr.min",
        "whole number",
    ),
    "values-and-range": (
        "opt: {values: [adam, sgd]}",
        "opt: {values: [adam, sgd], min: 1}",
        "min: 1",
        f"{S}.parameters.opt.min",
        "not both",
    ),
    "no-values-no-range": ("opt: {values: [adam, sgd]}", "opt: {scale: log}", "opt:", f"{S}.parameters.opt", "'min'"),
    "empty-values": ("values: [adam, sgd]", "values: []", "[]", f"{S}.parameters.opt.values", "at least 1"),
    "step-not-positive": ("scale: log}", "step: 0}", "0}", f"{S}.parameters.lr.step", "greater than 0"),
    "step-on-log-scale": ("scale: log}", "scale: log, step: 0.01}", "step", f"{S}.parameters.lr.step", "linear grid"),
    "grid-log-range": ("algorithm: random", "algorithm: grid", "log}", f"{S}.parameters.lr.scale", "grid"),
    "grid-float-without-step": (
        "algorithm: random\n",
        "algorithm: grid\n",
        "lr:",
        f"{S}.parameters.lr",
        "'step'",
        "lr: {min: 0.001, max: 0.1, scale: log}",
        "lr: {min: 0.001, max: 0.1}",
    ),
    "training-task-unknown": ("trainingTask: train", "trainingTask: fit", "fit", f"{S}.trainingTask", "no task 'fit'"),
    "training-task-itself": ("trainingTask: train", "trainingTask: t", "t\n", f"{S}.trainingTask", "another task"),
    "sweep-with-schedule": ("      sweep:\n", "      schedule: '@daily'\n      sweep:\n", "sweep", S, "schedule"),
    "sweep-with-completions": (
        "      sweep:\n",
        "      completions: 3\n      sweep:\n",
        "completions",
        "spec.tasks.t.completions",
        "set by the sweep",
    ),
    "sweep-with-parallelism": (
        "      sweep:\n",
        "      parallelism: 3\n      sweep:\n",
        "parallelism",
        "spec.tasks.t.parallelism",
        "set by the sweep",
    ),
    "trial-unknown-parameter": (
        "opt: adam}}",
        "opt: adam, depth: 3}}",
        "depth",
        f"{S}.trials[0].parameters.depth",
        "not a parameter",
    ),
    "trial-missing-parameter": (
        "{lr: 0.01, opt: adam}",
        "{lr: 0.01}",
        "parameters",
        f"{S}.trials[0].parameters",
        "no value for parameter 'opt'",
    ),
    "trial-outside-range": ("lr: 0.02", "lr: 2", "2,", f"{S}.trials[1].parameters.lr", "outside 0.001…0.1"),
    "trial-not-a-value": ("opt: sgd", "opt: rmsprop", "rmsprop", f"{S}.trials[1].parameters.opt", "not one of"),
    "trial-needs-generation": (
        "{generation: 1, parameters: {lr: 0.02",
        "{parameters: {lr: 0.02",
        "{parameters: {lr: 0.02",
        f"{S}.trials[1].generation",
        "'generation'",
    ),
    "generation-skipped": (
        "- {generation: 1, parameters: {lr: 0.02",
        "- {generation: 3, parameters: {lr: 0.02",
        "3,",
        f"{S}.trials[1].generation",
        "expected generation 1 or 2",
    ),
    "first-generation-not-1": (
        "- {generation: 1, parameters: {lr: 0.01",
        "- {generation: 2, parameters: {lr: 0.01",
        "2,",
        f"{S}.trials[0].generation",
        "expected generation 1",
        "- {generation: 1, parameters: {lr: 0.02",
        "- {generation: 2, parameters: {lr: 0.02",
    ),
    "objective-not-a-number": (
        "opt: sgd}}",
        "opt: sgd}, objective: high}",
        "high",
        f"{S}.trials[1].objective",
        "number",
    ),
    # NaN and ±Inf: JSON Schema's number admits them, JSON (the trials' files) does not
    "max-not-finite": ("max: 0.1", "max: .inf", ".inf", f"{S}.parameters.lr.max", "finite number"),
    "min-nan": ("min: 0.001", "min: .nan", ".nan", f"{S}.parameters.lr.min", "finite number"),
    "value-not-finite": (
        "values: [adam, sgd]",
        "values: [adam, -.inf]",
        "-.inf",
        f"{S}.parameters.opt.values[1]",
        "finite",
    ),
    "trial-value-nan": ("lr: 0.02", "lr: .nan", ".nan", f"{S}.trials[1].parameters.lr", "finite number"),
    "trial-categorical-nan": ("opt: sgd}}", "opt: .nan}}", ".nan", f"{S}.trials[1].parameters.opt", "finite number"),
    "objective-not-finite": ("opt: sgd}}", "opt: sgd}, objective: .inf}", ".inf", f"{S}.trials[1].objective", "finite"),
    "values-repeat": (
        "values: [adam, sgd]",
        "values: [adam, adam]",
        "[adam, adam]",
        f"{S}.parameters.opt.values",
        "unique",
    ),
    "values-repeat-as-float": (
        "values: [adam, sgd]",
        "values: [1, 1.0]",
        "[1, 1.0]",
        f"{S}.parameters.opt.values",
        "unique",
    ),
    "range-wider-than-a-float": (
        "lr: {min: 0.001, max: 0.1, scale: log}",
        "lr: {min: -1.0e308, max: 1.0e308}",
        "1.0e308}",
        f"{S}.parameters.lr.max",
        "wider than a float",
    ),
    "grid-step-uncountable": (
        "algorithm: random\n",
        "algorithm: grid\n",
        "1.0e-300",
        f"{S}.parameters.lr.step",
        "more grid points than a float can count",
        "lr: {min: 0.001, max: 0.1, scale: log}",
        "lr: {min: 0.0, max: 1.0e300, step: 1.0e-300}",
    ),
    "grid-step-below-precision": (
        "algorithm: random\n",
        "algorithm: grid\n",
        "1.0e-12",
        f"{S}.parameters.lr.step",
        "below a float's precision",
        "lr: {min: 0.001, max: 0.1, scale: log}",
        "lr: {min: 1000000.0, max: 1000001.0, step: 1.0e-12}",
    ),
    # a parameter becomes an env variable of the training task: the env rules apply
    "parameter-name-looks-secret": (
        "opt: {values",
        "api_token: {values",
        "api_token",
        f"{S}.parameters.api_token",
        "'api_token' looks like a secret (TOKEN in the name)",
    ),
    "value-looks-like-a-credential": (
        "values: [adam, sgd]",
        "values: [adam, " + "AKIA" + "ABCDEFGHIJKLMNOP]",  # split: no credential in the source
        "AKIA",
        f"{S}.parameters.opt.values[1]",
        "looks like an AWS access key",
    ),
    # what the compiler adds to the sweep's container: compile refused duplicates at 0:0
    "env-set-by-the-sweep": (
        "      sweep:\n",
        "      env: {SWEEP_TRIAL_FILE: /data/t.json}\n      sweep:\n",
        "SWEEP_TRIAL_FILE",
        "spec.tasks.t.env.SWEEP_TRIAL_FILE",
        "set by the sweep",
    ),
    "volume-name-of-the-sweep": (
        "      sweep:\n",
        "      volumes: {sweep-trials: {emptyDir: {}, mountPath: /data}}\n      sweep:\n",
        "sweep-trials",
        "spec.tasks.t.volumes.sweep-trials",
        "taken by the sweep",
    ),
    "mount-path-of-the-sweep": (
        "      sweep:\n",
        "      volumes: {data: {emptyDir: {}, mountPath: /etc/gitops-agent/sweep/}}\n      sweep:\n",
        "/etc/gitops-agent/sweep/",
        "spec.tasks.t.volumes.data.mountPath",
        "where the sweep mounts its trials",
    ),
    "value-with-a-variable-reference": (
        "values: [adam, sgd]",
        "values: [adam, 'sgd$(HOME)']",
        "'sgd$(HOME)'",
        f"{S}.parameters.opt.values[1]",
        "Kubernetes expands",
    ),
    "max-failed-over-parallel": (
        "      sweep:\n",
        "      backoffLimitPerIndex: 1\n      maxFailedIndexes: 3\n      sweep:\n",
        "3\n",
        "spec.tasks.t.maxFailedIndexes",
        "exceeds sweep.parallelTrialCount (2)",
    ),
    "parameter-over-a-secret-reference": (
        "      image: app:1\n    t:",
        "      image: app:1\n      env: {opt: {secretRef: {name: s, key: k}}}\n    t:",
        "opt: {values",
        f"{S}.parameters.opt",
        "env 'opt' of task 'train' is a reference",
    ),
}


def _position(text: str, needle: str, after: str) -> tuple[int, int]:
    """1-based line and column of the first ``needle`` from the line where ``after`` is."""
    offset = text.index(needle, text.rfind("\n", 0, text.index(after)) + 1)
    line = text.count("\n", 0, offset) + 1
    return line, offset - (text.rfind("\n", 0, offset) + 1) + 1


@pytest.mark.parametrize("case", sorted(CASES))
def test_invalid_sweep_is_located(tmp_path: Path, case: str) -> None:
    old, new, needle, field, fragment, *more = CASES[case]
    text = BASE + TRIALS if ".trials" in field else BASE  # trials of a broken space fail too
    for before, after in [(old, new), *zip(more[::2], more[1::2], strict=True)]:
        assert before in text, before
        text = text.replace(before, after, 1)
    line, col = _position(text, needle, new if new.strip() else "      sweep")
    assert_only(workflow_problems(tmp_path, text), F, line, col, field, fragment)


def test_trials_beyond_the_budget_are_located(tmp_path: Path) -> None:
    text = (BASE + TRIALS).replace("maxTrialCount: 4", "maxTrialCount: 1").replace("parallelTrialCount: 2", "")
    line, col = _position(text, "trials", "trainingTask")
    assert_only(workflow_problems(tmp_path, text), F, line, col, f"{S}.trials", "2 trials exceed maxTrialCount (1)")


def test_a_training_task_that_is_itself_a_sweep_is_refused(tmp_path: Path) -> None:
    text = BASE.replace(
        "    train:\n      image: app:1\n",
        "    train:\n      image: app:1\n      sweep:\n        maxTrialCount: 1\n"
        "        objective: {metric: loss, goal: minimize}\n        trainingTask: t\n"
        "        parameters: {a: {values: [1]}}\n",
    )
    found = workflow_problems(tmp_path, text)
    assert sorted((d.field, d.message) for d in found) == [
        (f"{S}.trainingTask", "task 'train' is itself a sweep"),
        ("spec.tasks.train.sweep.trainingTask", "task 't' is itself a sweep"),
    ]


def test_a_valid_sweep_has_no_problem(tmp_path: Path) -> None:
    assert workflow_problems(tmp_path, BASE + TRIALS) == []
    grid = BASE.replace("algorithm: random", "algorithm: grid").replace("scale: log}", "step: 0.01}")
    assert workflow_problems(tmp_path / "grid", grid) == []


def test_validate_exits_2_with_located_lines(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = (BASE + TRIALS).replace("min: 0.001", "min: 0").replace("trainingTask: train", "trainingTask: fit")
    diagnose(tmp_path, {"workflows/wf.yaml": text, "environments/dev.yaml": VALID_ENVIRONMENT})
    code = run(["validate", "--repo", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err
    assert f"{F}:15:23: {S}.trainingTask: no task 'fit'" in err
    assert f"{F}:17:21: {S}.parameters.lr.min: a log scale needs min > 0" in err


def test_a_sweep_task_may_give_up_on_failed_trials(tmp_path: Path) -> None:
    """A sweep's Job is Indexed: per-index backoff is its own, not refused as non-Indexed."""
    text = BASE.replace("      sweep:\n", "      backoffLimitPerIndex: 1\n      maxFailedIndexes: 2\n      sweep:\n")
    assert workflow_problems(tmp_path, text) == []


def test_two_sweeps_cannot_write_the_same_variable_of_one_training_task(tmp_path: Path) -> None:
    second = (
        "    u:\n      image: app:1\n      sweep:\n        maxTrialCount: 2\n"
        "        objective: {metric: loss, goal: minimize}\n        trainingTask: train\n"
        "        parameters: {opt: {values: [adam]}, depth: {values: [1, 2]}}\n"
    )
    text = BASE + second
    line, col = _position(text, "opt", "        parameters: {opt")
    found = assert_only(workflow_problems(tmp_path, text), F, line, col, "spec.tasks.u.sweep.parameters.opt")
    assert found.message == "the sweep of task 't' also writes 'opt' into the env of task 'train'"
    other = text.replace("trainingTask: train\n        parameters: {opt", "trainingTask: t2\n        parameters: {opt")
    other = other.replace("    t:\n", "    t2:\n      image: app:1\n    t:\n")
    assert workflow_problems(tmp_path / "other", other) == []  # another training task: no clash


def _wide_sweep(length: int, parallel: int) -> str:
    values = ", ".join(f'"{c * length}"' for c in "abcd")
    return (
        BASE.replace("maxTrialCount: 4", f"maxTrialCount: {parallel}")
        .replace("parallelTrialCount: 2", f"parallelTrialCount: {parallel}")
        .replace("          lr: {min: 0.001, max: 0.1, scale: log}\n", "")
        .replace("values: [adam, sgd]", f"values: [{values}]")
    )


def test_trials_that_could_outgrow_a_config_map_are_refused(tmp_path: Path) -> None:
    """1000 trials of a 2000-character value compiled into a 2 MB ConfigMap, which the API
    refuses (1 MiB at most) only at sync, after the other objects were applied."""
    text = _wide_sweep(2000, 1000)
    line, col = _position(text, "1000", "parallelTrialCount")
    found = assert_only(workflow_problems(tmp_path, text), F, line, col, f"{S}.parallelTrialCount")
    assert "could exceed the trials ConfigMap's 1 MiB" in found.message


def test_the_largest_accepted_trials_fit_a_config_map(tmp_path: Path) -> None:
    """The bound is a bound: what validate accepts compiles under 1 MiB, and not far under."""
    text = _wide_sweep(640, 1000)
    assert workflow_problems(tmp_path, text) == []
    write_repo(tmp_path, {"environments/dev.yaml": VALID_ENVIRONMENT})
    objects = compile_workflow(load_specs(tmp_path).workflows["wf"])
    (trials,) = [o for o in objects if o["kind"] == "ConfigMap" and o["metadata"]["name"] == "wf-t-trials"]
    size = sum(len(value.encode()) for value in trials["data"].values())
    assert 600_000 < size <= 1024 * 1024


INDEXED = """\
apiVersion: gitops-agent.io/v1alpha1
kind: Workflow
metadata: {name: WF}
spec:
  defaults: {image: app:1}
  tasks:
    train: {command: [x]}
    TASK:
      command: [x]
BODY"""
SWEEP_BODY = """\
      sweep:
        maxTrialCount: 12
        parallelTrialCount: 12
        objective: {metric: loss, goal: minimize}
        trainingTask: train
        parameters: {a: {min: 1, max: 12}}
"""


@pytest.mark.parametrize(
    ("body", "task", "longest", "index"),
    [
        (SWEEP_BODY, "t" * 23, 63, 11),  # a sweep: parallelTrialCount 12, indexes 0-11
        ("      completionMode: Indexed\n      completions: 100\n", "t" * 23, 63, 99),
        ("      completionMode: Indexed\n      completions: 1\n", "t" * 24, 63, 0),
        # a CronJob's Jobs are '<cronjob>-<scheduled minute>' (11 more characters)
        ("      schedule: '@daily'\n      completionMode: Indexed\n      completions: 5\n", "t" * 22, 63, 4),
    ],
)
def test_an_indexed_jobs_pod_hostnames_fit_a_dns_label(
    tmp_path: Path, body: str, task: str, longest: int, index: int
) -> None:
    """The Job controller names each Indexed pod's hostname '<job>-<index>'; the API server
    refused the Job when the last one exceeded 63 characters, at sync (see
    tests/integration/test_sweep_names.py). The longest accepted names give exactly 63."""
    fits = INDEXED.replace("WF", "w" * 27).replace("TASK", task).replace("BODY", body)
    assert workflow_problems(tmp_path / "fits", fits) == []
    over = INDEXED.replace("WF", "w" * 27).replace("TASK", task + "t").replace("BODY", body)
    line, col = _position(over, task + "t", "    train")
    found = assert_only(workflow_problems(tmp_path / "over", over), F, line, col, f"spec.tasks.{task}t")
    assert f"pod hostname '<job>-{index}' of this Indexed Job would have {longest + 1} characters" in found.message


def test_the_defaults_env_cannot_set_what_the_sweep_sets(tmp_path: Path) -> None:
    text = BASE.replace("spec:\n  tasks:", "spec:\n  defaults: {env: {SWEEP_NAMESPACE: x}}\n  tasks:")
    line, col = _position(text, "SWEEP_NAMESPACE", "defaults")
    found = workflow_problems(tmp_path, text)
    assert_only(found, F, line, col, "spec.defaults.env.SWEEP_NAMESPACE", "set by the sweep")


def test_the_reserved_names_are_the_compilers() -> None:
    from gitops_agent.compile import sweeps
    from gitops_agent.spec import semantic_check

    assert (semantic_check.SWEEP_VOLUME, semantic_check.SWEEP_MOUNT) == (sweeps.TRIALS_VOLUME, sweeps.TRIALS_MOUNT)
    job = {"template": {"metadata": {}, "spec": {"containers": [{"name": "c"}]}}}
    workflow = load_specs(SWEEP_EXAMPLE_REPO).workflows["fraud-sweep"]
    sweeps.wire(job, workflow.task("tune"), workflow, lambda _: "h")
    added = [e["name"] for e in job["template"]["spec"]["containers"][0]["env"]]
    assert tuple(sorted(added)) == semantic_check.SWEEP_ENV
