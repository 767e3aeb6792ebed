"""Right-sizing sees the pods of Indexed Jobs (a sweep's trials, an indexed task): their
names put the completion index before the random suffix, ``<job>-<index>-<5 chars>``, and
both the usage queries and the replay fold them into their task, against a real Prometheus."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gitops_agent.cli import run
from tests.integration import optimize_scenarios as s
from tests.support.prometheus import (
    PrometheusFactory,
    RunningPrometheus,
    SyntheticSeries,
    container_series,
    history_end,
)

pytestmark = pytest.mark.integration
MI = 1024 * 1024
DAYS = 2

WORKFLOW = """\
apiVersion: gitops-agent.io/v1alpha1
kind: Workflow
metadata: {name: lab}
spec:
  defaults: {image: registry.example.com/lab:1.0.0, resources: {cpu: "2", memory: 2Gi}}
  tasks:
    prep:
      command: [python, -m, lab.prep]
      completions: 3
      completionMode: Indexed
    tune:
      command: [python, -m, lab.trial]
      sweep:
        maxTrialCount: 4
        parallelTrialCount: 2
        objective: {metric: lab_validation_loss, goal: minimize}
        trainingTask: train
        parameters: {lr: {min: 0.001, max: 0.1, scale: log}}
    train:
      command: [python, -m, lab.train]
"""
# peak working set per task (MiB): one index of each task peaks above the others
PEAKS = {"prep": 300.0, "tune": 500.0}


def history(end: int) -> list[SyntheticSeries]:
    series: list[SyntheticSeries] = []
    for task, peak in PEAKS.items():
        for index in range(3):
            pod = f"lab-{task}-1a2b3c4d-{index}-{'abcde'[index] * 5}"
            top = peak if index == 1 else peak / 2
            series += container_series(
                namespace=s.NAMESPACE, pod=pod, container=task, cpu=lambda t: 0.2, memory=s.flat(top), days=DAYS
            )
    return series


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningPrometheus]:
    factory = PrometheusFactory(tmp_path_factory.mktemp("prom"))
    try:
        yield factory.start(history(history_end()))
    finally:
        factory.close()


def test_indexed_pods_count_for_their_task(
    lab: RunningPrometheus, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = s.write_repo(tmp_path / "repo", workflow=WORKFLOW)
    code = run(["optimize", "prod", "--repo", str(repo), "--prometheus", lab.url, "-o", "json", "--branch", "p"])
    assert code == 0
    recs: dict[tuple[str, str], dict[str, Any]] = {
        (r["name"], r["field"]): r for r in json.loads(capsys.readouterr().out)["recommendations"]
    }
    samples = DAYS * 86400 // 60
    for task, peak in PEAKS.items():
        memory = recs[(task, "resources.memory")]
        assert memory["status"] == "propose", memory["reason"]
        assert memory["new"] == f"{s.mib_up(peak * 1.15 * MI)}Mi"  # the peak of index 1
        # the replay counted every pod's samples, none above the proposal
        assert 3 * samples <= memory["details"]["replaySamples"] <= 3 * samples + 15
        assert memory["details"]["oomSamplesAfter"] == 0
        cpu = recs[(task, "resources.cpu")]
        assert cpu["status"] == "propose" and cpu["new"] == "200m"
        assert cpu["details"]["replaySamples"] > 0
