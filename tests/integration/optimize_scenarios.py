"""Shared scenario for the optimize integration tests: one workflow, synthetic history.

Every expected number in the tests is derived from the formulas here.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.support.gitrepos import git
from tests.support.prometheus import (
    DAY,
    PrometheusFactory,
    RunningPrometheus,
    SyntheticSeries,
    container_series,
)

MI = 1024 * 1024
NAMESPACE = "shop-prod"

WORKFLOW = """\
# The shop: an API, a cache, a worker, a frontend and three A/B experiments.
apiVersion: gitops-agent.io/v1alpha1
kind: Workflow
metadata:
  name: shop
  labels: {team: "shop"}   # copied onto every object
spec:
  defaults:
    image: registry.example.com/shop:1.0.0
    resources: {cpu: "2", memory: 4Gi}   # generous on purpose
  tasks:
    nightly-report:
      schedule: "0 3 * * *"   # runs for an hour a day
      command: [python, -m, shop.report]
  services:
    # over-provisioned: inherits the defaults
    api:
      ports: {http: 8080}
    # memory close to its limit
    cache:
      ports: {redis: 6379}
      resources: {cpu: 250m, memory: 512Mi, limits: {memory: 512Mi}}
    worker:
      resources:
        cpu: 500m       # keep
        memory: 512Mi
        limits: {memory: 512Mi}
    frontend:
      ports: {http: 8080}
      resources: {cpu: 500m, memory: 1Gi}
      autoscale: {min: 2, max: 4, cpuUtilization: 70}
      disruption: {minAvailable: 1}
    ranker:
      ports: {http: 8080}
      route: {gateway: shop}  # requests split by weight
      variants:
        canary: {image: registry.example.com/ranker:2.0.0, weight: 20}
    search:
      ports: {http: 8080}
      route: {gateway: shop}  # requests split by weight
      variants:
        fuzzy: {image: registry.example.com/search:2.0.0, weight: 20}
    recommender:
      ports: {http: 8080}
      route: {gateway: shop}  # requests split by weight
      variants:
        wide: {image: registry.example.com/recommender:2.0.0, weight: 10}
  optimize:
    rightsizing: {enabled: true, window: 7d, cpuPercentile: 95, memoryBufferPercent: 15, minChangePercent: 10}
    experiments: {metric: errorRate, confidence: 0.95, minSamples: 1000}
"""

ENVIRONMENT = """\
apiVersion: gitops-agent.io/v1alpha1
kind: Environment
metadata: {name: prod}
spec:
  namespace: shop-prod
  branch: env/prod
  prometheus: {url: "http://prometheus.monitoring:9090"}   # replaced by --prometheus in tests
  labels: {env: prod}
"""


def write_repo(path: Path, workflow: str = WORKFLOW, environments: dict[str, str] | None = None) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    git(path, "init", "-q", "-b", "main")
    (path / "workflows").mkdir()
    (path / "environments").mkdir()
    (path / "workflows" / "shop.yaml").write_text(workflow, encoding="utf-8")
    for name, text in (environments or {"prod": ENVIRONMENT}).items():
        (path / "environments" / f"{name}.yaml").write_text(text, encoding="utf-8")
    git(path, "add", "-A")
    git(path, "commit", "-q", "-m", "shop workflow")
    return path


def square(low: float, high: float) -> Callable[[float], float]:
    """``high`` during minutes 0-11 of every hour, ``low`` otherwise (see the fixture test:
    the 5m rate at 5m resolution is fully on the plateau for 2 of 12 points per hour, so its
    95th percentile is exactly ``high`` and the minimum exactly ``low``)."""
    return lambda t: high if (t // 60) % 60 < 12 else low


def ramp(base_mi: float, span_mi: float) -> Callable[[float], float]:
    """Working set rising from ``base_mi`` during each day; peak at the day's last minute."""
    return lambda t: (base_mi + (t % DAY) / DAY * span_mi) * MI


def flat(mi: float) -> Callable[[float], float]:
    return lambda t: mi * MI


def ramp_peak(base_mi: float, span_mi: float) -> float:
    return ramp(base_mi, span_mi)(DAY - 60)


def mib_up(size: float) -> int:
    return math.ceil(size / MI - 1e-9)


API_CPU = (0.05, 0.3)
API_MEMORY = (600.0, 300.0)
CACHE_CPU = (0.1, 0.2)
CACHE_MEMORY = 490.0
WORKER_CPU = (0.2, 0.46)
WORKER_MEMORY = 500.0
FRONTEND_CPU = (0.25, 0.4)
FRONTEND_PODS = 3
FRONTEND_MEMORY = 700.0
# requests per second and share of 5xx: (main, variant)
RANKER = ((10.0, 0.02), (2.5, 0.005))  # the variant wins
SEARCH = ((10.0, 0.01), (2.5, 0.03))  # the variant loses
RECOMMENDER = ((10.0, 0.01), (0.001, 0.0))  # about 600 variant requests: too few


# latency experiment: requests per second and cumulative share of requests per bucket bound
SCORER_RATE = 4.0
SCORER_MAIN = {"0.1": 0.5, "0.25": 0.8, "0.5": 0.94, "1": 0.99, "+Inf": 1.0}
SCORER_FAST = {"0.1": 0.6, "0.25": 0.85, "0.5": 0.97, "1": 0.999, "+Inf": 1.0}

LATENCY_WORKFLOW = """\
apiVersion: gitops-agent.io/v1alpha1
kind: Workflow
metadata: {name: ranking}
spec:
  defaults: {image: registry.example.com/scorer:1.0.0}
  services:
    scorer:
      ports: {http: 8080}
      route: {gateway: shop}  # requests split by weight
      variants:
        fast: {image: registry.example.com/scorer:1.1.0, weight: 25}   # faster model
  optimize:
    experiments: {metric: latencyP95, confidence: 0.99, minSamples: 1000}
"""


def _pods(workload: str, count: int) -> list[str]:
    return [f"{workload}-7c9d8f6b5-{chr(97 + i) * 5}" for i in range(count)]


def _traffic(pod: str, rate: float, errors: float) -> list[SyntheticSeries]:
    labels = {"namespace": NAMESPACE, "pod": pod}
    return [
        SyntheticSeries("http_requests_total", {**labels, "code": "200"}, lambda t: rate * (1 - errors), counter=True),
        SyntheticSeries("http_requests_total", {**labels, "code": "500"}, lambda t: rate * errors, counter=True),
    ]


def history() -> list[SyntheticSeries]:
    series: list[SyntheticSeries] = []

    def usage(
        pod: str, container: str, cpu: Callable[[float], float], memory: Callable[[float], float], days: float = 7.0
    ) -> None:
        series.extend(
            container_series(namespace=NAMESPACE, pod=pod, container=container, cpu=cpu, memory=memory, days=days)
        )

    for pod in _pods("api", 2):
        usage(pod, "api", square(*API_CPU), ramp(*API_MEMORY))
    for pod in _pods("cache", 2):
        usage(pod, "cache", square(*CACHE_CPU), flat(CACHE_MEMORY))
    for pod in _pods("worker", 1):
        usage(pod, "worker", square(*WORKER_CPU), flat(WORKER_MEMORY))
        series.append(
            SyntheticSeries(
                "kube_pod_container_status_last_terminated_reason",
                {"namespace": NAMESPACE, "pod": pod, "container": "worker", "reason": "OOMKilled"},
                lambda t: 1.0,
                days=2,
            )
        )
    for pod in _pods("frontend", FRONTEND_PODS):
        usage(pod, "frontend", square(*FRONTEND_CPU), flat(FRONTEND_MEMORY))
    # a scheduled task that ran for one hour: 60 samples
    usage("shop-nightly-report-29410560-qwert", "nightly-report", square(0.5, 1.0), flat(300), days=1 / 24)
    for service, variant, ((main_rate, main_err), (var_rate, var_err)) in (
        ("ranker", "canary", RANKER),
        ("search", "fuzzy", SEARCH),
        ("recommender", "wide", RECOMMENDER),
    ):
        for pod in _pods(service, 2):
            series.extend(_traffic(pod, main_rate / 2, main_err))
        for pod in _pods(f"{service}-{variant}", 1):
            series.extend(_traffic(pod, var_rate, var_err))
    # request-duration histograms of the latency experiment (cumulative shares per bucket)
    # weight 25: the main Deployment gets three times the variant's requests
    for workload, shares, rate in (("scorer", SCORER_MAIN, 3 * SCORER_RATE), ("scorer-fast", SCORER_FAST, SCORER_RATE)):
        for le, share in shares.items():
            series.append(
                SyntheticSeries(
                    "http_request_duration_seconds_bucket",
                    {"namespace": NAMESPACE, "pod": f"{workload}-7c9d8f6b5-aaaaa", "le": le},
                    lambda t, r=rate * share: r,
                    counter=True,
                )
            )
    # another namespace's pod with the same names must not count
    series.extend(
        container_series(
            namespace="other", pod="api-7c9d8f6b5-zzzzz", container="api", cpu=lambda t: 8.0, memory=flat(9000)
        )
    )
    return series


@pytest.fixture(scope="module")
def scenario_prometheus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningPrometheus]:
    """One real Prometheus holding :func:`history`, shared by a test module."""
    factory = PrometheusFactory(tmp_path_factory.mktemp("prom"))
    try:
        yield factory.start(history())
    finally:
        factory.close()
