"""The project's own example repository, a week of history from the demo helper, and
``gitops-agent optimize dev``: a valid proposal for the three example workflows."""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from gitops_agent.cli import run
from gitops_agent.compile import compile_environment
from gitops_agent.spec import load_specs
from tests.support.gitrepos import ROOT, git, make_gitops_repo
from tests.support.prometheus import DAY

pytestmark = pytest.mark.integration
MI = 1024 * 1024


def test_optimize_the_examples(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    repo = make_gitops_repo(tmp_path / "repo")
    started = subprocess.run(
        [sys.executable, "-m", "tests.support.prometheus", str(repo), "dev", str(tmp_path / "prom")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
    )
    values = dict(line.split("=", 1) for line in started.stdout.splitlines() if "=" in line)
    pid = int(values["PROMETHEUS_PID"])
    try:
        code = run(["optimize", "dev", "--repo", str(repo), "--prometheus", values["PROMETHEUS_URL"], "-o", "json"])
        doc = json.loads(capsys.readouterr().out)
    finally:
        os.kill(pid, signal.SIGTERM)
    assert code == 0
    assert doc["queries"] <= 10
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

    proposal = doc["proposal"]
    assert proposal["state"] == "created"
    # dev shares these workflows with staging/prod: measured values go to dev's overrides
    assert "environments/dev.yaml" in proposal["files"]
    assert "environments/staging.yaml" not in proposal["files"]
    exported = tmp_path / "proposed"
    git(repo, "worktree", "add", "-q", str(exported), proposal["branch"])
    specs = load_specs(exported)
    for env in specs.environments.values():
        assert compile_environment(specs, env, source_commit=None, repo_root=exported)
