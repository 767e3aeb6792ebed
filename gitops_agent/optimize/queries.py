"""The query plan: a few batched PromQL queries for a whole environment, and their results.

Every query selects the environment's namespace once and groups ``by (namespace, pod,
container)`` (or by workload), so the number of requests does not grow with the number of
containers. For one run (one window):

1. CPU: ``max by (namespace, pod, container) (quantile_over_time(q, rate(cpu[5m])[W:5m]))``
   — one query per distinct ``cpuPercentile`` among the workflows (usually one);
2. memory: ``max by (…) (max_over_time(container_memory_working_set_bytes[W]))``;
3. samples: ``sum by (…) (count_over_time(container_memory_working_set_bytes[W]))``;
4. OOM kills: ``max by (…) (max_over_time(<last terminated reason>{reason="OOMKilled"}[W]))``
   with ``kube_pod_container_status_last_terminated_reason`` from kube-state-metrics;
5. load (only when an HPA scales on CPU): peak (maximum), trough (5th percentile, see
   :data:`TROUGH_QUANTILE`) and mean of the summed CPU per workload, in one request
   (``max_over_time(…) or quantile_over_time(0.05, …) or avg_over_time(…)``, told apart
   by a ``stat`` label); the same three of the workload's summed request rate
   (``rate(http_requests_total[5m])``), the traffic history of the HPA bounds;
6. traffic (only for variants under an ``experiments`` policy on ``errorRate``):
   ``sum by (namespace, workload, code) (increase(http_requests_total[W]))``;
7. latency (only for variants under ``latencyP95``/``latencyP99``):
   ``sum by (namespace, workload, le) (increase(http_request_duration_seconds_bucket[W]))``.

Pods are mapped to workloads by name: the compiler names Deployments ``<service>`` and
``<service>-<variant>``, Jobs ``<workflow>-<task>-<hash8>`` and CronJobs
``<workflow>-<task>`` (whose Jobs add a timestamp), and their pods add two segments
(``-<replicaset hash>-<5 chars>`` or ``-<hash or timestamp>-<5 chars>``). So the workload of
a pod is its name without the last two dash-separated segments (:data:`POD_PATTERN`, the
same RE2 expression in PromQL's ``label_replace``) — but for the pods of an Indexed Job
(a sweep's trials, ``completionMode: Indexed``), which put the completion index before the
5 characters: ``<workflow>-<task>-<hash8>-<index>-<5 chars>`` (:data:`INDEXED_POD_PATTERN`)
— and the main container carries the
service or task name. This needs no kube-state-metrics owner series; what it requires of
the metrics: cAdvisor's ``namespace``/``pod``/``container`` labels, kube-state-metrics'
``kube_pod_container_status_last_terminated_reason{namespace,pod,container,reason}``, and
``http_requests_total{namespace,pod,code}`` and
``http_request_duration_seconds_bucket{namespace,pod,le}`` (the labels a ServiceMonitor adds).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType
from typing import Any, TypeVar

from gitops_agent.optimize.model import LatencyHistory, TrafficHistory, UsageHistory
from gitops_agent.vocabulary.objects import INDEXED_POD_PATTERN, POD_PATTERN

K = TypeVar("K")
V = TypeVar("V")


def _ro(values: dict[K, V]) -> Mapping[K, V]:
    return MappingProxyType(dict(values))


def _empty() -> Mapping[Any, Any]:
    return MappingProxyType({})


_POD = re.compile(f"^{POD_PATTERN}$")
_INDEXED_POD = re.compile(f"^{INDEXED_POD_PATTERN}$")
CPU = "container_cpu_usage_seconds_total"
MEMORY = "container_memory_working_set_bytes"
OOM = "kube_pod_container_status_last_terminated_reason"
REQUESTS = "http_requests_total"
DURATION = "http_request_duration_seconds_bucket"
RESOLUTION = "5m"
OOM_REASON = 'reason="OOMKilled"'
TROUGH_QUANTILE = 0.05
"""The trough is the 5th percentile of the total, not its minimum: pods that start or stop
inside a 5m rate window make the summed rate dip for a moment, and a minimum would size
the HPA for those dips."""


class QueryKind(StrEnum):
    CPU = "cpu"
    MEMORY = "memory"
    SAMPLES = "samples"
    OOM = "oom"
    LOAD = "load"
    REQUEST_LOAD = "request-load"
    TRAFFIC = "traffic"
    LATENCY = "latency"
    CPU_REPLAY = "cpu-replay"
    MEMORY_REPLAY = "memory-replay"
    SWEEP = "sweep"


@dataclass(frozen=True)
class Query:
    kind: QueryKind
    promql: str
    percentile: float | None = None


@dataclass(frozen=True)
class QueryPlan:
    namespace: str
    window: str
    queries: tuple[Query, ...]


Key = tuple[str, str]
"""(workload, container)"""


def workload_of(pod: str) -> str | None:
    """``classifier-7d9f8b6c5-x2k4q`` → ``classifier``, ``lab-tune-1a2b3c4d-3-x2k4q`` (index 3
    of an Indexed Job) → ``lab-tune``; None for a name of another shape."""
    match = _INDEXED_POD.match(pod) or _POD.match(pod)
    return match.group(1) if match else None


def _selector(namespace: str, *extra: str) -> str:
    quoted = namespace.replace("\\", "\\\\").replace('"', '\\"')
    return "{" + ",".join([f'namespace="{quoted}"', *extra]) + "}"


def _tagged(function: str, expr: str, window: str, name: str) -> str:
    inner = f"{function}{expr}[{window}:{RESOLUTION}])"
    return f'label_replace({inner}, "stat", "{name}", "", "")'


def _stats(expr: str, window: str) -> str:
    """Peak, trough and mean of ``expr`` over the window at 5m resolution, in one request."""
    return " or ".join(
        (
            _tagged("max_over_time(", expr, window, "peak"),
            _tagged(f"quantile_over_time({TROUGH_QUANTILE:g}, ", expr, window, "trough"),
            _tagged("avg_over_time(", expr, window, "mean"),
        )
    )


def _names(names: Sequence[str]) -> str:
    """An RE2 alternation of RFC 1123 names (no regex metacharacters to escape)."""
    return "|".join(sorted(set(names)))


def _pods_of(workloads: Sequence[str], indexed: bool = False) -> str:
    """A matcher of the workloads' pods (``indexed``: also of their Indexed Jobs' pods)."""
    middle = "([0-9a-f]{8}-[0-9]+|[a-z0-9]+)" if indexed else "[a-z0-9]+"
    return f'pod=~"({_names(workloads)})-{middle}-[a-z0-9]{{5}}"'


def plan(
    namespace: str,
    window: str,
    percentiles: set[float],
    *,
    containers: Sequence[str],
    hpa_workloads: Sequence[str] = (),
    ab_workloads: Sequence[str] = (),
    latency_workloads: Sequence[str] = (),
) -> QueryPlan:
    """The queries for one environment: at most ``3 + len(percentiles) + 4``.

    ``containers``: the main-container names to right-size (none: no usage queries);
    ``hpa_workloads``: Deployments whose HPA scales on CPU (the CPU and request load
    queries);
    ``ab_workloads``: main and variant Deployments of A/B experiments on ``errorRate``
    (the traffic query); ``latency_workloads``: those on a latency metric (the histogram
    query).
    Each list narrows its query with one regex matcher, so the namespace's other
    containers cost nothing.
    """
    by_pod = "by (namespace, pod, container)"
    queries: list[Query] = []
    if containers:
        selector = _selector(namespace, f'container=~"{_names(containers)}"')
        queries += [
            Query(
                QueryKind.CPU,
                f"max {by_pod} (quantile_over_time({p / 100:g}, rate({CPU}{selector}[5m])[{window}:{RESOLUTION}]))",
                p,
            )
            for p in sorted(percentiles)
        ]
        oom = _selector(namespace, OOM_REASON, f'container=~"{_names(containers)}"')
        queries += [
            Query(QueryKind.MEMORY, f"max {by_pod} (max_over_time({MEMORY}{selector}[{window}]))"),
            Query(QueryKind.SAMPLES, f"sum {by_pod} (count_over_time({MEMORY}{selector}[{window}]))"),
            Query(QueryKind.OOM, f"max {by_pod} (max_over_time({OOM}{oom}[{window}]))"),
        ]
    if hpa_workloads:
        selector = _selector(namespace, _pods_of(hpa_workloads))
        total = (
            f"sum by (namespace, workload, container) (label_replace("
            f'rate({CPU}{selector}[5m]), "workload", "$1", "pod", "{POD_PATTERN}"))'
        )
        queries.append(Query(QueryKind.LOAD, _stats(total, window)))
        rate = (
            f"sum by (namespace, workload) (label_replace("
            f'rate({REQUESTS}{selector}[5m]), "workload", "$1", "pod", "{POD_PATTERN}"))'
        )
        queries.append(Query(QueryKind.REQUEST_LOAD, _stats(rate, window)))
    if ab_workloads:
        selector = _selector(namespace, _pods_of(ab_workloads))
        queries.append(
            Query(
                QueryKind.TRAFFIC,
                f"sum by (namespace, workload, code) (label_replace("
                f'increase({REQUESTS}{selector}[{window}]), "workload", "$1", "pod", '
                f'"{POD_PATTERN}"))',
            )
        )
    if latency_workloads:
        selector = _selector(namespace, _pods_of(latency_workloads))
        queries.append(
            Query(
                QueryKind.LATENCY,
                f"sum by (namespace, workload, le) (label_replace("
                f'increase({DURATION}{selector}[{window}]), "workload", "$1", "pod", '
                f'"{POD_PATTERN}"))',
            )
        )
    return QueryPlan(namespace, window, tuple(queries))


Thresholds = Mapping[Key, float]
"""A value per (workload, container): the current or the proposed request or limit."""


def replay_query(
    namespace: str,
    window: str,
    memory: bool,
    targets: Sequence[Key],
    before: Thresholds,
    after: Thresholds,
    indexed: Sequence[str] = (),
) -> Query:
    """The replay of proposals (:mod:`gitops_agent.optimize.replay`) for CPU or memory, in
    one instant query, answered with one series per (workload, container) and ``stat``:

    - totals of ``targets``: the ``sum`` of the samples and, for CPU, their ``count`` (the
      mean gives the slack; for memory the count is the plan's samples query; for CPU the
      sum is the counter's increase over the window / 300 s, which the 5m rates at 5m steps
      add up to, without a second subquery);
    - crossings: samples above the ``after`` (proposed) and ``before`` (current) values,
      ``count_over_time((usage{pods of the target} > value)[W:res])`` per key, the value a
      literal (no join, no constant vectors evaluated at every step); only for the keys
      given — the caller leaves out values at or above the known peak, which have none.

    ``indexed``: workloads among the targets that run Indexed Jobs (their pods' names carry
    the completion index; see :data:`INDEXED_POD_PATTERN`).

    Samples: the 5m CPU rate at 5m resolution; the working set as scraped (totals) and at
    1m resolution (crossings: one scrape at the usual interval).
    """
    by = "sum by (namespace, workload, container)"
    resolution = "1m" if memory else RESOLUTION

    def usage(keys: Sequence[Key]) -> str:
        workloads = [w for w, _ in keys]
        pods = _pods_of(workloads, indexed=any(w in indexed for w in workloads))
        selector = _selector(namespace, f'container=~"{_names([c for _, c in keys])}"', pods)
        return f"{MEMORY}{selector}" if memory else f"rate({CPU}{selector}[5m])"

    def per_workload(expr: str, stat: str) -> str:
        inner = f'label_replace({expr}, "workload", "$1", "pod", "{POD_PATTERN}")'
        if indexed:
            inner = f'label_replace({inner}, "workload", "$1", "pod", "{INDEXED_POD_PATTERN}")'
        return f'label_replace({by} ({inner}), "stat", "{stat}", "", "")'

    parts = [
        per_workload(f"count_over_time(({usage([key])} > {value:.9g})[{window}:{resolution}])", stat)
        for values, stat in ((after, "after"), (before, "before"))
        for key, value in sorted(values.items())
    ]
    if memory:
        # the count of raw samples is the plan's samples query already fetched
        parts.append(per_workload(f"sum_over_time({usage(targets)}[{window}])", "sum"))
    else:  # the 5m rates at 5m steps tile the window: their sum is the increase over 300s
        parts.append(per_workload(f"count_over_time({usage(targets)}[{window}:{RESOLUTION}])", "count"))
        raw = usage(targets).removeprefix("rate(").removesuffix("[5m])")
        parts.append(per_workload(f"increase({raw}[{window}]) / 300", "sum"))
    kind = QueryKind.MEMORY_REPLAY if memory else QueryKind.CPU_REPLAY
    return Query(kind, " or ".join(parts))


def replay_counts(rows: Sequence[tuple[Mapping[str, str], float]]) -> dict[Key, dict[str, float]]:
    """Replay answers folded per (workload, container): ``{stat: value}``."""
    out: dict[Key, dict[str, float]] = {}
    for labels, value in rows:
        key = (labels.get("workload", ""), labels.get("container", ""))
        stats = out.setdefault(key, {})
        stats[labels.get("stat", "")] = stats.get(labels.get("stat", ""), 0.0) + value
    return out


@dataclass(frozen=True)
class Fetched:
    """The results of a plan, per workload and container (pods already folded in)."""

    plan: QueryPlan
    cpu: Mapping[tuple[float, str, str], float] = field(default_factory=_empty)
    memory: Mapping[Key, float] = field(default_factory=_empty)
    samples: Mapping[Key, int] = field(default_factory=_empty)
    pods: Mapping[Key, int] = field(default_factory=_empty)
    oom: frozenset[Key] = frozenset()
    load: Mapping[Key, tuple[float, float, float]] = field(default_factory=_empty)
    request_load: Mapping[str, tuple[float, float, float]] = field(default_factory=_empty)
    traffic: Mapping[str, TrafficHistory] = field(default_factory=_empty)
    latency: Mapping[str, LatencyHistory] = field(default_factory=_empty)
    objectives: Mapping[tuple[str, str, int], float] = field(default_factory=_empty)
    """Sweep objectives per (workflow, task, trial number)."""

    def query(self, kind: QueryKind, percentile: float | None = None) -> str:
        for query in self.plan.queries:
            if query.kind is kind and (percentile is None or query.percentile == percentile):
                return query.promql
        return ""

    def usage(self, workloads: tuple[str, ...], container: str, percentile: float) -> UsageHistory | None:
        """Usage of ``container`` over all pods of ``workloads`` (None when nothing was seen)."""
        keys = [(w, container) for w in workloads]
        cpus = [self.cpu[(percentile, w, c)] for w, c in keys if (percentile, w, c) in self.cpu]
        memories = [self.memory[k] for k in keys if k in self.memory]
        points = sum(self.samples.get(k, 0) for k in keys)
        if not cpus and not memories and points == 0:
            return None
        return UsageHistory(
            cpu_cores=max(cpus) if cpus else None,
            memory_peak=max(memories) if memories else None,
            points=points,
            pods=sum(self.pods.get(k, 0) for k in keys),
            oom_killed=any(k in self.oom for k in keys),
        )


def trial_objectives(rows: Sequence[tuple[Mapping[str, str], float]]) -> dict[tuple[str, str, int], float]:
    """A sweep objective query's answer per (workflow, task, trial); rows whose ``trial``
    label is not a trial number as written by the compiler (ASCII decimal, no sign, no
    leading zero: not a trial of ours, e.g. ``"03"``, ``"²"``) are left out."""
    out: dict[tuple[str, str, int], float] = {}
    for labels, value in rows:
        trial = labels.get("trial", "")
        if trial.isascii() and trial.isdigit() and str(int(trial)) == trial:
            out[(labels.get("workflow", ""), labels.get("task", ""), int(trial))] = value
    return out


def _peak_trough_mean(stats: Mapping[str, float]) -> tuple[float, float, float]:
    peak = stats["peak"]
    return peak, stats.get("trough", peak), stats.get("mean", peak)


RawResults = Mapping[Query, list[tuple[Mapping[str, str], float]]]


def _by_pod(rows: list[tuple[Mapping[str, str], float]]) -> list[tuple[Key, float]]:
    out = []
    for labels, value in rows:
        workload = workload_of(labels.get("pod", ""))
        if workload is not None and labels.get("container"):
            out.append(((workload, labels["container"]), value))
    return out


def assemble(query_plan: QueryPlan, results: RawResults) -> Fetched:
    """Fold per-pod rows into per-workload values (pure)."""
    folded = _Folded()
    for query, rows in results.items():
        folded.add(query, rows)
    return Fetched(
        plan=query_plan,
        cpu=_ro(folded.cpu),
        memory=_ro(folded.memory),
        samples=_ro(folded.samples),
        pods=_ro(folded.pods),
        oom=frozenset(folded.oom),
        load=_ro({k: _peak_trough_mean(v) for k, v in folded.load.items() if "peak" in v}),
        request_load=_ro({k: _peak_trough_mean(v) for k, v in folded.request_load.items() if "peak" in v}),
        traffic=_ro({w: TrafficHistory(r, e) for w, (r, e) in folded.traffic.items()}),
        latency=_ro({w: LatencyHistory(tuple(sorted(b.items()))) for w, b in folded.buckets.items() if b}),
        objectives=_ro(folded.objectives),
    )


Rows = list[tuple[Mapping[str, str], float]]


@dataclass
class _Folded:
    """Per-workload values folded from the rows of every query, one method per query kind."""

    cpu: dict[tuple[float, str, str], float] = field(default_factory=dict)
    memory: dict[Key, float] = field(default_factory=dict)
    samples: dict[Key, int] = field(default_factory=dict)
    pods: dict[Key, int] = field(default_factory=dict)
    oom: set[Key] = field(default_factory=set)
    load: dict[Key, dict[str, float]] = field(default_factory=dict)
    request_load: dict[str, dict[str, float]] = field(default_factory=dict)
    traffic: dict[str, tuple[float, float]] = field(default_factory=dict)
    buckets: dict[str, dict[float, float]] = field(default_factory=dict)
    objectives: dict[tuple[str, str, int], float] = field(default_factory=dict)

    def add(self, query: Query, rows: Rows) -> None:
        if query.kind is QueryKind.CPU and query.percentile is not None:
            self._cpu(query.percentile, rows)
        elif query.kind in _FOLDS:
            _FOLDS[query.kind](self, rows)

    def _cpu(self, percentile: float, rows: Rows) -> None:
        for (w, c), value in _by_pod(rows):
            key3 = (percentile, w, c)
            self.cpu[key3] = max(value, self.cpu.get(key3, value))

    def _memory(self, rows: Rows) -> None:
        for key, value in _by_pod(rows):
            self.memory[key] = max(value, self.memory.get(key, value))

    def _samples(self, rows: Rows) -> None:
        for key, value in _by_pod(rows):
            self.samples[key] = self.samples.get(key, 0) + int(value)
            self.pods[key] = self.pods.get(key, 0) + 1

    def _oom(self, rows: Rows) -> None:
        self.oom.update(key for key, value in _by_pod(rows) if value > 0)

    def _load(self, rows: Rows) -> None:
        for labels, value in rows:
            key = (labels.get("workload", ""), labels.get("container", ""))
            self.load.setdefault(key, {})[labels.get("stat", "")] = value

    def _request_load(self, rows: Rows) -> None:
        for labels, value in rows:
            self.request_load.setdefault(labels.get("workload", ""), {})[labels.get("stat", "")] = value

    def _traffic(self, rows: Rows) -> None:
        for labels, value in rows:
            workload = labels.get("workload", "")
            requests, errors = self.traffic.get(workload, (0.0, 0.0))
            failed = labels.get("code", "").startswith("5")
            self.traffic[workload] = (requests + value, errors + (value if failed else 0.0))

    def _latency(self, rows: Rows) -> None:
        for labels, value in rows:
            try:
                bound = float(labels.get("le", ""))
            except ValueError:
                continue
            per_bound = self.buckets.setdefault(labels.get("workload", ""), {})
            per_bound[bound] = per_bound.get(bound, 0.0) + value

    def _sweep(self, rows: Rows) -> None:
        self.objectives.update(trial_objectives(rows))


_FOLDS: dict[QueryKind, Callable[[_Folded, Rows], None]] = {
    QueryKind.MEMORY: _Folded._memory,
    QueryKind.SAMPLES: _Folded._samples,
    QueryKind.OOM: _Folded._oom,
    QueryKind.LOAD: _Folded._load,
    QueryKind.REQUEST_LOAD: _Folded._request_load,
    QueryKind.TRAFFIC: _Folded._traffic,
    QueryKind.LATENCY: _Folded._latency,
    QueryKind.SWEEP: _Folded._sweep,
}
