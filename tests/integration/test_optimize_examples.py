"""The project's own example repository, a week of history from the demo helper, and
``gitops-agent optimize dev``: a valid proposal for the three example workflows."""

from __future__ import annotations

import json
import math
import os
import re
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from gitops_agent.cli import run
from gitops_agent.compile import compile_environment
from gitops_agent.spec import load_specs
from tests.support.gitrepos import ROOT, git, make_gitops_repo
from tests.support.prometheus import DAY

pytestmark = pytest.mark.integration
MI = 1024 * 1024


def _demo_prometheus(repo: Path, tmp_path: Path) -> tuple[str, int]:
    """A week of the demo history for ``repo``'s dev environment: (URL, process id)."""
    started = subprocess.run(
        [sys.executable, "-m", "tests.support.prometheus", str(repo), "dev", str(tmp_path / "prom")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
    )
    values = dict(line.split("=", 1) for line in started.stdout.splitlines() if "=" in line)
    return values["PROMETHEUS_URL"], int(values["PROMETHEUS_PID"])


def _optimize_dev(repo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, Any]:
    url, pid = _demo_prometheus(repo, tmp_path)
    try:
        code = run(["optimize", "dev", "--repo", str(repo), "--prometheus", url, "-o", "json"])
        return code, json.loads(capsys.readouterr().out)
    finally:
        os.kill(pid, signal.SIGTERM)


def test_optimize_the_examples(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    repo = make_gitops_repo(tmp_path / "repo")
    code, doc = _optimize_dev(repo, tmp_path, capsys)
    assert code == 0
    assert doc["queries"] <= 11  # batched per kind of query; the retrain policies add one request
    recs = {(r["workflow"], r["name"], r["field"].split(" ")[0]): r for r in doc["recommendations"]}

    # llm-gateway: HPA on CPU -> CPU skipped; memory = peak of the demo ramp (m x 0.5) + 15%
    assert recs[("customer-service-agent", "llm-gateway", "resources.cpu")]["status"] == "skipped"
    peak = 2048 * MI * (0.35 + 0.15 * (DAY - 60) / DAY)
    memory = recs[("customer-service-agent", "llm-gateway", "resources.memory")]
    assert memory["new"] == f"{math.ceil(peak * 1.15 / MI)}Mi" and memory["status"] == "propose"
    # tasks ran for an hour: not enough data
    assert recs[("image-recognition", "train", "resources.cpu")]["status"] == "not-enough-data"
    # the canary fails less (0.5% vs 1.5% over a week): promoted
    canary = recs[("image-recognition", "classifier", "variants.candidate")]
    assert canary["status"] == "propose" and canary["new"] == "registry.example.com/imgrec:1.5.0"

    # accuracy fell below 0.92 over the last day: train again, in dev's overrides
    retrain = recs[("image-recognition", "train", "runId")]
    assert retrain["status"] == "propose" and retrain["new"].startswith("retrain-")
    assert retrain["details"]["mean"] < 0.92

    proposal = doc["proposal"]
    assert proposal["state"] == "created"
    # dev shares these workflows with staging/prod: measured values go to dev's overrides
    assert "environments/dev.yaml" in proposal["files"]
    assert "environments/staging.yaml" not in proposal["files"]
    exported = tmp_path / "proposed"
    git(repo, "worktree", "add", "-q", str(exported), proposal["branch"])
    dev = (exported / "environments" / "dev.yaml").read_text(encoding="utf-8")
    assert f"runId: {retrain['new']}" in dev
    specs = load_specs(exported)
    for env in specs.environments.values():
        assert compile_environment(specs, env, source_commit=None, repo_root=exported)


def test_the_examples_without_an_optimize_policy_are_right_sized(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = make_gitops_repo(tmp_path / "repo")
    for workflow in (repo / "workflows").glob("*.yaml"):
        text = workflow.read_text(encoding="utf-8")
        workflow.write_text(re.sub(r"\n  optimize:\n(    .*\n)*", "\n", text), encoding="utf-8")
    git(repo, "commit", "-q", "-am", "no optimize policies")
    assert "optimize:" not in "".join(p.read_text() for p in (repo / "workflows").glob("*.yaml"))
    code, doc = _optimize_dev(repo, tmp_path, capsys)
    assert code == 0 and doc["window"] == "7d"  # the default policy's window
    proposed = {(r["workflow"], r["name"], r["field"]) for r in doc["recommendations"] if r["status"] == "propose"}
    assert ("customer-service-agent", "llm-gateway", "resources.memory") in proposed
    assert {w for w, _, _ in proposed} >= {"customer-service-agent", "image-recognition"}
    assert all(r["strategy"] != "experiments" for r in doc["recommendations"])  # no experiments policy
    replayed = [r for r in doc["recommendations"] if r["status"] == "propose" and r["strategy"] == "rightsizing"]
    assert replayed and all("replaySamples" in r["details"] for r in replayed)
    assert doc["proposal"]["state"] == "created"
