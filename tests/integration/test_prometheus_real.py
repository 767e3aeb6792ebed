"""The Prometheus fixture serves the backfilled history: PromQL answers what the formula implies."""

from __future__ import annotations

import time

import pytest
from prometheus_api_client import PrometheusConnect

from tests.support.prometheus import DAY, PrometheusFactory, container_series

pytestmark = pytest.mark.integration

MI = 1024 * 1024
LOW, HIGH = 0.1, 0.5  # CPU cores
CPU = 'container_cpu_usage_seconds_total{namespace="ml-prod"}'
MEMORY = 'container_memory_working_set_bytes{namespace="ml-prod"}'


def cpu_square_wave(t: float) -> float:
    """HIGH during the first 12 minutes of every hour, LOW otherwise (20% of the time)."""
    return HIGH if (t // 60) % 60 < 12 else LOW


def memory_daily_ramp(t: float) -> float:
    """Rises linearly from 100Mi to just under 200Mi during each UTC day."""
    return 100 * MI + (t % DAY) / DAY * 100 * MI


def test_backfilled_history_answers_quantile_and_max(prometheus: PrometheusFactory) -> None:
    history = [
        series
        for suffix in ("abcde", "fghij")
        for series in container_series(
            namespace="ml-prod",
            pod=f"classifier-5d8f7c9b4-{suffix}",
            container="classifier",
            cpu=cpu_square_wave,
            memory=memory_daily_ramp,
            days=7,
        )
    ]
    running = prometheus.start(history)
    client = PrometheusConnect(url=running.url)
    at = {"time": str(running.end)}

    # p95 over 6 days of the 5m CPU rate: HIGH covers 12 of 60 minutes, and the 5m rate
    # window lies entirely inside the plateau for at least 7 of them (> 5% of the points),
    # so the 95th percentile is exactly HIGH (up to float rounding).
    cpu = client.custom_query(
        f"quantile_over_time(0.95, rate({CPU}[5m])[6d:1m])",
        params=at,
    )
    assert len(cpu) == 2
    for sample in cpu:
        assert float(sample["value"][1]) == pytest.approx(HIGH, rel=1e-6)

    # the median of the same series is LOW (80% of the time)
    median = client.custom_query(
        f"quantile_over_time(0.5, rate({CPU}[5m])[6d:1m])",
        params=at,
    )
    assert {round(float(s["value"][1]), 6) for s in median} == {LOW}

    # the peak working set is the last sample of a day: 100Mi + (DAY-60)/DAY * 100Mi, exactly
    peak = client.custom_query(
        f"max by (namespace, pod, container) (max_over_time({MEMORY}[6d]))",
        params=at,
    )
    expected_peak = memory_daily_ramp(DAY - 60)
    assert {s["metric"]["pod"] for s in peak} == {
        "classifier-5d8f7c9b4-abcde",
        "classifier-5d8f7c9b4-fghij",
    }
    for sample in peak:
        assert float(sample["value"][1]) == pytest.approx(expected_peak, rel=1e-9)

    # the 90th percentile of a uniform ramp over whole days: 100Mi + 0.9 * 100Mi (tolerance 0.5%)
    p90 = client.custom_query(
        f"quantile_over_time(0.9, {MEMORY}[6d])",
        params=at,
    )
    for sample in p90:
        assert float(sample["value"][1]) == pytest.approx(190 * MI, rel=0.005)

    # sample count: one per minute over 6 days (both ends of the range included)
    count = client.custom_query(
        f"count_over_time({MEMORY}[6d])",
        params=at,
    )
    assert {int(float(s["value"][1])) for s in count} == {6 * 24 * 60 + 1}

    # the newest sample is ``end`` (3 hours before now): nothing lies after it
    recent = client.custom_query(
        "count_over_time(container_memory_working_set_bytes[3h])",
        params={"time": str(running.end + 3 * 3600 + 60)},
    )
    assert recent == []
    assert running.end <= time.time() - 3 * 3600


def test_adapter_instant_and_range_queries(prometheus: PrometheusFactory) -> None:
    from gitops_agent.adapters.prometheus import PrometheusClient

    history = container_series(
        namespace="ml-dev",
        pod="api-5d8f7c9b4-abcde",
        container="api",
        cpu=cpu_square_wave,
        memory=memory_daily_ramp,
        days=2,
    )
    running = prometheus.start(history)
    client = PrometheusClient(running.url, timeout=10)
    memory = 'container_memory_working_set_bytes{namespace="ml-dev"}'
    [sample] = client.instant(f"max_over_time({memory}[1d])", at=running.end)
    assert sample.labels["pod"] == "api-5d8f7c9b4-abcde"
    assert sample.value == pytest.approx(memory_daily_ramp(DAY - 60), rel=1e-9)
    # a range query over the last hour of data, one point per 10 minutes, each the raw sample
    [(labels, points)] = client.range(memory, start=running.end - 3600, end=running.end, step="600s")
    assert labels["container"] == "api"
    assert [t for t, _ in points] == [running.end - 3600 + 600 * i for i in range(7)]
    for t, value in points:
        assert value == pytest.approx(memory_daily_ramp(t), rel=1e-9)
    assert client.log.queries[-1] == memory and len(client.log.seconds) == 2
