"""``gitops-agent optimize`` against a real Prometheus with backfilled history and a real git
repository: every scenario gets its documented recommendation, and the proposal commit
changes only the intended values."""

from __future__ import annotations

import difflib
import json
import math
from pathlib import Path
from typing import Any

import pytest

from gitops_agent.cli import run
from gitops_agent.optimize.replicas import PEAK_HEADROOM
from gitops_agent.spec import effective_workflow, load_specs
from tests.integration import optimize_scenarios as s
from tests.integration.optimize_scenarios import scenario_prometheus  # noqa: F401 (fixture)
from tests.support.gitrepos import git

pytestmark = pytest.mark.integration

BRANCH = "gitops-agent/optimize/prod-test"


def optimize(capsys: pytest.CaptureFixture[str], repo: Path, url: str, *extra: str) -> tuple[int, Any]:
    code = run(["optimize", "prod", "--repo", str(repo), "--prometheus", url, "--branch", BRANCH, "-o", "json", *extra])
    out = capsys.readouterr().out
    return code, (json.loads(out) if out.strip() else None)


def by_key(document: Any) -> dict[tuple[str, str], dict[str, Any]]:
    return {(r["name"], r["field"].split(" ")[0]): r for r in document["recommendations"]}


def test_scenarios_give_the_documented_recommendations(
    scenario_prometheus: Any,  # noqa: F811
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    repo = s.write_repo(tmp_path / "repo")
    head = git(repo, "rev-parse", "HEAD")
    original = (repo / "workflows" / "shop.yaml").read_bytes()

    code, doc = optimize(capsys, repo, scenario_prometheus.url)
    assert code == 0
    recs = by_key(doc)
    assert doc["queries"] <= 10

    # over-provisioned: CPU = p95 of usage (the square wave's high level), memory = peak + 15%
    api_memory = s.mib_up(s.ramp_peak(*s.API_MEMORY) * 1.15)
    assert recs[("api", "resources.cpu")]["new"] == f"{round(s.API_CPU[1] * 1000)}m"
    assert recs[("api", "resources.cpu")]["status"] == "propose"
    assert recs[("api", "resources.memory")]["new"] == f"{api_memory}Mi"
    assert recs[("api", "resources.memory")]["old"] == "4Gi"

    # under-provisioned memory: 490Mi of 512Mi in use -> 490 x 1.15
    assert recs[("cache", "resources.memory")]["new"] == f"{s.mib_up(s.CACHE_MEMORY * 1.15 * s.MI)}Mi"
    assert recs[("cache", "resources.memory")]["status"] == "propose"
    assert recs[("cache", "resources.cpu")]["new"] == f"{round(s.CACHE_CPU[1] * 1000)}m"

    # OOM-killed: max(peak + 100Mi, peak x 1.2, peak x 1.15); CPU 460m vs 500m is below 10%
    worker_memory = recs[("worker", "resources.memory")]
    bumped = max(s.WORKER_MEMORY + 100, s.WORKER_MEMORY * 1.2, s.WORKER_MEMORY * 1.15)
    assert worker_memory["new"] == f"{math.ceil(bumped)}Mi"
    assert "OOMKilled" in worker_memory["reason"]
    assert recs[("worker", "resources.cpu")]["status"] == "below-threshold"
    assert recs[("worker", "resources.cpu")]["new"] == f"{round(s.WORKER_CPU[1] * 1000)}m"

    # too little data: 60 samples of the nightly task
    for field in ("resources.cpu", "resources.memory"):
        rec = recs[("nightly-report", field)]
        assert rec["status"] == "not-enough-data"
        assert "60 samples" in rec["reason"]

    # HPA on CPU: no CPU right-sizing, bounds from the total CPU's trough and peak, PDB floor
    per_replica = 0.5 * 0.70
    peak = s.FRONTEND_PODS * s.FRONTEND_CPU[1]
    trough = s.FRONTEND_PODS * s.FRONTEND_CPU[0]
    assert recs[("frontend", "resources.cpu")]["status"] == "skipped"
    assert math.ceil(trough / per_replica) > 1 + 1  # the trough decides, not the PDB floor
    assert recs[("frontend", "autoscale.min")]["new"] == math.ceil(trough / per_replica)
    assert recs[("frontend", "autoscale.min")]["details"]["troughCores"] == pytest.approx(trough)
    assert recs[("frontend", "autoscale.max")]["new"] == math.ceil(peak * PEAK_HEADROOM / per_replica)
    assert recs[("frontend", "autoscale.max")]["status"] == "propose"

    # A/B: clear winner promoted, clear loser removed, too few samples inconclusive
    assert recs[("ranker", "variants.canary")]["status"] == "propose"
    assert recs[("ranker", "variants.canary")]["new"] == "registry.example.com/ranker:2.0.0"
    assert recs[("ranker", "variants.canary")]["old"] == "registry.example.com/shop:1.0.0"
    assert recs[("search", "variants.fuzzy")]["status"] == "propose"
    assert recs[("search", "variants.fuzzy")]["new"] == "<remove>"
    wide = recs[("recommender", "variants.wide")]
    assert wide["status"] == "inconclusive" and "too few samples" in wide["reason"]
    variant_requests = s.RECOMMENDER[1][0] * 7 * 86400
    assert variant_requests < 1000  # the formula's count, below minSamples
    ranker = recs[("ranker", "variants.canary")]["details"]
    assert ranker["mainErrorRate"] == pytest.approx(s.RANKER[0][1], rel=1e-3)
    assert ranker["variantErrorRate"] == pytest.approx(s.RANKER[1][1], rel=1e-3)

    # the proposal: one commit on the branch, the checkout untouched
    proposal = doc["proposal"]
    assert proposal["state"] == "created" and proposal["files"] == ["workflows/shop.yaml"]
    assert git(repo, "rev-parse", "HEAD") == head
    assert git(repo, "status", "--porcelain") == ""
    assert (repo / "workflows" / "shop.yaml").read_bytes() == original
    assert git(repo, "rev-parse", f"{BRANCH}^") == head
    message = git(repo, "log", "-1", "--format=%B", BRANCH)
    assert "shop/service/api resources.cpu: 2 -> 300m" in message
    assert "quantile_over_time(0.95" in message
    assert "  evidence: [Q1] pods of api (container api): p95 300.0m; [Q2] 19" in message
    proposed = git(repo, "show", f"{BRANCH}:workflows/shop.yaml") + "\n"
    check_only_intended_lines_changed(original.decode(), proposed, api_memory)

    # the proposed specs load, carry the values, and compile
    exported = tmp_path / "proposed"
    git(repo, "worktree", "add", "-q", str(exported), BRANCH)
    specs = load_specs(exported)
    env = specs.environments["prod"]
    shop = effective_workflow(specs, env, "shop")
    assert shop.service("api").container.resources.cpu == "300m"
    assert shop.service("ranker").container.image == "registry.example.com/ranker:2.0.0"
    assert shop.service("ranker").variants == ()
    assert shop.service("search").variants == ()
    assert [v.name for v in shop.service("recommender").variants] == ["wide"]
    from gitops_agent.compile import compile_environment

    tree = compile_environment(specs, env, source_commit=None, repo_root=exported)
    assert any(path.endswith(".yaml") for path in tree)

    # an identical re-run proposes nothing new
    first = git(repo, "rev-parse", BRANCH)
    code, again = optimize(capsys, repo, scenario_prometheus.url)
    assert code == 0 and again["proposal"]["state"] == "unchanged"
    assert git(repo, "rev-parse", BRANCH) == first
    code, other = optimize(capsys, repo, scenario_prometheus.url, "--branch", BRANCH + "-2")
    assert other["proposal"]["state"] == "unchanged" and other["proposal"]["branch"] == BRANCH
    assert git(repo, "branch", "--list", BRANCH + "-2") == ""

    # once the proposal is merged, the same history has nothing more to propose
    git(repo, "merge", "-q", "--ff-only", BRANCH)
    code, merged = optimize(capsys, repo, scenario_prometheus.url, "--branch", "after-merge")
    assert code == 0 and merged["proposal"]["state"] == "nothing-to-propose"
    assert merged["summary"]["propose"] == 0
    assert git(repo, "branch", "--list", "after-merge") == ""


def check_only_intended_lines_changed(before: str, after: str, api_memory: int) -> None:
    removed, added = [], []
    for line in difflib.ndiff(before.splitlines(keepends=True), after.splitlines(keepends=True)):
        if line.startswith("- "):
            removed.append(line[2:])
        elif line.startswith("+ "):
            added.append(line[2:])
    assert removed == [
        "      resources: {cpu: 250m, memory: 512Mi, limits: {memory: 512Mi}}\n",
        "        memory: 512Mi\n",
        "        limits: {memory: 512Mi}\n",
        "      resources: {cpu: 500m, memory: 1Gi}\n",
        "      autoscale: {min: 2, max: 4, cpuUtilization: 70}\n",
        "      variants:\n",
        "        canary: {image: registry.example.com/ranker:2.0.0, weight: 20}\n",
        "      variants:\n",
        "        fuzzy: {image: registry.example.com/search:2.0.0, weight: 20}\n",
    ]
    assert f"        memory: {api_memory}Mi\n" in added
    assert "      resources: {cpu: 200m, memory: 564Mi, limits: {memory: 564Mi}}\n" in added
    assert "        memory: 600Mi\n" in added and "        limits: {memory: 600Mi}\n" in added
    assert "      autoscale: {min: 3, max: 5, cpuUtilization: 70}\n" in added
    assert "      image: registry.example.com/ranker:2.0.0\n" in added
    # every comment and every other line survives byte for byte, in order
    kept = [line for line in before.splitlines(keepends=True) if line not in removed]
    it = iter(after.splitlines(keepends=True))
    assert all(any(line == candidate for candidate in it) for line in kept)


def test_latency_experiment_promotes_the_faster_variant(
    scenario_prometheus: Any,  # noqa: F811
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    repo = tmp_path / "ranking"
    s.write_repo(repo, workflow=s.LATENCY_WORKFLOW)
    git(repo, "mv", "workflows/shop.yaml", "workflows/ranking.yaml")
    git(repo, "commit", "-q", "-m", "name the file after the workflow")
    code, doc = optimize(capsys, repo, scenario_prometheus.url)
    assert code == 0
    # no right-sizing policy: sized with the defaults (4 usage queries) + the histogram query
    assert doc["queries"] == 5
    sized = [r for r in doc["recommendations"] if r["strategy"] == "rightsizing"]
    assert [(r["field"], r["status"]) for r in sized] == [
        ("resources.cpu", "not-enough-data"),
        ("resources.memory", "not-enough-data"),
    ]
    [rec] = [r for r in doc["recommendations"] if r["strategy"] == "experiments"]
    assert rec["details"]["observedSplit"] == "75.00%/25.00%" and rec["details"]["test"].startswith("mSPRT")
    # the main's p95 bucket: the smallest bound holding >= 95% of its requests
    bound = min(float(le) for le, share in s.SCORER_MAIN.items() if share >= 0.95)
    assert rec["details"]["slowerThanSeconds"] == bound == 1.0
    assert rec["details"]["mainSlowShare"] == pytest.approx(1 - s.SCORER_MAIN["1"], rel=1e-3)
    assert rec["details"]["variantSlowShare"] == pytest.approx(1 - s.SCORER_FAST["1"], rel=1e-3)
    assert rec["status"] == "propose" and rec["new"] == "registry.example.com/scorer:1.1.0"
    proposed = git(repo, "show", f"{BRANCH}:workflows/ranking.yaml")
    assert "fast" not in proposed and "      image: registry.example.com/scorer:1.1.0" in proposed


def test_text_output_for_people(
    scenario_prometheus: Any,  # noqa: F811
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    repo = s.write_repo(tmp_path / "repo")
    code = run(["optimize", "--repo", str(repo), "--prometheus", scenario_prometheus.url])
    out, err = capsys.readouterr()
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split() == ["TARGET", "FIELD", "OLD", "NEW", "STATUS", "REASON"]
    assert any(line.startswith("shop/task/nightly-report") and "not-enough-data" in line for line in lines)
    # 8 targets: 2 fields each, + 2 HPA bounds, + 3 variants; the scenarios above say which is which
    summary = next(line for line in lines if "recommendation(s):" in line)
    assert summary == (
        "21 recommendation(s): 10 propose, 1 below-threshold, 8 not-enough-data, 1 skipped, 1 inconclusive"
    )
    assert lines[-1].startswith("proposal created on gitops-agent/optimize/prod-")  # ENV defaulted
    assert "PromQL queries" in err
