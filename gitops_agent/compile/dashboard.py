"""A workflow → one Grafana dashboard in a ConfigMap the Grafana sidecar of
kube-prometheus-stack loads (pure).

The dashboard is built with Grafana's own Python SDK (``grafana-foundation-sdk``) and
written as JSON with sorted keys, so the same workflow always gives the same bytes. It has
a ``datasource`` variable (any Prometheus data source) and a ``namespace`` variable (the
namespaces where the workflow's containers run: one per environment). Panels, each a
PromQL query over the metric and label names the alerts and ``gitops-agent optimize`` use:

- per service with ports, one series per variant (the main Deployment ``<service>``, each
  variant ``<service>-<variant>``): request rate and error ratio (5xx share) from
  ``http_requests_total``, latency p50/p95/p99 from ``http_request_duration_seconds_bucket``;
- per service and per task: CPU (5m rate of ``container_cpu_usage_seconds_total``) and
  working set (``container_memory_working_set_bytes``) per pod, against the request and,
  where the spec sets one, the limit (kube-state-metrics'
  ``kube_pod_container_resource_requests``/``_limits``);
- tasks: duration (completion minus start time) and outcomes (succeeded and failed pods)
  per task, from kube-state-metrics' ``kube_job_status_*`` series of the tasks' Jobs;
- sweeps: the objective each trial exported (``<metric>{workflow, task, trial}``), per trial.

Pods map to workloads as in optimize (:data:`gitops_agent.vocabulary.objects.POD_PATTERN`);
Jobs are ``<workflow>-<task>-<hash8>`` (a CronJob's ``<workflow>-<task>-<time>``).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from typing import Any

from grafana_foundation_sdk.builders import dashboard as gd
from grafana_foundation_sdk.builders import prometheus as gp
from grafana_foundation_sdk.builders import timeseries as gt
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models.dashboard import DataSourceRef, VariableRefresh

from gitops_agent.compile.templates import template
from gitops_agent.compile.workloads import object_labels
from gitops_agent.spec.model import Container, Workflow
from gitops_agent.vocabulary import labels as L
from gitops_agent.vocabulary.objects import POD_PATTERN, Manifest

RATE = "5m"
QUANTILES = (0.5, 0.95, 0.99)
DATASOURCE = DataSourceRef(type_val="prometheus", uid="${datasource}")
NAMESPACE = 'namespace="$namespace"'
WIDTH, HEIGHT = 8, 8


def wanted(workflow: Workflow) -> bool:
    """A workflow gets a dashboard when it has services or tasks and does not turn it off
    (``monitoring.dashboard: false``)."""
    enabled = workflow.monitoring.dashboard if workflow.monitoring else True
    return enabled and bool(workflow.services or workflow.tasks)


def dashboard_uid(workflow: Workflow) -> str:
    """``gitops-agent-<12 hex>``: stable across compiles, unique per workflow name, within
    Grafana's 40-character uid limit."""
    return "gitops-agent-" + hashlib.sha256(workflow.name.encode()).hexdigest()[:12]


def config_map_name(workflow: Workflow) -> str:
    return f"{workflow.name}-dashboard"


def _alternatives(names: Sequence[str]) -> str:
    """Names as an RE2 alternation (RFC 1123 names hold no regular-expression syntax)."""
    return "|".join(names)


def _pods(workloads: Sequence[str], *, indexed: bool = False) -> str:
    """Pods of the workloads: ``<workload>-<hash>-<5 chars>``; with ``indexed`` (a task's Jobs)
    also the pods of an Indexed Job, whose completion index comes before the suffix
    (``<workflow>-<task>-<hash8>-<index>-<5 chars>``)."""
    index = "(-[0-9]+)?" if indexed else ""
    return f'pod=~"({_alternatives(workloads)})-[a-z0-9]+{index}-[a-z0-9]{{5}}"'


def _by_workload(expr: str) -> str:
    return f'label_replace({expr}, "workload", "$1", "pod", "{POD_PATTERN}")'


def _jobs(workflow: Workflow, tasks: Sequence[str]) -> str:
    return f'job_name=~"{workflow.name}-({_alternatives(tasks)})-[a-z0-9]+"'


def _by_task(workflow: Workflow, tasks: Sequence[str], expr: str) -> str:
    pattern = f"{workflow.name}-({_alternatives(tasks)})-[a-z0-9]+"
    return f'label_replace({expr}, "task", "$1", "job_name", "{pattern}")'


def request_rate(workloads: Sequence[str]) -> str:
    """Requests per second per workload (5m rate, summed over pods)."""
    rate = f"rate(http_requests_total{{{NAMESPACE},{_pods(workloads)}}}[{RATE}])"
    return f"sum by (workload) ({_by_workload(rate)})"


def error_ratio(workloads: Sequence[str]) -> str:
    """The share of 5xx responses per workload (5m rates)."""
    errors = f'rate(http_requests_total{{{NAMESPACE},{_pods(workloads)},code=~"5.."}}[{RATE}])'
    return f"sum by (workload) ({_by_workload(errors)}) / {request_rate(workloads)}"


def latency_quantile(workloads: Sequence[str], quantile: float) -> str:
    """The ``quantile`` of request durations per workload (seconds), from the histogram."""
    buckets = f"rate(http_request_duration_seconds_bucket{{{NAMESPACE},{_pods(workloads)}}}[{RATE}])"
    return f"histogram_quantile({quantile:g}, sum by (workload, le) ({_by_workload(buckets)}))"


def _container(container: str, workloads: Sequence[str], indexed: bool = False) -> str:
    return f'{NAMESPACE},container="{container}",{_pods(workloads, indexed=indexed)}'


def cpu_usage(container: str, workloads: Sequence[str], indexed: bool = False) -> str:
    """CPU cores per pod (5m rate)."""
    selector = _container(container, workloads, indexed)
    return f"sum by (pod) (rate(container_cpu_usage_seconds_total{{{selector}}}[{RATE}]))"


def memory_usage(container: str, workloads: Sequence[str], indexed: bool = False) -> str:
    """Working-set bytes per pod."""
    return f"sum by (pod) (container_memory_working_set_bytes{{{_container(container, workloads, indexed)}}})"


def resource_line(kind: str, resource: str, container: str, workloads: Sequence[str], indexed: bool = False) -> str:
    """The highest ``requests`` or ``limits`` value of ``resource`` over the pods."""
    selector = f'{_container(container, workloads, indexed)},resource="{resource}"'
    return f"max(kube_pod_container_resource_{kind}{{{selector}}})"


def task_duration(workflow: Workflow, tasks: Sequence[str]) -> str:
    """Seconds from start to completion of each task's newest finished Job."""
    selector = f"{{{NAMESPACE},{_jobs(workflow, tasks)}}}"
    span = f"kube_job_status_completion_time{selector} - kube_job_status_start_time{selector}"
    return f"max by (task) ({_by_task(workflow, tasks, span)})"


def task_outcome(workflow: Workflow, tasks: Sequence[str], outcome: str) -> str:
    """Pods of each task's Jobs that ``succeeded`` or ``failed``."""
    series = f"kube_job_status_{outcome}{{{NAMESPACE},{_jobs(workflow, tasks)}}}"
    return f"sum by (task) ({_by_task(workflow, tasks, series)})"


def sweep_objective(workflow: Workflow, task: str, metric: str) -> str:
    """The objective each trial of a sweep exported (the trial contract of docs/optimize.md:
    ``<metric>{namespace, workflow, task, trial}``), one series per trial."""
    selector = f'{NAMESPACE},workflow="{workflow.name}",task="{task}",trial!=""'
    return f"max by (trial) ({metric}{{{selector}}})"


def _target(expr: str, legend: str, ref: str) -> gp.Dataquery:
    return gp.Dataquery().expr(expr).legend_format(legend).ref_id(ref).datasource(DATASOURCE)


def _panel(title: str, unit: str, targets: Sequence[tuple[str, str]], description: str) -> gt.Panel:
    panel = gt.Panel().title(title).unit(unit).description(description).datasource(DATASOURCE)
    panel = panel.height(HEIGHT).span(WIDTH)
    for index, (expr, legend) in enumerate(targets):
        panel = panel.with_target(_target(expr, legend, chr(ord("A") + index)))
    return panel


def _resources(container: Container, name: str, workloads: Sequence[str], indexed: bool = False) -> list[gt.Panel]:
    """CPU and memory of one container against its request and (when set) its limit."""
    panels = []
    limits = container.resources.limits
    for resource, unit, usage in (("cpu", "short", cpu_usage), ("memory", "bytes", memory_usage)):
        targets = [(usage(name, workloads, indexed), "{{pod}}")]
        targets.append((resource_line("requests", resource, name, workloads, indexed), "request"))
        if resource in limits:
            targets.append((resource_line("limits", resource, name, workloads, indexed), "limit"))
        title = f"{name}: {'CPU (cores)' if resource == 'cpu' else 'memory (working set)'}"
        panels.append(_panel(title, unit, targets, f"Per pod, against the container's {resource} request and limit."))
    return panels


def panel_groups(workflow: Workflow) -> list[tuple[str, list[gt.Panel]]]:
    """The dashboard's rows (title and panels), services first, then tasks."""
    groups = []
    for service in workflow.services:
        workloads = [service.name, *(f"{service.name}-{v.name}" for v in service.variants)]
        latency = [(latency_quantile(workloads, q), f"{{{{workload}}}} p{q * 100:g}") for q in QUANTILES]
        panels = []
        if service.ports:  # a service without ports serves no requests
            panels += [
                _panel("Request rate", "reqps", [(request_rate(workloads), "{{workload}}")], "Per variant (5m rate)."),
                _panel("Error ratio", "percentunit", [(error_ratio(workloads), "{{workload}}")], "5xx share."),
                _panel("Latency", "s", latency, "p50, p95 and p99 request duration per variant."),
            ]
        panels += _resources(service.container, service.name, workloads)
        groups.append((f"Service {service.name}", panels))
    if workflow.tasks:
        names = [task.name for task in workflow.tasks]
        outcomes = [(task_outcome(workflow, names, o), f"{{{{task}}}} {o}") for o in ("succeeded", "failed")]
        panels = [
            _panel("Task duration", "s", [(task_duration(workflow, names), "{{task}}")], "Start to completion."),
            _panel("Task outcomes", "short", outcomes, "Succeeded and failed pods of each task's Jobs."),
        ]
        for task in workflow.tasks:  # a Job's pod: <workflow>-<task>-<hash or time>-<5 chars>
            panels += _resources(task.container, task.name, [f"{workflow.name}-{task.name}"], indexed=True)
            if task.sweep is not None:
                objective = [(sweep_objective(workflow, task.name, task.sweep.metric), "trial {{trial}}")]
                goal = f"{task.sweep.goal} {task.sweep.metric}"
                panels.append(_panel(f"Sweep {task.name}: objective per trial", "short", objective, f"Goal: {goal}."))
        groups.append(("Tasks", panels))
    return groups


def build(workflow: Workflow) -> dict[str, Any]:
    """The dashboard model (Grafana dashboard JSON) of ``workflow``."""
    builder = (
        gd.Dashboard(f"{workflow.name} (gitops-agent)")
        .uid(dashboard_uid(workflow))
        .tags(["gitops-agent", workflow.name])
        .editable()
        .refresh("1m")
        .time("now-6h", "now")
        .timezone("browser")
        .with_variable(gd.DatasourceVariable("datasource").label("Data source").type("prometheus"))
        .with_variable(
            gd.QueryVariable("namespace")
            .label("Namespace")
            .datasource(DATASOURCE)
            .query(namespace_query(workflow))
            .refresh(VariableRefresh.ON_TIME_RANGE_CHANGED)
        )
    )
    panel_id = 1
    for title, panels in panel_groups(workflow):
        builder = builder.with_row(gd.Row(title).id(panel_id))
        panel_id += 1
        for panel in panels:
            builder = builder.with_panel(panel.id(panel_id))
            panel_id += 1
    encoded = JSONEncoder(sort_keys=True).encode(builder.build())
    document: dict[str, Any] = json.loads(encoded)
    return document


def namespace_query(workflow: Workflow) -> str:
    """The namespaces where the workflow's containers run, told apart from other workflows'
    containers of the same name by their pods (a Grafana ``label_values`` query)."""
    containers = [s.name for s in workflow.services] + [t.name for t in workflow.tasks]
    workloads = [w for s in workflow.services for w in (s.name, *(f"{s.name}-{v.name}" for v in s.variants))]
    workloads += [f"{workflow.name}-{t.name}" for t in workflow.tasks]
    selector = f'container=~"{_alternatives(containers)}",{_pods(workloads)}'
    return f"label_values(container_memory_working_set_bytes{{{selector}}}, namespace)"


def expressions(document: dict[str, Any]) -> list[str]:
    """Every PromQL expression of the dashboard's panels, in panel order."""
    return [str(target["expr"]) for panel in document.get("panels", []) for target in panel.get("targets", [])]


def config_map(workflow: Workflow, *, with_data: bool = True) -> Manifest:
    """ConfigMap ``<workflow>-dashboard`` labelled ``grafana_dashboard: "1"``, holding
    ``<workflow>.json`` (sorted keys, two-space indent); without ``data`` when not ``with_data``."""
    obj = template("configmap")
    obj["metadata"]["name"] = config_map_name(workflow)
    labels = {**object_labels(workflow, config_map_name(workflow), "monitoring"), L.GRAFANA_DASHBOARD_LABEL: "1"}
    obj["metadata"]["labels"] = dict(sorted(labels.items()))
    if with_data:
        text = json.dumps(build(workflow), sort_keys=True, indent=2, ensure_ascii=False) + "\n"
        obj["data"] = {f"{workflow.name}.json": text}
    return obj
