"""``optimize`` out of the box against a real Prometheus: right-sizing without a policy, a
replay whose counts match the synthetic data, HPA bounds from the request rate and the PDB,
a broken A/B split reported as such; an unreachable Prometheus is exit 3 in every case."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gitops_agent.cli import run
from gitops_agent.optimize.replicas import PEAK_HEADROOM
from tests.integration import optimize_scenarios as s
from tests.support.gitrepos import git
from tests.support.prometheus import (
    DAY,
    PrometheusFactory,
    RunningPrometheus,
    SyntheticSeries,
    container_series,
    free_port,
    history_end,
)

pytestmark = pytest.mark.integration
MI = 1024 * 1024
NAMESPACE = s.NAMESPACE
DAYS = 6  # the whole history lies inside the 7d default window

WORKFLOW = """\
apiVersion: gitops-agent.io/v1alpha1
kind: Workflow
metadata: {name: lab}
spec:
  defaults: {image: registry.example.com/lab:1.0.0}
  services:
    spiky:   # memory peaks above its request; no limit
      ports: {http: 8080}
      resources: {cpu: "1", memory: 256Mi}
    web:     # CPU flat, traffic with hourly peaks; a PDB allowing 2 pods down
      ports: {http: 8080}
      resources: {cpu: 500m, memory: 256Mi}
      autoscale: {min: 2, max: 3, cpuUtilization: 70}
      disruption: {maxUnavailable: 2}
    ranker:  # weight 20, but the variant gets 30% of the requests
      ports: {http: 8080}
      route: {gateway: shop}
      resources: {cpu: 500m, memory: 256Mi}
      variants:
        canary: {image: registry.example.com/ranker:2.0.0, weight: 20}
"""
EXPERIMENTS = "  optimize:\n    experiments: {metric: errorRate}\n"

# spiky: working set 200Mi, 400Mi for 5 samples every 6 hours (not in the last 10 minutes)
SPIKY_BASE, SPIKY_PEAK, SPIKY_REQUEST = 200.0, 400.0, 256.0
# web: 2 pods, 0.35 cores each; 38 requests/s in minutes 0-11 of every hour, 10/s otherwise
WEB_PODS, WEB_CORES, WEB_HIGH, WEB_LOW = 2, 0.35, 38.0, 10.0


def spiky_peak(end: int, t: float) -> bool:
    return int((end - t) // 60) % 360 in range(10, 15)


def history(end: int) -> list[SyntheticSeries]:
    series = container_series(
        namespace=NAMESPACE,
        pod="spiky-7c9d8f6b5-aaaaa",
        container="spiky",
        cpu=s.square(0.1, 0.3),
        memory=lambda t: (SPIKY_PEAK if spiky_peak(end, t) else SPIKY_BASE) * MI,
        days=DAYS,
    )
    for pod in s._pods("web", WEB_PODS):
        series += container_series(
            namespace=NAMESPACE, pod=pod, container="web", cpu=lambda t: WEB_CORES, memory=s.flat(100), days=DAYS
        )
        rate = s.square(WEB_LOW / WEB_PODS, WEB_HIGH / WEB_PODS)
        labels = {"namespace": NAMESPACE, "pod": pod, "code": "200"}
        series.append(SyntheticSeries("http_requests_total", labels, rate, days=DAYS, counter=True))
    for pod, rate, errors in (("ranker-7c9d8f6b5-aaaaa", 7.0, 0.02), ("ranker-canary-7c9d8f6b5-aaaaa", 3.0, 0.005)):
        for code, share in (("200", 1 - errors), ("500", errors)):
            labels = {"namespace": NAMESPACE, "pod": pod, "code": code}
            series.append(
                SyntheticSeries("http_requests_total", labels, lambda t, r=rate * share: r, days=DAYS, counter=True)
            )
    return series


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningPrometheus]:
    factory = PrometheusFactory(tmp_path_factory.mktemp("prom"))
    try:
        yield factory.start(history(history_end()))
    finally:
        factory.close()


def optimize(repo: Path, url: str, capsys: pytest.CaptureFixture[str], *extra: str) -> tuple[int, str, str]:
    code = run(["optimize", "prod", "--repo", str(repo), "--prometheus", url, "--timeout", "5s", *extra])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def recs_of(out: str) -> dict[tuple[str, str], dict[str, Any]]:
    return {(r["name"], r["field"].split(" ")[0]): r for r in json.loads(out)["recommendations"]}


def test_no_policy_still_right_sizes_with_a_replay_matching_the_data(
    lab: RunningPrometheus, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = s.write_repo(tmp_path / "repo", workflow=WORKFLOW + EXPERIMENTS)
    code, out, _ = optimize(repo, lab.url, capsys, "-o", "json", "--branch", "proposal")
    assert code == 0
    recs = recs_of(out)

    memory = recs[("spiky", "resources.memory")]
    assert memory["status"] == "propose" and memory["new"] == f"{s.mib_up(SPIKY_PEAK * 1.15 * MI)}Mi"
    samples = DAYS * DAY // 60
    peaks = sum(1 for k in range(samples) if k % 360 in range(10, 15))
    details = memory["details"]
    # every peak sample crossed the hand-set 256Mi; none crosses the proposed limit
    assert details["oomSamplesBefore"] == peaks and details["oomSamplesAfter"] == 0
    # the 1m subquery sees the newest sample again for up to 5 minutes after it
    assert samples <= details["replaySamples"] <= samples + 5
    mean = (SPIKY_BASE * (samples - peaks) + SPIKY_PEAK * peaks) / samples
    assert details["slackBefore"] == pytest.approx(1 - mean / SPIKY_REQUEST, abs=2e-3)
    assert details["slackAfter"] == pytest.approx(1 - mean * MI / (s.mib_up(SPIKY_PEAK * 1.15 * MI) * MI), abs=2e-3)

    cpu = recs[("spiky", "resources.cpu")]
    assert cpu["status"] == "propose" and cpu["new"] == "300m"
    # the 5m rate of the square wave averages 0.1 + 0.2 x 12/60 = 0.14 cores
    assert cpu["details"]["slackBefore"] == pytest.approx(1 - 0.14, abs=0.01)
    assert cpu["details"]["slackAfter"] == pytest.approx(1 - 0.14 / 0.3, abs=0.02)

    # the replay is in the commit message, next to the queries that fed it
    message = git(repo, "log", "-1", "--format=%B", "proposal")
    assert f"would-have-OOMed samples {peaks} -> 0 of" in message
    assert 'pod=~"(spiky)-[a-z0-9]+-[a-z0-9]{5}"} > 268435456)[7d:1m]' in message  # 256Mi: the old request
    assert "[7d:1m]" in message and "[7d:5m]" in message


def test_hpa_bounds_follow_the_request_rate_and_the_pdb(
    lab: RunningPrometheus, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = s.write_repo(tmp_path / "repo", workflow=WORKFLOW)
    code, out, _ = optimize(repo, lab.url, capsys, "-o", "json", "--branch", "proposal")
    assert code == 0
    recs = recs_of(out)
    per_replica = 0.5 * 0.70
    mean_rps = WEB_LOW + (WEB_HIGH - WEB_LOW) * 12 / 60  # 15.6/s
    rps_per_replica = per_replica * mean_rps / (WEB_PODS * WEB_CORES)  # 7.8/s at the CPU target
    cpu_max = math.ceil(WEB_PODS * WEB_CORES * PEAK_HEADROOM / per_replica)  # 3: CPU alone
    traffic_max = math.ceil(WEB_HIGH * PEAK_HEADROOM / rps_per_replica)  # ceil(5.85) = 6, away from a whole number
    assert traffic_max > cpu_max
    high = recs[("web", "autoscale.max")]
    assert high["new"] == traffic_max and high["status"] == "propose"
    assert high["details"]["rpsPerReplica"] == pytest.approx(rps_per_replica, rel=0.02)
    # maxUnavailable: 2 needs 3 replicas so one still serves during a drain
    low = recs[("web", "autoscale.min")]
    assert low["new"] == 3 and low["details"]["pdbFloor"] == 3 and low["status"] == "propose"


def test_a_mismatched_split_is_reported_not_decided(
    lab: RunningPrometheus, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = s.write_repo(tmp_path / "repo", workflow=WORKFLOW + EXPERIMENTS)
    code, out, _ = optimize(repo, lab.url, capsys, "-o", "json", "--branch", "proposal")
    assert code == 0
    canary = recs_of(out)[("ranker", "variants.canary")]
    # the canary fails four times less, but got 30% of the requests instead of 20%
    assert canary["status"] == "sample-ratio-mismatch"
    assert canary["details"]["observedSplit"] == "70.00%/30.00%"
    assert canary["details"]["intendedSplit"] == "80.00%/20.00%"
    proposed = git(repo, "show", "proposal:workflows/shop.yaml")
    assert "canary:" in proposed  # the variant stays


@pytest.mark.parametrize(
    ("optimize_block", "why"),
    [
        ("", None),  # no policy: right-sizing by default
        ("  optimize:\n    rightsizing: {enabled: false}\n", "right-sizing is disabled"),
    ],
)
def test_an_unreachable_prometheus_is_exit_3(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], optimize_block: str, why: str | None
) -> None:
    repo = s.write_repo(tmp_path / "repo", workflow=WORKFLOW + optimize_block)
    code, out, err = optimize(repo, f"http://127.0.0.1:{free_port()}", capsys)
    assert code == 3 and out == ""
    assert "cannot connect" in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1
    assert git(repo, "for-each-ref", "refs/heads/").count("\n") == 0


def test_nothing_to_do_says_why_in_one_line(
    lab: RunningPrometheus, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = s.write_repo(tmp_path / "repo", workflow=WORKFLOW + "  optimize:\n    rightsizing: {enabled: false}\n")
    code, out, _ = optimize(repo, lab.url, capsys)
    assert code == 0
    assert out.strip().splitlines() == [
        "nothing to optimize in prod: right-sizing is disabled (optimize.rightsizing.enabled: false) "
        "and no experiments or retrain policies are set"
    ]


def test_a_namespace_without_series_says_so(
    lab: RunningPrometheus, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    environment = s.ENVIRONMENT.replace("namespace: shop-prod", "namespace: shop-typo")
    repo = s.write_repo(tmp_path / "repo", workflow=WORKFLOW, environments={"prod": environment})
    code, out, _ = optimize(repo, lab.url, capsys)
    assert code == 0
    assert (
        out.strip().splitlines()[-1]
        == "nothing to propose: Prometheus has no usage series for namespace shop-typo in the last 7d"
    )
    code, out, _ = optimize(repo, lab.url, capsys, "-o", "json")
    assert json.loads(out)["proposal"]["why"].startswith("Prometheus has no usage series")
