"""A sweep task compiles to an Indexed Job plus the ConfigMap of its trials: golden tree,
valid Kubernetes 1.36 objects, the trial contract (index → parameters), and the search
space rules (grid order, seeded random, budget).

Regenerate the golden tree after an intended change with ``GITOPS_AGENT_UPDATE_GOLDEN=1``.
"""

from __future__ import annotations

import json
import math
import os
import shutil
from dataclasses import replace
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest

from gitops_agent.compile import compile_environment
from gitops_agent.compile.objects import compile_workflow
from gitops_agent.render.overlay import render_files
from gitops_agent.spec import load_specs
from gitops_agent.spec.model import Sweep, SweepParameter, Trial, Workflow
from gitops_agent.spec.search_space import budget, current_trials, first_generation, grid_points, random_points
from tests.support.gitrepos import git

SPECS = Path(__file__).resolve().parent / "specs" / "sweep"
GOLDEN = Path(__file__).resolve().parent / "golden_sweep"
EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "workflows" / "fraud-model-sweep.yaml"
SOURCE_COMMIT = "0123456789abcdef0123456789abcdef01234567"


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("sweep") / "repo"
    shutil.copytree(SPECS, root)
    git(root, "init", "-q", "-b", "main")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "sweep")
    return root


@pytest.fixture(scope="module")
def tree(repo: Path) -> dict[str, bytes]:
    specs = load_specs(repo)
    return dict(compile_environment(specs, specs.environments["dev"], source_commit=SOURCE_COMMIT, repo_root=repo))


@pytest.fixture(scope="module")
def workflow(repo: Path) -> Workflow:
    return load_specs(repo).workflows["fraud-sweep"]


def _read(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_the_test_spec_is_the_published_example() -> None:
    assert (SPECS / "workflows" / EXAMPLE.name).read_bytes() == EXAMPLE.read_bytes()


def test_compiled_tree_matches_golden_files(tree: dict[str, bytes]) -> None:
    root = GOLDEN / "dev"
    if os.environ.get("GITOPS_AGENT_UPDATE_GOLDEN") == "1":
        shutil.rmtree(root, ignore_errors=True)
        for path, content in tree.items():
            (root / path).parent.mkdir(parents=True, exist_ok=True)
            (root / path).write_bytes(content)
    expected = _read(root)
    assert sorted(tree) == sorted(expected), "file list differs from the golden tree"
    for path in sorted(expected):
        assert tree[path] == expected[path], f"dev/{path} differs from the golden file"


def test_rendered_objects_are_valid_kubernetes_objects(tree: dict[str, bytes]) -> None:
    rendered = render_files(tree, "dev")
    assert {o["kind"] for o in rendered} >= {"Job", "ConfigMap"}
    for obj in rendered:
        kubernetes_validate.validate(obj, "1.36", strict=True)


def _objects(workflow: Workflow) -> dict[tuple[str, str], dict[str, Any]]:
    return {(o["kind"], o["metadata"]["name"]): o for o in compile_workflow(workflow)}


def _tune_job(objects: dict[tuple[str, str], dict[str, Any]]) -> dict[str, Any]:
    return next(o for (kind, name), o in objects.items() if kind == "Job" and name.startswith("fraud-sweep-tune-"))


def test_each_index_reads_the_parameters_of_its_trial(workflow: Workflow) -> None:
    objects = _objects(workflow)
    job = _tune_job(objects)
    spec = job["spec"]
    assert (spec["completionMode"], spec["completions"], spec["parallelism"]) == ("Indexed", 4, 4)
    container = spec["template"]["spec"]["containers"][0]
    env = {e["name"]: e for e in container["env"]}
    index_path = env["SWEEP_INDEX"]["valueFrom"]["fieldRef"]["fieldPath"]
    assert index_path == "metadata.annotations['batch.kubernetes.io/job-completion-index']"
    assert env["SWEEP_TRIAL_FILE"]["value"] == "/etc/gitops-agent/sweep/$(SWEEP_INDEX).json"
    assert env["SWEEP_NAMESPACE"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.namespace"
    volume = next(v for v in spec["template"]["spec"]["volumes"] if v["name"] == "sweep-trials")
    config = objects[("ConfigMap", volume["configMap"]["name"])]
    trials = first_generation(workflow.task("tune").sweep)  # type: ignore[arg-type]
    assert sorted(config["data"]) == [f"{i}.json" for i in range(4)]
    for index, trial in enumerate(trials):
        document = json.loads(config["data"][f"{index}.json"])
        assert document == {
            "generation": 1,
            "parameters": dict(trial.parameters),
            "task": "tune",
            "trial": index,
            "workflow": "fraud-sweep",
        }


def test_a_new_generation_is_a_new_job_and_the_other_tasks_are_unchanged(workflow: Workflow) -> None:
    sweep = workflow.task("tune").sweep
    assert sweep is not None
    first = first_generation(sweep)
    done = tuple(replace(t, objective=0.5 + t.number / 100) for t in first)
    second = tuple(Trial(4 + i, 2, t.parameters) for i, t in enumerate(first[:3]))
    later = replace(sweep, trials=done + second)
    tasks = tuple(replace(t, sweep=later) if t.name == "tune" else t for t in workflow.tasks)
    before, after = _objects(workflow), _objects(replace(workflow, tasks=tasks))
    old_job, new_job = _tune_job(before), _tune_job(after)
    assert old_job["metadata"]["name"] != new_job["metadata"]["name"]
    assert (new_job["spec"]["completions"], new_job["spec"]["parallelism"]) == (3, 3)
    data = after[("ConfigMap", "fraud-sweep-tune-trials")]["data"]
    assert [json.loads(data[f"{i}.json"])["trial"] for i in range(3)] == [4, 5, 6]
    train = [k for k in before if k[0] == "Job" and k[1].startswith("fraud-sweep-train-")]
    assert train and train[0] in after  # recording objectives does not rerun other tasks


def test_a_workflow_without_sweep_has_no_trials_config_map(workflow: Workflow) -> None:
    tasks = tuple(replace(t, sweep=None) for t in workflow.tasks)
    objects = _objects(replace(workflow, tasks=tasks))
    assert not [k for k in objects if k[0] == "ConfigMap" and k[-1].endswith("-trials")]
    assert "completionMode" not in _tune_job(objects)["spec"]


# --- search space -------------------------------------------------------------------------


def _sweep(*parameters: SweepParameter, algorithm: str = "grid", most: int = 100, parallel: int = 2) -> Sweep:
    return Sweep(parameters, "loss", "minimize", most, "train", algorithm=algorithm, parallel_trials=parallel)


def test_grid_is_the_product_in_name_order_last_varying_fastest() -> None:
    sweep = _sweep(
        SweepParameter("b", values=("x", "y")),
        SweepParameter("a", kind="int", low=1, high=3, step=1),
    )
    sweep = replace(sweep, parameters=tuple(sorted(sweep.parameters, key=lambda p: p.name)))
    points = [dict(p) for p in grid_points(sweep)]
    assert points == [
        {"a": 1, "b": "x"}, {"a": 1, "b": "y"}, {"a": 2, "b": "x"},
        {"a": 2, "b": "y"}, {"a": 3, "b": "x"}, {"a": 3, "b": "y"},
    ]  # fmt: skip
    assert budget(sweep) == 6  # the grid caps the budget of 100


def test_float_grid_steps_stop_at_max_without_drift() -> None:
    sweep = _sweep(SweepParameter("lr", kind="float", low=0.1, high=0.5, step=0.1))
    assert [p["lr"] for p in grid_points(sweep)] == [0.1, 0.2, 0.3, 0.4, 0.5]


def test_random_samples_are_seeded_per_generation_and_inside_the_space() -> None:
    sweep = _sweep(
        SweepParameter("lr", kind="float", low=1e-4, high=1e-1, scale="log"),
        SweepParameter("depth", kind="int", low=2, high=64, scale="log"),
        SweepParameter("units", kind="int", low=8, high=16),
        SweepParameter("opt", values=("adam", "sgd")),
        algorithm="random",
    )
    one, again, two = random_points(sweep, 1, 200), random_points(sweep, 1, 200), random_points(sweep, 2, 200)
    assert one == again and one != two
    for point in one:
        assert 1e-4 <= float(point["lr"]) <= 1e-1 and 2 <= int(point["depth"]) <= 64
        assert 8 <= int(point["units"]) <= 16 and point["opt"] in ("adam", "sgd")
        assert isinstance(point["depth"], int) and isinstance(point["units"], int)
    # log-uniform: about half of the samples below the geometric middle of the range
    below = sum(1 for p in one if float(p["lr"]) < math.sqrt(1e-4 * 1e-1))
    assert 70 <= below <= 130


def test_first_generation_is_parallel_trial_count_capped_by_the_budget() -> None:
    sweep = _sweep(SweepParameter("a", values=(1, 2, 3)), parallel=5)
    assert [t.number for t in first_generation(sweep)] == [0, 1, 2]
    assert [dict(t.parameters) for t in current_trials(sweep)] == [{"a": 1}, {"a": 2}, {"a": 3}]


def test_a_grid_larger_than_memory_is_walked_by_index() -> None:
    sweep = _sweep(
        SweepParameter("a", kind="int", low=0, high=10**12, step=1),
        SweepParameter("b", values=("x", "y")),
        most=5,
        parallel=3,
    )
    assert budget(sweep) == 5
    assert [dict(t.parameters) for t in first_generation(sweep)] == [
        {"a": 0, "b": "x"},
        {"a": 0, "b": "y"},
        {"a": 1, "b": "x"},
    ]
    assert dict(next(grid_points(sweep, 2 * 10**12 + 1))) == {"a": 10**12, "b": "y"}


def test_rounded_samples_stay_inside_bounds_written_with_more_digits() -> None:
    low, high = 0.12345678901, 0.12345679999  # both round to 0.123457 at 6 digits
    for algorithm in ("random", "grid"):
        step = (high - low) / 3 if algorithm == "grid" else None
        sweep = _sweep(SweepParameter("x", kind="float", low=low, high=high, step=step), algorithm=algorithm)
        points = random_points(sweep, 1, 50) if algorithm == "random" else list(grid_points(sweep))
        assert points and all(low <= float(p["x"]) <= high for p in points)


def test_a_narrow_range_keeps_its_grid_points_and_samples_distinct() -> None:
    """Rounding to 6 significant digits made every point of 1.0000001…1.0000009 equal (one
    trial run again and again); the digits now follow the range's spacing."""
    grid = _sweep(SweepParameter("x", kind="float", low=1.0000001, high=1.0000009, step=1e-7))
    values = [float(p["x"]) for p in grid_points(grid)]
    assert values == [1.0000001, 1.0000002, 1.0000003, 1.0000004, 1.0000005, 1.0000006, 1.0000007, 1.0000008, 1.0000009]
    wide = _sweep(SweepParameter("x", kind="float", low=100.0, high=101.0), algorithm="random")
    narrow = _sweep(SweepParameter("x", kind="float", low=100.0, high=100.001), algorithm="random")
    for sweep in (wide, narrow):
        samples = [float(p["x"]) for p in random_points(sweep, 1, 50)]
        assert len(set(samples)) == 50
    grouped = _sweep(
        SweepParameter(
            "x", kind="float", low=0.12345678901, high=0.12345679999, step=(0.12345679999 - 0.12345678901) / 3
        )
    )
    assert len({float(p["x"]) for p in grid_points(grouped)}) == 4


def test_an_int_grid_beyond_float_precision_is_exact() -> None:
    """A float quotient counted 2**60 + 1 … as 2**60: the last point was lost or repeated."""
    sweep = _sweep(SweepParameter("a", kind="int", low=0, high=2**60 + 1, step=1), most=3, parallel=3)
    assert dict(next(grid_points(sweep, 2**60 + 1))) == {"a": 2**60 + 1}
    assert list(grid_points(sweep, 2**60 + 2)) == []


def test_a_sweep_gives_up_on_failed_trials_with_per_index_backoff(workflow: Workflow) -> None:
    """backoffLimitPerIndex and maxFailedIndexes need an Indexed Job, which a sweep is (they
    were refused as 'needs completionMode: Indexed'); a last generation shorter than
    maxFailedIndexes gets it capped at its completions, as the Job API requires."""
    sweep = workflow.task("tune").sweep
    assert sweep is not None
    done = tuple(replace(t, objective=0.5) for t in first_generation(sweep))
    later = replace(sweep, trials=(*done, Trial(4, 2, done[0].parameters)))
    for trials, expected in ((sweep, 3), (later, 1)):
        tasks = tuple(
            replace(t, sweep=trials, backoff_limit_per_index=1, max_failed_indexes=3) if t.name == "tune" else t
            for t in workflow.tasks
        )
        job = _tune_job(_objects(replace(workflow, tasks=tasks)))
        assert (job["spec"]["backoffLimitPerIndex"], job["spec"]["maxFailedIndexes"]) == (1, expected)
        assert job["spec"]["maxFailedIndexes"] <= job["spec"]["completions"]
        kubernetes_validate.validate(job, "1.36", strict=True)
