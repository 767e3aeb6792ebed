"""Benchmark: ``gitops-agent optimize`` over 1,000 containers x 7 days x 1-minute history.

Backfills a real Prometheus (promtool) with CPU and working-set history for ``--services``
services x ``--pods`` pods (default 100 x 10 = 1,000 containers), writes a GitOps repository
whose workflow declares those services, then runs the real command and reports the number
of PromQL requests and the wall time (fetch only, and the whole command including the
proposal commit).

    python bench/optimize_bench.py [--services 100] [--pods 10] [--days 7]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from contextlib import redirect_stdout
from io import StringIO
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from gitops_agent.adapters.prometheus import PrometheusClient  # noqa: E402
from gitops_agent.cli import run  # noqa: E402
from gitops_agent.optimize.recommend import fetch, plan_for, recommend, replay_proposals  # noqa: E402
from gitops_agent.spec import effective_workflow, load_specs  # noqa: E402
from tests.support.gitrepos import git  # noqa: E402
from tests.support.prometheus import (  # noqa: E402
    DAY,
    PrometheusFactory,
    SyntheticSeries,
    container_series,
)

MI = 1024 * 1024
NAMESPACE = "bench"


def history(services: int, pods: int, days: float) -> list[SyntheticSeries]:
    series: list[SyntheticSeries] = []
    for index in range(services):
        high = 0.05 + (index % 20) * 0.01

        def cpu(t: float, high: float = high) -> float:
            return high if (t // 60) % 60 < 12 else high / 4

        def memory(t: float, base: float = 200 + index % 50) -> float:
            return (base + (t % DAY) / DAY * 100) * MI

        for pod in range(pods):
            series += container_series(
                namespace=NAMESPACE,
                pod=f"svc{index:04d}-5d8f7c9b4-p{pod:04d}",
                container=f"svc{index:04d}",
                cpu=cpu,
                memory=memory,
                days=days,
            )
    for workload, pods_of, errors in (("svc0000", pods, 0.01), ("svc0000-b", 2, 0.002)):
        for pod in range(pods_of):
            labels = {"namespace": NAMESPACE, "pod": f"{workload}-6c7d8e9f0-q{pod:04d}"}
            for code, share in (("200", 1 - errors), ("500", errors)):
                series.append(
                    SyntheticSeries(
                        "http_requests_total",
                        {**labels, "code": code},
                        lambda t, share=share: 5.0 * share,
                        days=days,
                        counter=True,
                    )
                )
    return series


def repository(path: Path, services: int) -> Path:
    path.mkdir(parents=True)
    git(path, "init", "-q", "-b", "main")
    (path / "workflows").mkdir()
    (path / "environments").mkdir()

    def service(i: int) -> str:
        text = f'    svc{i:04d}:\n      resources: {{cpu: "1", memory: 2Gi}}'
        if i % 10 == 0:  # every tenth service scales on CPU: HPA bounds instead of CPU
            text += "\n      autoscale: {min: 2, max: 20, cpuUtilization: 70}"
        if i == 0:  # one A/B experiment
            text += "\n      variants:\n        b: {image: registry.example.com/bench:2.0.0, weight: 20}"
        return text

    body = "\n".join(service(i) for i in range(services))
    (path / "workflows" / "bench.yaml").write_text(
        "apiVersion: gitops-agent.io/v1alpha1\nkind: Workflow\nmetadata: {name: bench}\n"
        "spec:\n  defaults: {image: registry.example.com/bench:1.0.0}\n  services:\n"
        f"{body}\n  optimize:\n    rightsizing: {{enabled: true, window: 7d}}\n"
        "    experiments: {metric: errorRate, confidence: 0.95, minSamples: 1000}\n",
        encoding="utf-8",
    )
    (path / "environments" / "bench.yaml").write_text(
        "apiVersion: gitops-agent.io/v1alpha1\nkind: Environment\nmetadata: {name: bench}\n"
        "spec:\n  namespace: bench\n  branch: env/bench\n"
        '  prometheus: {url: "http://127.0.0.1:9090"}\n',
        encoding="utf-8",
    )
    git(path, "add", "-A")
    git(path, "commit", "-q", "-m", "bench workflow")
    return path


BASELINE_SAMPLE = 50


def per_container_baseline(url: str, services: int, pods: int) -> dict[str, float]:
    """The naive plan for comparison: CPU percentile, peak memory and sample count queried
    per container (3 requests each), timed on the first 50 containers, extrapolated."""
    client = PrometheusClient(url, timeout=120)
    at = time.time()
    started = time.monotonic()
    done = 0
    for index in range(services):
        for pod in range(pods):
            if done == BASELINE_SAMPLE:
                break
            selector = (
                f'{{namespace="{NAMESPACE}",pod="svc{index:04d}-5d8f7c9b4-p{pod:04d}",container="svc{index:04d}"}}'
            )
            client.instant(
                f"quantile_over_time(0.95, rate(container_cpu_usage_seconds_total{selector}[5m])[7d:5m])",
                at=at,
            )
            client.instant(f"max_over_time(container_memory_working_set_bytes{selector}[7d])", at=at)
            client.instant(f"count_over_time(container_memory_working_set_bytes{selector}[7d])", at=at)
            done += 1
    seconds = time.monotonic() - started
    containers = services * pods
    return {
        "requests": 3 * containers,
        "measuredContainers": done,
        "measuredSeconds": round(seconds, 2),
        "extrapolatedSeconds": round(seconds / done * containers, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--services", type=int, default=100)
    parser.add_argument("--pods", type=int, default=10)
    parser.add_argument("--days", type=float, default=7.0)
    args = parser.parse_args()
    containers = args.services * args.pods
    with tempfile.TemporaryDirectory(prefix="optimize-bench-") as tmp:
        root = Path(tmp)
        series = history(args.services, args.pods, args.days)
        factory = PrometheusFactory(root)
        started = time.monotonic()
        running = factory.start(series)
        backfill = time.monotonic() - started
        samples = len(series) * int(args.days * DAY // 60)
        try:
            repo = repository(root / "repo", args.services)
            specs = load_specs(repo)
            env = specs.environments["bench"]
            workflows = [effective_workflow(specs, env, "bench")]
            client = PrometheusClient(running.url, timeout=120)
            query_plan = plan_for(env.namespace, workflows, None)
            started = time.monotonic()
            at = time.time()
            fetched = fetch(client, query_plan, at=at)
            recs = recommend(workflows, fetched)
            fetch_seconds = time.monotonic() - started
            started = time.monotonic()
            recs = replay_proposals(client, workflows, recs, fetched, at=at)
            replay_seconds = time.monotonic() - started
            proposed = sum(1 for r in recs if r.proposed)
            per_container = per_container_baseline(running.url, args.services, args.pods)
            out = StringIO()
            started = time.monotonic()
            with redirect_stdout(out):
                code = run(
                    [
                        "optimize",
                        "bench",
                        "--repo",
                        str(repo),
                        "--prometheus",
                        running.url,
                        "-o",
                        "json",
                        "--timeout",
                        "120s",
                    ]
                )
            command_seconds = time.monotonic() - started
            document = json.loads(out.getvalue())
        finally:
            factory.close()
    result = {
        "containers": containers,
        "days": args.days,
        "samples": samples,
        "backfillSeconds": round(backfill, 1),
        "promqlRequests": len(client.log.queries),
        "secondsPerQuery": {
            query.kind.value: round(seconds, 2)
            for query, seconds in zip(query_plan.queries, client.log.seconds, strict=False)
        },
        "replayRequests": len(client.log.queries) - len(query_plan.queries),
        "replaySeconds": round(replay_seconds, 2),
        "fetchAndRecommendSeconds": round(fetch_seconds, 2),
        "commandSeconds": round(command_seconds, 2),
        "perContainerBaseline": per_container,
        "commandExit": code,
        "commandPromqlRequests": document["queries"],
        "recommendations": len(recs),
        "proposed": proposed,
        "proposalState": document["proposal"]["state"],
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
