"""A real Prometheus (Debian's ``prometheus`` + ``promtool``) with synthetic, backfilled history.

A test describes its history as :class:`SyntheticSeries` values: a metric, its labels
(namespace/pod/container…), a pattern (a function of the Unix time in seconds), how many
days and the step. The fixture writes OpenMetrics text (timestamps in seconds, ``# EOF``),
one file per 2-hour block range so ``promtool tsdb create-blocks-from openmetrics`` parses
each sample once, then starts ``prometheus`` on a free loopback port and waits for
``/-/ready``. The newest sample is 3 hours before now (Prometheus appends live data there).

Counters (``counter=True``; histogram buckets too): ``pattern`` is the per-second *rate*;
the fixture integrates it (the sample at ``t`` grows by ``pattern(t) * step``), so
``rate(x[5m])`` over whole steps gives ``pattern``.

Usage: the ``prometheus`` fixture is a factory, ``prometheus.start(history)`` returns a
:class:`RunningPrometheus` (stopped after the test). ``python -m tests.support.prometheus
REPO ENV WORKDIR`` backfills a week of plausible history for an environment of a GitOps
repository (:func:`demo_history`), leaves Prometheus running, and prints
``PROMETHEUS_URL=…`` and ``PROMETHEUS_PID=…`` as its last lines (for the demo).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import pytest

BLOCK_SECONDS = 2 * 3600
KEEP_OUT_SECONDS = 3 * 3600
DAY = 86400


@dataclass(frozen=True)
class SyntheticSeries:
    """One series of synthetic history ending :data:`KEEP_OUT_SECONDS` before now."""

    metric: str
    labels: Mapping[str, str]
    pattern: Callable[[float], float]
    days: float = 7.0
    step: int = 60
    counter: bool = False


@dataclass(frozen=True)
class RunningPrometheus:
    """A started Prometheus: ``url``; ``end`` is the Unix time of the newest sample."""

    url: str
    end: int
    data_dir: Path
    log: Path


def history_end(now: float | None = None, step: int = 60) -> int:
    """The timestamp of the newest backfilled sample: 3 hours before now, on a step."""
    moment = time.time() if now is None else now
    return int((moment - KEEP_OUT_SECONDS) // step * step)


def container_series(
    *,
    namespace: str,
    pod: str,
    container: str,
    cpu: Callable[[float], float],
    memory: Callable[[float], float],
    days: float = 7.0,
    step: int = 60,
) -> list[SyntheticSeries]:
    """cAdvisor-style usage of one container: CPU cores (a counter) and working-set bytes."""
    labels = {"namespace": namespace, "pod": pod, "container": container}
    return [
        SyntheticSeries("container_cpu_usage_seconds_total", labels, cpu, days, step, counter=True),
        SyntheticSeries("container_memory_working_set_bytes", labels, memory, days, step),
    ]


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _label_text(labels: Mapping[str, str]) -> str:
    if not labels:
        return ""
    return "{" + ",".join(f'{k}="{_escape(v)}"' for k, v in sorted(labels.items())) + "}"


def _family(series: SyntheticSeries) -> tuple[str, str]:
    """OpenMetrics family name and type: ``x_total`` counters are counters, other growing
    series (histogram buckets) are written as ``unknown`` so their names stay as given."""
    if series.counter and series.metric.endswith("_total"):
        return series.metric[: -len("_total")], "counter"
    return series.metric, "unknown" if series.counter else "gauge"


@dataclass
class _State:
    """Where each series is while its blocks are written (counter totals carry over)."""

    totals: dict[int, float] = field(default_factory=dict)


def _timestamps(series: SyntheticSeries, end: int, lo: int, hi: int) -> range:
    """Sample times of ``series`` inside ``[lo, hi)``: ``end - k*step`` for k < days/step."""
    count = int(series.days * DAY) // series.step
    first = end - (count - 1) * series.step
    if first < lo:
        first += -(-(lo - first) // series.step) * series.step
    return range(first, min(hi, end + 1), series.step)


def write_openmetrics(
    out: IO[str], history: Sequence[SyntheticSeries], end: int, lo: int, hi: int, state: _State
) -> int:
    """Write the samples of ``history`` within ``[lo, hi)``; returns the number written."""
    written = 0
    families: dict[tuple[str, str], list[int]] = {}
    for index, series in enumerate(history):
        families.setdefault(_family(series), []).append(index)
    for (family, kind), indices in families.items():
        out.write(f"# TYPE {family} {kind}\n")
        for index in indices:
            series = history[index]
            prefix = series.metric + _label_text(series.labels) + " "
            total = state.totals.get(index, 0.0)
            lines = []
            for ts in _timestamps(series, end, lo, hi):
                if series.counter:
                    total += series.pattern(ts) * series.step
                    value = total
                else:
                    value = series.pattern(ts)
                lines.append(f"{prefix}{value!r} {ts}\n")
            state.totals[index] = total
            out.writelines(lines)
            written += len(lines)
    out.write("# EOF\n")
    return written


def backfill(
    history: Sequence[SyntheticSeries], data_dir: Path, end: int, work: Path, chunk_seconds: int = BLOCK_SECONDS
) -> int:
    """Create TSDB blocks for ``history`` in ``data_dir`` with promtool; returns sample count.

    One promtool run per ``chunk_seconds`` of history (promtool reads its whole input once
    per 2-hour block, so dense history goes in 2-hour chunks; sparse history, e.g. hourly
    samples over a month, in one)."""
    oldest = min(end - (int(s.days * DAY) // s.step - 1) * s.step for s in history)
    lo = oldest // BLOCK_SECONDS * BLOCK_SECONDS
    state = _State()
    total = 0
    running: list[tuple[subprocess.Popen[bytes], Path]] = []
    data_dir.mkdir(parents=True, exist_ok=True)
    while lo <= end:
        chunk = work / f"block-{lo}.om"
        with chunk.open("w", encoding="utf-8") as out:
            written = write_openmetrics(out, history, end, lo, lo + chunk_seconds, state)
        total += written
        if written:
            running.append(_promtool(chunk, data_dir))
        else:
            chunk.unlink()
        while len(running) >= (os.cpu_count() or 2):
            _finish(running.pop(0))
        lo += chunk_seconds
    for job in running:
        _finish(job)
    return total


def _promtool(chunk: Path, data_dir: Path) -> tuple[subprocess.Popen[bytes], Path]:
    args = [
        "promtool",
        "tsdb",
        "create-blocks-from",
        "openmetrics",
        "-q",
        str(chunk),
        str(data_dir),
    ]
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    return proc, chunk


def _finish(job: tuple[subprocess.Popen[bytes], Path]) -> None:
    proc, chunk = job
    output, _ = proc.communicate()
    if proc.returncode != 0:
        raise RuntimeError(f"promtool failed on {chunk}: {output.decode(errors='replace')}")
    chunk.unlink()


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_prometheus(
    data_dir: Path, work: Path, *, timeout: float = 60.0, detach: bool = False
) -> tuple[subprocess.Popen[bytes], str, Path]:
    """Start ``prometheus`` on ``data_dir`` and wait for ``/-/ready``; ``detach`` starts it in
    its own session, so it outlives the caller (the demo)."""
    config = work / "prometheus.yml"
    config.write_text("global:\n  scrape_interval: 1m\nscrape_configs: []\n", encoding="utf-8")
    port = free_port()
    log = work / "prometheus.log"
    args = [
        "prometheus",
        f"--config.file={config}",
        f"--storage.tsdb.path={data_dir}",
        "--storage.tsdb.retention.time=60d",  # room for 30-day scenarios ending hours ago
        f"--web.listen-address=127.0.0.1:{port}",
        "--web.enable-lifecycle",
    ]
    with log.open("wb") as sink:
        proc = subprocess.Popen(args, stdout=sink, stderr=subprocess.STDOUT, start_new_session=detach)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"prometheus exited: {log.read_text(errors='replace')[-2000:]}")
        try:
            with urllib.request.urlopen(f"{url}/-/ready", timeout=2) as response:
                if response.status == 200:
                    return proc, url, log
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.2)
    stop_process(proc)
    tail = log.read_text(errors="replace")[-2000:]
    raise RuntimeError(f"prometheus not ready after {timeout}s: {tail}")


def stop_process(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


class PrometheusFactory:
    """``start(history)`` backfills and starts one Prometheus; ``close()`` stops them all."""

    def __init__(self, root: Path) -> None:
        self._root = root
        self._procs: list[subprocess.Popen[bytes]] = []
        self.logs: list[Path] = []

    def start(
        self, history: Sequence[SyntheticSeries], *, end: int | None = None, chunk_seconds: int = BLOCK_SECONDS
    ) -> RunningPrometheus:
        if not history:
            raise ValueError("describe at least one series")
        step = min(s.step for s in history)
        newest = history_end(step=step) if end is None else end
        work = Path(tempfile.mkdtemp(prefix="prom-", dir=self._root))
        data_dir = work / "data"
        backfill(history, data_dir, newest, work, chunk_seconds)
        proc, url, log = start_prometheus(data_dir, work)
        self._procs.append(proc)
        self.logs.append(log)
        return RunningPrometheus(url=url, end=newest, data_dir=data_dir, log=log)

    def close(self) -> None:
        for proc in self._procs:
            stop_process(proc)
        self._procs.clear()


@pytest.fixture
def prometheus(tmp_path: Path) -> Iterator[PrometheusFactory]:
    """Factory: ``prometheus.start(history) -> RunningPrometheus``; stopped after the test."""
    if shutil.which("prometheus") is None or shutil.which("promtool") is None:
        raise RuntimeError("prometheus/promtool missing: run ./scripts/install-deps")
    factory = PrometheusFactory(tmp_path)
    try:
        yield factory
    finally:
        factory.close()


def demo_history(repo: Path, env_name: str, days: float = 7.0) -> list[SyntheticSeries]:
    """A week of plausible history for every service and task an environment deploys:
    services use about a third of their CPU request and half of their memory; A/B variants
    fail less often than their main Deployment; tasks ran for one hour (too little data);
    workflows with a retrain policy export ``model_accuracy{namespace, workflow}``, falling
    from 0.95 to 0.85 over the history."""
    from gitops_agent.spec import effective_workflow, load_specs
    from gitops_agent.vocabulary.quantities import quantity_float

    specs = load_specs(repo)
    env = specs.environments[env_name]
    series: list[SyntheticSeries] = []
    for name in sorted(specs.workflows):
        if not env.selects(name):
            continue
        workflow = effective_workflow(specs, env, name)
        for service in workflow.services:
            cpu = quantity_float(service.container.resources.cpu or "500m")
            memory = quantity_float(service.container.resources.memory or "512Mi")
            count = min(3, service.autoscale.min if service.autoscale else service.replicas or 1)
            for index in range(max(1, count)):
                series += container_series(
                    namespace=env.namespace,
                    pod=f"{service.name}-5d8f7c9b4-{'abcde'[index] * 5}",
                    container=service.name,
                    cpu=lambda t, c=cpu: c * (0.3 if (t // 60) % 60 < 12 else 0.1),
                    memory=lambda t, m=memory: m * (0.35 + 0.15 * (t % DAY) / DAY),
                    days=days,
                )
            for variant in service.variants:
                for workload, rate, errors in (
                    (service.name, 20.0, 0.015),
                    (f"{service.name}-{variant.name}", 5.0, 0.005),
                ):
                    labels = {"namespace": env.namespace, "pod": f"{workload}-6f7a8b9c0-vwxyz"}
                    for code, share in (("200", 1 - errors), ("500", errors)):
                        series.append(
                            SyntheticSeries(
                                "http_requests_total",
                                {**labels, "code": code},
                                lambda t, r=rate * share: r,
                                days=days,
                                counter=True,
                            )
                        )
        if workflow.optimize and workflow.optimize.retrain:  # accuracy on fresh labels, decaying
            labels = {"namespace": env.namespace, "workflow": workflow.name}
            series.append(SyntheticSeries("model_accuracy", labels, _decaying_accuracy(days), days=days))
        for task in workflow.tasks:
            series += container_series(
                namespace=env.namespace,
                pod=f"{workflow.name}-{task.name}-1a2b3c4d-qwert",
                container=task.name,
                cpu=lambda t: 0.5,
                memory=lambda t: 256.0 * 1024 * 1024,
                days=1 / 24,
            )
    return series


def _decaying_accuracy(days: float) -> Callable[[float], float]:
    """0.95 falling linearly to 0.85 over ``days`` ending now (the demo's model decays)."""
    end = time.time()
    return lambda t: 0.85 + 0.10 * min(1.0, max(0.0, (end - t) / (days * DAY)))


def _demo(argv: Sequence[str]) -> int:
    """``python -m tests.support.prometheus REPO ENV WORKDIR``: backfill a week of history
    for the environment, start Prometheus in the background, print its URL and PID."""
    repo, env_name, workdir = Path(argv[0]), argv[1], Path(argv[2])
    workdir.mkdir(parents=True, exist_ok=True)
    history = demo_history(repo, env_name)
    newest = history_end()
    samples = backfill(history, workdir / "data", newest, workdir)
    try:
        proc, url, _ = start_prometheus(workdir / "data", workdir, detach=True)
    except RuntimeError as error:
        print(error, flush=True)
        return 1
    print(f"{len(history)} series, {samples} samples backfilled", flush=True)
    print(f"PROMETHEUS_URL={url}")
    print(f"PROMETHEUS_PID={proc.pid}")
    return 0


if __name__ == "__main__":
    import sys

    sys.exit(_demo(sys.argv[1:]))
