"""Retraining on model decay: the policy's located errors, the breach rule, the run id it
proposes, idempotence, and how a run id reaches the Jobs and Deployments downstream."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from gitops_agent.compile.workloads import deployment, job, job_name
from gitops_agent.optimize import retrain
from gitops_agent.optimize.model import Recommendation, Status, Strategy
from gitops_agent.optimize.proposal import message
from gitops_agent.optimize.retrain import Quality
from gitops_agent.spec.model import Container, Direction, Environment, Optimize, Retrain, Service, Task, Workflow
from gitops_agent.vocabulary import labels as L
from tests.unit.specs.helpers import assert_only, workflow_problems

F = "workflows/wf.yaml"
AT = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
ACCURACY = Retrain(task="train", query="model_accuracy", threshold=0.9, window="1d")


def _workflow(run_id: str | None = None, policy: Retrain = ACCURACY) -> Workflow:
    image = Container(image="img:1")
    return Workflow(
        name="imgrec",
        source=F,
        tasks=(
            Task(name="prepare", container=image),
            Task(name="train", container=image, depends_on=("prepare",), run_id=run_id),
            Task(name="evaluate", container=image, depends_on=("train",)),
        ),
        services=(Service(name="serve", container=image, depends_on=("evaluate",)),),
        optimize=Optimize(retrain=(policy,)),
    )


def _recommend(
    mean: float, points: int = 288, *, run_id: str | None = None, policy: Retrain = ACCURACY, pending=None
) -> Recommendation:
    quality = Quality(total=mean * points, points=points)
    return retrain.recommend(
        _workflow(run_id, policy), policy, quality, at=AT, pending=pending or {}, namespace="vision-prod"
    )


def test_a_mean_below_the_threshold_proposes_a_new_run_id_for_the_window_end() -> None:
    rec = _recommend(0.85)
    assert (rec.status, rec.strategy, rec.new, rec.old) == (
        Status.PROPOSE,
        Strategy.RETRAIN,
        "retrain-20261130T120000Z",
        None,
    )
    assert rec.edits[0].path == ("tasks", "train", "runId")
    assert rec.details["windowEnd"] == "2026-11-30T12:00:00Z"
    assert rec.details["mean"] == pytest.approx(0.85)
    assert "mean 0.85 < 0.9 over 1d" in rec.reason
    assert "sum_over_time(((model_accuracy) >= -Inf)[1d:5m])" in rec.evidence[0].query


def test_a_healthy_mean_and_the_threshold_itself_are_not_breaches() -> None:
    assert _recommend(0.95).status is Status.UNCHANGED
    exact = Retrain(task="train", query="model_accuracy", threshold=0.75, window="1d")
    assert _recommend(0.75, policy=exact).status is Status.UNCHANGED  # equal is not a breach
    assert _recommend(0.95).edits == ()


def test_direction_above_breaches_on_a_high_drift_score() -> None:
    drift = Retrain(task="train", query="drift_score", threshold=0.3, direction=Direction.ABOVE, window="6h")
    assert _recommend(0.5, policy=drift).status is Status.PROPOSE
    assert _recommend(0.1, policy=drift).status is Status.UNCHANGED


def test_too_few_values_are_not_enough_data() -> None:
    assert _recommend(0.1, points=retrain.MIN_POINTS - 1).status is Status.NOT_ENOUGH_DATA
    assert _recommend(0.1, points=0).status is Status.NOT_ENOUGH_DATA
    assert _recommend(0.1, points=retrain.MIN_POINTS).status is Status.PROPOSE


def test_a_retrain_for_an_overlapping_window_is_not_proposed_again() -> None:
    recent = retrain.run_id_for(AT - timedelta(hours=23))
    rec = _recommend(0.5, run_id=recent)
    assert rec.status is Status.UNCHANGED
    assert "already retrains" in rec.reason
    older = retrain.run_id_for(AT - timedelta(days=1))  # its window ended where this one starts
    again = _recommend(0.5, run_id=older)
    assert again.status is Status.PROPOSE
    assert again.details["replaces"] == older
    assert f"replacing run {older}" in again.reason


def test_a_hand_set_run_id_does_not_stop_a_retrain() -> None:
    assert _recommend(0.5, run_id="manual-7").status is Status.PROPOSE


def test_an_open_proposal_keeps_its_run_id() -> None:
    pending = {("imgrec", "train"): "retrain-20261129T080000Z"}
    rec = _recommend(0.5, pending=pending)
    assert (rec.status, rec.new) == (Status.PROPOSE, "retrain-20261129T080000Z")
    assert "already proposed" in rec.reason
    other = {("imgrec", "evaluate"): "retrain-20261129T080000Z"}
    assert _recommend(0.5, pending=other).new == "retrain-20261130T120000Z"


def test_quality_is_folded_from_the_tagged_answer() -> None:
    rows = [({"stat": "sum"}, 43.5), ({"stat": "points"}, 50.0)]
    assert retrain.quality_of(rows) == Quality(43.5, 50)
    assert retrain.quality_of(rows).mean == pytest.approx(0.87)
    assert retrain.quality_of([]).mean is None


def test_run_ids_round_trip_and_other_ids_are_not_retrains() -> None:
    assert retrain.window_end_of(retrain.run_id_for(AT)) == AT
    assert retrain.window_end_of("retrain-2026") is None
    assert retrain.window_end_of(None) is None


def test_the_commit_message_carries_a_trailer_per_retrained_task() -> None:
    rec = _recommend(0.5)
    env = Environment(name="dev", source="environments/dev.yaml", namespace="imgrec-dev", branch="env/dev")
    text = message(env, "7d", [rec])
    assert "Gitops-Agent-Retrain: imgrec/train retrain-20261130T120000Z" in text
    assert retrain.parse_trailers(text) == {("imgrec", "train"): "retrain-20261130T120000Z"}
    assert "[Q1] mean 0.5 over 288 values" in text


def test_a_run_id_renames_the_task_job_and_everything_downstream() -> None:
    before, after = _workflow(), _workflow("retrain-20261130T120000Z")
    pairs = zip(before.tasks, after.tasks, strict=True)
    names = {t.name: (job_name(t, before, {}), job_name(a, after, {})) for t, a in pairs}
    assert names["prepare"][0] == names["prepare"][1]  # upstream: the same run
    assert names["train"][0] != names["train"][1]
    assert names["evaluate"][0] != names["evaluate"][1]
    trained = job(after.tasks[1], after, {})
    annotations = trained["spec"]["template"]["metadata"]["annotations"]
    assert annotations == {L.RUN_ID_ANNOTATION: "retrain-20261130T120000Z"}
    evaluated = job(after.tasks[2], after, {})
    assert evaluated["spec"]["template"]["metadata"]["annotations"] == {
        L.UPSTREAM_RUNS_ANNOTATION: "train=retrain-20261130T120000Z"
    }
    served = deployment(after.services[0], after)
    assert served["spec"]["template"]["metadata"]["annotations"] == {
        L.UPSTREAM_RUNS_ANNOTATION: "train=retrain-20261130T120000Z"
    }
    assert "annotations" not in deployment(before.services[0], before)["spec"]["template"]["metadata"]


POLICY_WORKFLOW = """\
apiVersion: gitops-agent.io/v1alpha1
kind: Workflow
metadata: {name: wf}
spec:
  tasks:
    train: {image: app:1}
    evaluate: {image: app:1, dependsOn: [train]}
    nightly: {image: app:1, schedule: "0 2 * * *"}
  optimize:
    retrain:
      - {task: train, query: acc, threshold: 0.9}
      - {task: %s, query: acc, threshold: 0.9, window: %s}
"""


@pytest.mark.parametrize(
    ("task", "window", "col", "field", "fragment"),
    [
        ("trian", "1d", 16, "spec.optimize.retrain[1].task", "no task 'trian' in this workflow (tasks: evaluate, "),
        ("nightly", "1d", 16, "spec.optimize.retrain[1].task", "task 'nightly' is scheduled"),
        ("train", "1d", 16, "spec.optimize.retrain[1].task", "already has a retrain policy (retrain[0])"),
        ("evaluate", "0d", 62, "spec.optimize.retrain[1].window", "greater than zero"),
    ],
)
def test_a_wrong_policy_is_reported_at_its_field(
    tmp_path: Path, task: str, window: str, col: int, field: str, fragment: str
) -> None:
    found = workflow_problems(tmp_path, POLICY_WORKFLOW % (task, window))
    assert_only(found, F, 12, col, field, fragment)


def test_a_missing_threshold_and_a_wrong_direction_are_schema_errors(tmp_path: Path) -> None:
    text = POLICY_WORKFLOW.replace("{task: %s, query: acc, threshold: 0.9, window: %s}", "{task: evaluate, query: acc}")
    assert_only(workflow_problems(tmp_path, text), F, 12, 9, "spec.optimize.retrain[1].threshold", "threshold")
    text = POLICY_WORKFLOW % ("evaluate", "1d")
    text = text.replace("window: 1d}", "window: 1d, direction: sideways}")
    found = workflow_problems(tmp_path / "b", text)
    assert [d.field for d in found] == ["spec.optimize.retrain[1].direction"], [str(d) for d in found]


def test_a_run_id_on_a_scheduled_task_is_refused(tmp_path: Path) -> None:
    text = POLICY_WORKFLOW.replace('schedule: "0 2 * * *"}', 'schedule: "0 2 * * *", runId: r1}') % ("evaluate", "2d")
    found = [d for d in workflow_problems(tmp_path, text) if d.field.endswith("runId")]
    assert [(d.line, d.col, d.field) for d in found] == [(8, 52, "spec.tasks.nightly.runId")]
    assert "scheduled task" in found[0].message


def test_a_policy_in_an_environment_override_is_checked_in_the_environment_file(tmp_path: Path) -> None:
    from tests.unit.specs.helpers import VALID_WORKFLOW, diagnose

    environment = """\
    apiVersion: gitops-agent.io/v1alpha1
    kind: Environment
    metadata: {name: dev}
    spec:
      namespace: ml-dev
      branch: env/dev
      overrides:
        wf:
          optimize:
            retrain:
              - {task: api, query: acc, threshold: 0.9}
          tasks:
            prep: {runId: "not a run id"}
    """
    found = diagnose(tmp_path, {"workflows/wf.yaml": VALID_WORKFLOW, "environments/dev.yaml": environment})
    assert [(d.file, d.line, d.field) for d in found] == [
        ("environments/dev.yaml", 11, "spec.overrides.wf.optimize.retrain[0].task"),
        ("environments/dev.yaml", 13, "spec.overrides.wf.tasks.prep.runId"),
    ], [str(d) for d in found]
    assert "no task 'api' in this workflow (tasks: prep)" in found[0].message
    assert "must be a run id" in found[1].message


def test_a_shared_workflow_is_retrained_in_the_environment_overrides() -> None:
    from gitops_agent.optimize.proposal import locate
    from gitops_agent.spec.model import SpecSet, frozen_map

    rec = _recommend(0.5)
    envs = {
        name: Environment(name=name, source=f"environments/{name}.yaml", namespace=name, branch=f"env/{name}")
        for name in ("prod", "dev")
    }
    shared = SpecSet(workflows=frozen_map({"imgrec": _workflow()}), environments=frozen_map(envs))
    assert locate(shared, envs["prod"], rec, rec.edits[0]) == (
        "environments/prod.yaml",
        ("spec", "overrides", "imgrec", "tasks", "train", "runId"),
    )
    alone = SpecSet(workflows=frozen_map({"imgrec": _workflow()}), environments=frozen_map({"prod": envs["prod"]}))
    assert locate(alone, envs["prod"], rec, rec.edits[0]) == (F, ("spec", "tasks", "train", "runId"))


def test_the_pull_request_table_shows_an_unset_run_id_as_unset() -> None:
    from gitops_agent.optimize import report

    table = report.markdown_table([_recommend(0.5)])
    assert "| `imgrec/task/train` | `runId` | (unset) | retrain-20261130T120000Z |" in table
    assert "None" not in table


def test_namespace_in_the_query_is_the_environments() -> None:
    policy = Retrain(task="train", query='avg(model_accuracy{namespace="$namespace"})', threshold=0.9)
    query = retrain.quality_query(policy, "vision-prod")
    assert 'avg(model_accuracy{namespace="vision-prod"})' in query and "$namespace" not in query
    assert '"stat", "sum"' in query  # label_replace's own "$1"-style arguments are not touched


def test_policies_are_asked_in_one_request_and_told_apart() -> None:
    drift = Retrain(task="train", query="drift_score", threshold=0.3, direction=Direction.ABOVE)
    queries = [retrain.quality_query(p, "ns") for p in (ACCURACY, drift)]
    batch = retrain.batch_query(queries)
    assert batch.count('"policy"') == 2 and queries[0] in batch and queries[1] in batch
    rows = [
        ({"stat": "sum", "policy": "1"}, 6.0),
        ({"stat": "points", "policy": "1"}, 12.0),
        ({"stat": "sum", "policy": "0"}, 1.8),
        ({"stat": "points", "policy": "0"}, 2.0),
    ]
    assert retrain.split_batch(rows, 2) == [Quality(1.8, 2), Quality(6.0, 12)]
    assert retrain.split_batch([], 2) == [Quality(0.0, 0), Quality(0.0, 0)]
