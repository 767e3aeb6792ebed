"""Task-run facts: identity by template hash, observation of finished Jobs, stand-ins for gone
Jobs, the note lines that keep them, and grouping facts into runs for the audit."""

from __future__ import annotations

import copy
from typing import Any

from gitops_agent.history.audit import group_runs
from gitops_agent.history.notes import decode, decode_run, encode_run
from gitops_agent.reconcile.dag import Gate, gate, task_jobs
from gitops_agent.reconcile.runs import (
    RunOutcome,
    TaskRun,
    latest_runs,
    observe,
    run_key,
    stand_in,
    template_hash,
)


def job(name: str = "train-1a2b", image: str = "img:1", **status: Any) -> dict[str, Any]:
    obj: dict[str, Any] = {
        "apiVersion": "batch/v1", "kind": "Job",
        "metadata": {"name": name, "namespace": "ml",
                     "labels": {"gitops-agent.io/task": "train", "app.kubernetes.io/part-of": "wf"}},
        "spec": {"template": {"spec": {"containers": [{"name": "main", "image": image}]}}},
    }
    if status:
        obj["status"] = status
    return obj


def fact(outcome: RunOutcome, time: str, **extra: Any) -> TaskRun:
    return TaskRun("ml", "train-1a2b", "h", outcome, time, **extra)


def test_the_identity_changes_with_the_template_only() -> None:
    base = job()
    relabelled = copy.deepcopy(base)
    relabelled["metadata"]["labels"]["extra"] = "x"
    assert template_hash(base) == template_hash(relabelled)
    assert template_hash(base) != template_hash(job(image="img:2"))
    stamped = copy.deepcopy(base)
    stamped["metadata"]["annotations"] = {"gitops-agent.io/template-hash": "abc"}
    assert run_key(stamped) == ("ml", "train-1a2b", "abc")
    assert run_key(base) == ("ml", "train-1a2b", template_hash(base))


def test_a_finished_job_is_observed_once_with_its_reason() -> None:
    failed = job(startTime="2026-11-30T10:00:00Z", conditions=[
        {"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded", "message": "Job has reached the limit",
         "lastTransitionTime": "2026-11-30T10:05:00Z"}])
    seen = observe(failed, {}, "rev1")
    assert seen is not None and seen.outcome is RunOutcome.FAILED
    assert seen.reason == "BackoffLimitExceeded: Job has reached the limit"
    assert (seen.started, seen.finished, seen.task, seen.workflow) == (
        "2026-11-30T10:00:00Z", "2026-11-30T10:05:00Z", "train", "wf")
    assert seen.duration_seconds == 300
    assert observe(failed, {seen.key: seen}, "rev1") is None
    running = job(startTime="2026-11-30T10:00:00Z")
    assert observe(running, {}, "rev1") is None
    # while a re-run is requested, the Job still there is the run being replaced
    rerun = TaskRun(*seen.key, RunOutcome.RERUN, "2026-11-30T11:00:00Z")
    assert observe(failed, {seen.key: rerun}, "rev1") is None


def test_a_stand_in_gates_dependents_by_the_recorded_outcome() -> None:
    train = job()
    evaluate = job("evaluate-9f9f")
    evaluate["metadata"]["labels"]["gitops-agent.io/task"] = "evaluate"
    evaluate["metadata"]["annotations"] = {"gitops-agent.io/depends-on": "train"}
    jobs = task_jobs([train, evaluate])
    key = ("batch", "Job", "ml", "train-1a2b")
    succeeded = stand_in(train, fact(RunOutcome.SUCCEEDED, "t"))
    assert gate(evaluate, jobs, {key: succeeded}).gate is Gate.READY
    unknown = stand_in(train, fact(RunOutcome.STARTED, "t"))
    assert gate(evaluate, jobs, {key: unknown}).gate is Gate.BLOCKED


def test_latest_fact_wins_by_time() -> None:
    facts = [fact(RunOutcome.SUCCEEDED, "2026-11-30T10:00:01.000000Z"),
             fact(RunOutcome.STARTED, "2026-11-30T10:00:00.000000Z"),
             fact(RunOutcome.RERUN, "2026-11-30T10:00:02.000000Z")]
    assert latest_runs(facts)[("ml", "train-1a2b", "h")].outcome is RunOutcome.RERUN


def test_note_lines_round_trip_and_stay_apart_from_sync_records() -> None:
    original = fact(RunOutcome.SUCCEEDED, "2026-11-30T10:00:01.000000Z", task="train", reason="", revision="abc")
    line = encode_run("dev", original)
    assert line.startswith('{"time":"2026-11-30T10:00:01.000000Z","event":"task-run"')
    assert decode_run(line) == ("dev", original)
    assert decode(line) is None  # not a sync record
    assert decode_run('{"time":"x","event":"sync","environment":"dev"}') is None
    assert decode_run("not json") is None


def test_facts_group_into_runs_once_each() -> None:
    facts = [
        fact(RunOutcome.STARTED, "1"), fact(RunOutcome.SUCCEEDED, "2"), fact(RunOutcome.SUCCEEDED, "3"),  # 2 replicas
        fact(RunOutcome.RERUN, "4"), fact(RunOutcome.STARTED, "5"), fact(RunOutcome.FAILED, "6"),
        fact(RunOutcome.STARTED, "7"),
    ]
    runs = group_runs(facts)
    assert [[f.outcome.value for f in run] for run in runs] == [
        ["started", "succeeded"], ["rerun-requested"], ["started", "failed"], ["started"]]


def test_audit_names_a_task_with_its_workflow() -> None:
    """Two workflows of one environment may both have a task 'train': the audit line says whose."""
    from gitops_agent.history.audit import _run_event

    ran = [fact(RunOutcome.STARTED, "2026-11-30T10:00:00.000000Z", task="train", workflow="fraud-model",
                started="2026-11-30T10:00:00.000000Z"),
           fact(RunOutcome.SUCCEEDED, "2026-11-30T10:00:02.000000Z", task="train", workflow="fraud-model",
                started="2026-11-30T10:00:00.000000Z", finished="2026-11-30T10:00:02.000000Z")]
    assert _run_event("dev", ran).message == "fraud-model/train succeeded in 2s"
    asked = [fact(RunOutcome.RERUN, "2026-11-30T10:00:03.000000Z", task="train", workflow="image-recognition")]
    assert _run_event("dev", asked).message == "re-run of image-recognition/train requested"
    assert _run_event("dev", [fact(RunOutcome.RERUN, "2026-11-30T10:00:03.000000Z")]).message == (
        "re-run of train-1a2b requested"
    )
