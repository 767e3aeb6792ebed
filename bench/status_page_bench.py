"""Benchmark: building the status page and /metrics for a large environment.

An environment of N objects (ConfigMaps, a tenth of them drifted and healed by a field manager)
with W workflows of T tasks each (a chain with fan-out and fan-in every few tasks): the time to
build the snapshot and render the page (what one request costs, without the audit timeline,
which is read at most once per period), and the time to write /metrics for E environments.

    python bench/status_page_bench.py [--objects 2000] [--workflows 10] [--tasks 20] [--environments 100]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable
from typing import Any

from gitops_agent.reconcile.changeset import Action, Change, ChangeSet
from gitops_agent.reconcile.diff import DiffResult
from gitops_agent.reconcile.fieldset import ManagerEntry
from gitops_agent.reconcile.health import HealthStatus
from gitops_agent.reconcile.metrics import Metrics
from gitops_agent.reconcile.status_page import observe, render_environment, snapshot
from gitops_agent.vocabulary.objects import ObjectRef


def task_job(workflow: str, index: int) -> dict[str, Any]:
    needs = [f"t{index - 1}"] if index % 4 else [f"t{index - k}" for k in (1, 2, 3) if index - k >= 0]
    metadata: dict[str, Any] = {"name": f"{workflow}-t{index}-abc", "namespace": "ml",
                                "labels": {"gitops-agent.io/task": f"t{index}", "app.kubernetes.io/part-of": workflow}}
    if index:
        metadata["annotations"] = {"gitops-agent.io/depends-on": ",".join(needs)}
    return {"apiVersion": "batch/v1", "kind": "Job", "metadata": metadata, "spec": {}}


def environment(objects: int, workflows: int, tasks: int) -> tuple[tuple[dict[str, Any], ...], ChangeSet]:
    jobs = tuple(task_job(f"wf{w}", i) for w in range(workflows) for i in range(tasks))
    author = ManagerEntry("kubectl-edit", "Update", "", "2026-11-30T10:00:00Z", frozenset())
    changes: list[Change] = []
    for i in range(objects):
        ref = ObjectRef("", "v1", "ConfigMap", "ml", f"config-{i}")
        if i % 10 == 0:
            live = {"data": {"mode": "edited", "n": str(i)}}
            changes.append(Change(ref, Action.UPDATE, 0, health=HealthStatus.HEALTHY, changed_by=(author,),
                                  sides=DiffResult(ref, live, {"data": {"mode": "fast", "n": str(i)}})))
        else:
            changes.append(Change(ref, Action.UNCHANGED, 0, health=HealthStatus.HEALTHY))
    for n, job in enumerate(jobs):
        ref = ObjectRef("batch", "v1", "Job", "ml", job["metadata"]["name"])
        health = (HealthStatus.HEALTHY, HealthStatus.PROGRESSING, HealthStatus.MISSING)[min(n % tasks // 7, 2)]
        changes.append(Change(ref, Action.UNCHANGED if health is not HealthStatus.MISSING else Action.WAITING, 1,
                              health=health))
    return jobs, ChangeSet("bench", "0" * 40, tuple(changes))


def timed(work: Callable[[], object], repeat: int) -> float:
    """Median seconds of ``repeat`` runs."""
    runs = []
    for _ in range(repeat):
        start = time.perf_counter()
        work()
        runs.append(time.perf_counter() - start)
    return statistics.median(runs)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--objects", type=int, default=2000)
    parser.add_argument("--workflows", type=int, default=10)
    parser.add_argument("--tasks", type=int, default=20)
    parser.add_argument("--environments", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()

    jobs, result = environment(args.objects, args.workflows, args.tasks)
    observed = observe(None, result.revision, jobs, result, result, drift_fix=True, at=time.time())

    def page() -> str:
        return render_environment(snapshot("bench", "ml", "env/bench", observed))

    metrics = Metrics()
    for e in range(args.environments):
        env = f"env-{e}"
        metrics.add("gitops_agent_syncs_total", 3, environment=env, result="success")
        metrics.add("gitops_agent_syncs_total", 1, environment=env, result="error")
        for name in ("gitops_agent_drift_found_total", "gitops_agent_drift_fixed_total",
                     "gitops_agent_apply_errors_total"):
            metrics.add(name, 2, environment=env)
        metrics.add("gitops_agent_reconcile_errors_total", 1, environment=env, source="git")
        metrics.observe("gitops_agent_sync_duration_seconds", 0.4, environment=env)
        metrics.set("gitops_agent_last_success_timestamp_seconds", time.time(), environment=env)
        metrics.set("gitops_agent_drifted_objects", 0, environment=env)

    report = {
        "objects": args.objects,
        "tasks": args.workflows * args.tasks,
        "page_seconds": round(timed(page, args.repeat), 4),
        "page_bytes": len(page().encode()),
        "environments": args.environments,
        "metrics_seconds": round(timed(metrics.render, args.repeat), 4),
        "metrics_bytes": len(metrics.render().encode()),
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
