"""From an environment's workflows and the fetched history to every recommendation (pure),
plus :func:`fetch`, which runs a query plan through any client with an ``instant`` method."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Protocol

from gitops_agent.errors import PrometheusQueryError
from gitops_agent.optimize import experiments, replay, replicas, retrain, rightsizing, sweeps
from gitops_agent.optimize.experiments import LATENCY_QUANTILES
from gitops_agent.optimize.model import (
    Evidence,
    LoadHistory,
    Recommendation,
    RequestLoad,
    Strategy,
    Target,
    TargetKind,
    TrafficHistory,
)
from gitops_agent.optimize.queries import (
    Fetched,
    Query,
    QueryKind,
    QueryPlan,
    assemble,
    plan,
    replay_counts,
    replay_query,
)
from gitops_agent.optimize.rightsizing import MIN_POINTS, NO_SERIES
from gitops_agent.spec.model import Container, Experiments, Rightsizing, Service, Task, Variant, Workflow
from gitops_agent.vocabulary.durations import parse_duration
from gitops_agent.vocabulary.quantities import quantity_float

DEFAULT_WINDOW = "7d"
DEFAULT_POLICY = Rightsizing()
"""Right-sizing without an ``optimize.rightsizing`` block: the defaults of the KRR "simple"
strategy family (CPU request from the 95th percentile, memory from the peak + 15%, the
floors of :mod:`gitops_agent.optimize.rightsizing`, CPU left alone under a CPU-scaling HPA),
over 7 days, proposing only changes above 10%."""


def rightsizing_policy(workflow: Workflow) -> Rightsizing | None:
    """The right-sizing policy in force: the workflow's, :data:`DEFAULT_POLICY` when it has
    none, None when ``optimize.rightsizing.enabled`` is false."""
    policy = workflow.optimize.rightsizing if workflow.optimize else None
    if policy is None:
        return DEFAULT_POLICY
    return policy if policy.enabled else None


def nothing_to_do(workflows: Sequence[Workflow]) -> str | None:
    """Why an environment gives ``optimize`` nothing to look at (None when it does)."""
    if not workflows:
        return "the environment deploys no workflow"
    if not any(w.services or w.tasks for w in workflows):
        return "the workflows have no tasks or services"
    if sweeps.sweeps_of(workflows):
        return None
    if all(
        rightsizing_policy(w) is None and not (w.optimize and (w.optimize.experiments or w.optimize.retrain))
        for w in workflows
    ):
        return (
            "right-sizing is disabled (optimize.rightsizing.enabled: false) and no experiments or retrain "
            "policies are set"
        )
    return None


class Row(Protocol):
    """One series of an instant-query answer (the Prometheus adapter's ``Sample``)."""

    @property
    def labels(self) -> Mapping[str, str]: ...

    @property
    def value(self) -> float: ...


class InstantClient(Protocol):
    def instant(self, query: str, *, at: datetime | float) -> Sequence[Row]: ...


@dataclass(frozen=True)
class Workload:
    """A task or service and the names of the Kubernetes workloads that run it.

    A service's variants run with the service's resources, so right-sizing looks at the
    pods of the main Deployment and of every variant; HPA bounds only at the main one's.
    """

    target: Target
    container: Container
    workloads: tuple[str, ...]
    spec: Task | Service


def workloads_of(workflow: Workflow) -> list[Workload]:
    """Services (main Deployment + one per variant) and tasks (Jobs/CronJobs) of a workflow."""
    found = []
    for service in workflow.services:
        names = (service.name, *(f"{service.name}-{v.name}" for v in service.variants))
        target = Target(workflow.name, TargetKind.SERVICE, service.name)
        found.append(Workload(target, service.container, names, service))
    for task in workflow.tasks:
        target = Target(workflow.name, TargetKind.TASK, task.name)
        found.append(Workload(target, task.container, (f"{workflow.name}-{task.name}",), task))
    return found


def plan_for(namespace: str, workflows: Sequence[Workflow], window: str | None) -> QueryPlan:
    """The batched queries one environment needs (see :mod:`gitops_agent.optimize.queries`).

    One window per run: ``window`` or the longest of the workflows' policy windows.
    Workflows without a right-sizing policy are sized with :data:`DEFAULT_POLICY`.
    """
    sized = [w for w in workflows if rightsizing_policy(w) is not None]
    policies = [p for p in map(rightsizing_policy, sized) if p is not None]
    chosen = window or max((p.window for p in policies), key=_seconds, default=DEFAULT_WINDOW)
    percentiles = {p.cpu_percentile for p in policies} or {Rightsizing().cpu_percentile}
    containers = [item.target.name for w in sized for item in workloads_of(w)]
    hpa = [
        s.name for w in sized for s in w.services if s.autoscale is not None and s.autoscale.cpu_utilization is not None
    ]

    def trial_workloads(latency: bool) -> list[str]:
        return [
            name
            for w in workflows
            if w.optimize and w.optimize.experiments and (w.optimize.experiments.metric in LATENCY_QUANTILES) == latency
            for s in w.services
            if s.variants
            for name in (s.name, *(f"{s.name}-{v.name}" for v in s.variants))
        ]

    found = plan(
        namespace,
        chosen,
        percentiles,
        containers=containers,
        hpa_workloads=hpa,
        ab_workloads=trial_workloads(latency=False),
        latency_workloads=trial_workloads(latency=True),
    )
    swept = sweeps.sweeps_of(workflows)
    if not swept:
        return found
    return replace(found, queries=(*found.queries, sweeps.objective_query(namespace, chosen, swept)))


def _seconds(duration: str) -> int:
    return parse_duration(duration) or 0


def fetch(client: InstantClient, query_plan: QueryPlan, *, at: datetime | float) -> Fetched:
    """Run every query of the plan at ``at`` and fold the answers (one request per query)."""
    results: dict[Query, list[tuple[Mapping[str, str], float]]] = {}
    for query in query_plan.queries:
        rows = client.instant(query.promql, at=at)
        results[query] = [(r.labels, r.value) for r in rows]
    return assemble(query_plan, results)


def recommend(workflows: Sequence[Workflow], fetched: Fetched) -> list[Recommendation]:
    """Every recommendation for the environment's workflows, in a stable order."""
    out: list[Recommendation] = []
    window = fetched.plan.window
    for workflow in sorted(workflows, key=lambda w: w.name):
        policy = rightsizing_policy(workflow)
        trial = workflow.optimize.experiments if workflow.optimize else None
        for item in workloads_of(workflow):
            if policy is not None:
                out += _rightsize(item, policy, fetched, window)
            if trial is not None and isinstance(item.spec, Service):
                for variant in item.spec.variants:
                    out.append(_experiment(item, variant, trial, fetched, window))
            if isinstance(item.spec, Task) and item.spec.sweep is not None:
                query = fetched.query(QueryKind.SWEEP)
                out.append(sweeps.recommend(workflow, item.spec, fetched.objectives, query=query, window=window))
    return out


class RefusedPolicyQuery(Exception):
    """Prometheus refused a retrain policy's query: where the query is (workflow and the
    path of the field in the workflow) and Prometheus' message."""

    def __init__(self, workflow: str, path: tuple[str | int, ...], message: str) -> None:
        super().__init__(message)
        self.workflow, self.path, self.message = workflow, path, message


def retrain_recommendations(
    client: InstantClient,
    workflows: Sequence[Workflow],
    *,
    at: datetime,
    pending: Mapping[tuple[str, str], str],
    namespace: str,
) -> list[Recommendation]:
    """One recommendation per retrain policy (:mod:`gitops_agent.optimize.retrain`), from
    one instant query for all of them, evaluated at ``at``, the end of each policy's window.

    Raises :class:`RefusedPolicyQuery` when Prometheus refuses a policy's query as malformed
    (each policy is then asked alone, to name the one at fault).
    """
    found = [
        (workflow, index, policy)
        for workflow in sorted(workflows, key=lambda w: w.name)
        for index, policy in enumerate(workflow.optimize.retrain if workflow.optimize else ())
    ]
    if not found:
        return []
    queries = [retrain.quality_query(policy, namespace) for _, _, policy in found]
    try:
        rows = client.instant(retrain.batch_query(queries), at=at)
    except PrometheusQueryError:
        for (workflow, index, _), query in zip(found, queries, strict=True):
            try:
                client.instant(query, at=at)
            except PrometheusQueryError as error:
                path = ("spec", "optimize", "retrain", index, "query")
                message = f"Prometheus refuses the query: {error.reason}"
                raise RefusedPolicyQuery(workflow.name, path, message) from error
        raise
    qualities = retrain.split_batch([(r.labels, r.value) for r in rows], len(found))
    return [
        retrain.recommend(workflow, policy, quality, at=at, pending=pending, namespace=namespace)
        for (workflow, _, policy), quality in zip(found, qualities, strict=True)
    ]


def _experiment(item: Workload, variant: Variant, trial: Experiments, fetched: Fetched, window: str) -> Recommendation:
    assert isinstance(item.spec, Service)
    main_name, name = item.spec.name, f"{item.spec.name}-{variant.name}"
    bound = None
    if trial.metric in LATENCY_QUANTILES:
        main, candidate, bound = experiments.as_slow_requests(
            fetched.latency.get(main_name), fetched.latency.get(name), LATENCY_QUANTILES[trial.metric]
        )
        kind = QueryKind.LATENCY
        shown = f" slower than {bound:g}s" if bound is not None else " (no histogram)"
        observed = f"{main_name}: {_traffic(main, shown)}; {name}: {_traffic(candidate, shown)}"
    else:
        main, candidate = fetched.traffic.get(main_name), fetched.traffic.get(name)
        kind = QueryKind.TRAFFIC
        observed = f"{main_name}: {_traffic(main)}; {name}: {_traffic(candidate)}"
    evidence = (Evidence(fetched.query(kind), window, observed),)
    split = experiments.split_of(item.spec, _requests(item.spec, fetched, kind))
    return experiments.recommend_variant(
        item.target, item.spec, variant, main, candidate, trial, evidence=evidence, slow_bound=bound, split=split
    )


def _requests(service: Service, fetched: Fetched, kind: QueryKind) -> dict[str, float]:
    """Requests per Deployment of a service's experiment (from the traffic or histogram query)."""
    names = (service.name, *(f"{service.name}-{v.name}" for v in service.variants))
    if kind is QueryKind.LATENCY:
        return {n: fetched.latency[n].total for n in names if n in fetched.latency}
    return {n: fetched.traffic[n].requests for n in names if n in fetched.traffic}


def _traffic(history: TrafficHistory | None, failed: str = " 5xx") -> str:
    if history is None:
        return "no requests"
    return f"{history.requests:.0f} requests, {history.errors:.0f}{failed}"


def _rightsize(item: Workload, policy: Rightsizing, fetched: Fetched, window: str) -> list[Recommendation]:
    usage = fetched.usage(item.workloads, item.target.name, policy.cpu_percentile)
    autoscale = item.spec.autoscale if isinstance(item.spec, Service) else None
    pods = f"pods of {', '.join(item.workloads)} (container {item.target.name})"
    cpu_seen = f"{usage.cpu_cores * 1000:.1f}m" if usage and usage.cpu_cores is not None else "none"
    mem_seen = f"{usage.memory_peak / 2**20:.1f}Mi" if usage and usage.memory_peak is not None else "none"
    points = usage.points if usage else 0
    cpu_evidence = (
        Evidence(
            fetched.query(QueryKind.CPU, policy.cpu_percentile),
            window,
            f"{pods}: p{policy.cpu_percentile:g} {cpu_seen}",
        ),
        Evidence(fetched.query(QueryKind.SAMPLES), window, f"{points} samples"),
    )
    memory_evidence = (
        Evidence(fetched.query(QueryKind.MEMORY), window, f"{pods}: peak {mem_seen}"),
        Evidence(fetched.query(QueryKind.SAMPLES), window, f"{points} samples"),
    ) + ((Evidence(fetched.query(QueryKind.OOM), window, "OOMKilled seen"),) if usage and usage.oom_killed else ())
    resources = item.container.resources
    out = [
        rightsizing.recommend_cpu(item.target, resources, usage, policy, autoscale=autoscale, evidence=cpu_evidence),
        rightsizing.recommend_memory(
            item.target, resources, usage, policy, autoscale=autoscale, evidence=memory_evidence
        ),
    ]
    if isinstance(item.spec, Service) and autoscale is not None:
        seen = fetched.load.get((item.spec.name, item.target.name))
        load = LoadHistory(*seen) if seen else None
        traffic = fetched.request_load.get(item.spec.name)
        requests = RequestLoad(*traffic) if traffic else None
        short = None
        main_points = fetched.samples.get((item.spec.name, item.target.name), 0)
        if main_points == 0:
            short = NO_SERIES
        elif main_points < MIN_POINTS:
            short = f"only {main_points} samples in the window (at least {MIN_POINTS} needed)"
        observed = (
            f"{item.spec.name}: total CPU peak {load.peak_cores * 1000:.0f}m, trough {load.trough_cores * 1000:.0f}m"
            if load
            else "no series"
        )
        evidence: tuple[Evidence, ...] = (Evidence(fetched.query(QueryKind.LOAD), window, observed),)
        if requests is not None:
            seen_rps = f"{item.spec.name}: requests peak {requests.peak_rps:.3g}/s, trough {requests.trough_rps:.3g}/s"
            evidence += (Evidence(fetched.query(QueryKind.REQUEST_LOAD), window, seen_rps),)
        out += replicas.recommend_bounds(
            item.target, item.spec, load, policy, enough_data=short, evidence=evidence, requests=requests
        )
    return out


def replay_proposals(
    client: InstantClient,
    workflows: Sequence[Workflow],
    recs: Sequence[Recommendation],
    fetched: Fetched,
    *,
    at: datetime | float,
) -> list[Recommendation]:
    """Every proposed request or limit with its replay over the window
    (:mod:`gitops_agent.optimize.replay`): at most two instant queries for all proposals
    (one for CPU, one for memory), answered per target, not per pod. A memory value at or
    above the peak ``fetched`` saw has no crossing and is not counted again."""
    query_plan = fetched.plan
    items = {item.target: item for w in workflows for item in workloads_of(w)}
    proposed = [r for r in recs if r.proposed and r.strategy is Strategy.RIGHTSIZING and r.target in items]
    results: dict[tuple[Target, str], replay.Replay] = {}
    evidence: dict[str, Evidence] = {}
    indexed = [
        name
        for item in items.values()
        if isinstance(item.spec, Task) and (item.spec.completion_mode == "Indexed" or item.spec.sweep is not None)
        for name in item.workloads
    ]
    for memory in (False, True):
        field = "resources.memory" if memory else "resources.cpu"
        chosen = [r for r in proposed if r.field == field and isinstance(r.new, str)]
        if not chosen:
            continue
        before: dict[tuple[str, str], float] = {}
        after: dict[tuple[str, str], float] = {}
        for rec in chosen:
            item = items[rec.target]
            current = replay.current_value(rec, item.container.resources)
            for name in item.workloads:
                after[(name, rec.target.name)] = quantity_float(str(rec.new))
                if current is not None and memory:  # CPU: the proposal's share only
                    before[(name, rec.target.name)] = current
        keys = sorted({*before, *after})
        if memory:  # no sample lies above a value at or above the peak
            before = {k: v for k, v in before.items() if fetched.memory.get(k, math.inf) > v}
            after = {k: v for k, v in after.items() if fetched.memory.get(k, math.inf) > v}
        query = replay_query(query_plan.namespace, query_plan.window, memory, keys, before, after, indexed)
        counts = replay_counts([(r.labels, r.value) for r in client.instant(query.promql, at=at)])
        evidence[field] = Evidence(query.promql, query_plan.window, "replay")
        for rec in chosen:
            item = items[rec.target]
            stats = [counts.get((name, rec.target.name), {}) for name in item.workloads]
            current = replay.current_value(rec, item.container.resources)
            results[(rec.target, field)] = replay.from_counts(
                samples=_replay_samples(fetched, memory, rec.target.name, item.workloads, stats),
                total=sum(st.get("sum", 0.0) for st in stats),
                over_before=None if current is None or not memory else int(sum(st.get("before", 0.0) for st in stats)),
                over_after=int(sum(st.get("after", 0.0) for st in stats)),
                before=current,
                after=quantity_float(str(rec.new)),
            )
    out = []
    for rec in recs:
        found = results.get((rec.target, rec.field)) if rec in proposed else None
        if found is None:
            out.append(rec)
        else:
            out.append(replay.attach(rec, items[rec.target].container.resources, found, evidence[rec.field]))
    return out


def _replay_samples(
    fetched: Fetched, memory: bool, container: str, workloads: Sequence[str], stats: Sequence[Mapping[str, float]]
) -> int:
    """Samples a replay counted: memory's from the plan's samples query, CPU's from its own."""
    if memory:
        return sum(fetched.samples.get((name, container), 0) for name in workloads)
    return int(sum(st.get("count", 0.0) for st in stats))
