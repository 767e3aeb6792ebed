"""Every PromQL expression of every generated dashboard and alert of the example workflows
runs on a real Prometheus without error and returns data for their synthetic series.

The expressions are read from the compiled tree (the dashboard ConfigMaps and the
PrometheusRules the ``dev`` environment deploys), with the dashboards' ``$namespace`` set to
the environment's namespace. The series are derived from the effective workflows: cAdvisor
usage, kube-state-metrics requests, limits (only where the spec sets one) and Job status,
and the services' request counters and duration histograms, shaped so each example alert
fires (a 8% classifier error share, a gateway whose p99 is above 2 s and which fails 2
requests a second, a fraud scoring Job that failed).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
import yaml

from gitops_agent.adapters.prometheus import PrometheusClient
from gitops_agent.compile import compile_environment, dashboard
from gitops_agent.spec import effective_workflow, load_specs
from gitops_agent.spec.build import build_workflow
from gitops_agent.spec.model import Container, Workflow
from gitops_agent.vocabulary.quantities import quantity_float as parse_quantity
from tests.support.gitrepos import make_gitops_repo
from tests.support.prometheus import PrometheusFactory, RunningPrometheus, SyntheticSeries, history_end

pytestmark = pytest.mark.integration
ENV = "dev"
DAYS = 0.25
BUCKETS = (("0.1", 0.60), ("0.5", 0.90), ("1", 0.95), ("2.5", 0.96), ("5", 1.0), ("+Inf", 1.0))
"""Cumulative share of requests at or below each bound: 4% take 2.5-5 s, so p99 is above 2 s."""
ERRORS = {"classifier": 0.08, "llm-gateway": 0.05}
RATES = {"llm-gateway": 40.0}


def _gauge(metric: str, labels: dict[str, str], value: float) -> SyntheticSeries:
    return SyntheticSeries(metric, labels, lambda t: value, days=DAYS)


def _counter(metric: str, labels: dict[str, str], rate: float) -> SyntheticSeries:
    return SyntheticSeries(metric, labels, lambda t: rate, days=DAYS, counter=True)


def _container(namespace: str, pod: str, name: str, container: Container) -> list[SyntheticSeries]:
    """Usage, requests and (where the spec sets them) limits of one container of one pod."""
    labels = {"namespace": namespace, "pod": pod, "container": name}
    resources = container.resources
    cpu = parse_quantity(resources.cpu or "250m")
    memory = parse_quantity(resources.memory or "256Mi")
    series = [
        _counter("container_cpu_usage_seconds_total", labels, cpu / 3),
        _gauge("container_memory_working_set_bytes", labels, memory / 2),
        _gauge("kube_pod_container_resource_requests", {**labels, "resource": "cpu", "unit": "core"}, cpu),
        _gauge("kube_pod_container_resource_requests", {**labels, "resource": "memory", "unit": "byte"}, memory),
    ]
    for resource, unit in (("cpu", "core"), ("memory", "byte")):
        if resource in resources.limits:
            value = parse_quantity(str(resources.limits[resource]))
            limit = {**labels, "resource": resource, "unit": unit}
            series.append(_gauge("kube_pod_container_resource_limits", limit, value))
    return series


def workflow_history(namespace: str, workflow: Workflow, end: int) -> list[SyntheticSeries]:
    series: list[SyntheticSeries] = []
    for service in workflow.services:
        rate, errors = RATES.get(service.name, 10.0), ERRORS.get(service.name, 0.01)
        for workload in (service.name, *(f"{service.name}-{v.name}" for v in service.variants)):
            pod = f"{workload}-5d8f7c9b4-abcde"
            series += _container(namespace, pod, service.name, service.container)
            labels = {"namespace": namespace, "pod": pod, "service": service.name}
            series.append(_counter("http_requests_total", {**labels, "code": "200"}, rate * (1 - errors)))
            series.append(_counter("http_requests_total", {**labels, "code": "500"}, rate * errors))
            for le, share in BUCKETS:
                series.append(_counter("http_request_duration_seconds_bucket", {**labels, "le": le}, rate * share))
    for task in workflow.tasks:
        job = f"{workflow.name}-{task.name}-1a2b3c4d"
        series += _container(namespace, f"{job}-qwert", task.name, task.container)
        labels = {"namespace": namespace, "job_name": job}
        failed = 1.0 if (workflow.name, task.name) == ("fraud-risk-scoring", "score") else 0.0
        series += [
            _gauge("kube_job_status_start_time", labels, end - 3600.0),
            _gauge("kube_job_status_completion_time", labels, end - 600.0),
            _gauge("kube_job_status_succeeded", labels, 1.0 - failed),
            _gauge("kube_job_status_failed", labels, failed),
        ]
    return series


LIMITED_NAMESPACE = "limits"
LIMITED = build_workflow(
    {
        "apiVersion": "gitops-agent.io/v1alpha1",
        "kind": "Workflow",
        "metadata": {"name": "limited"},
        "spec": {
            "defaults": {"image": "app:1", "resources": {"cpu": "500m", "memory": "1Gi"}},
            "tasks": {"train": {"resources": {"limits": {"cpu": "2", "memory": "2Gi"}}}},
            "services": {
                "api": {
                    "ports": {"http": 8080},
                    "resources": {"limits": {"cpu": "1", "memory": "1Gi"}},
                    "variants": {"b": {"image": "app:2", "weight": 10}},
                }
            },
        },
    },
    "workflows/limited.yaml",
)
"""A workflow whose containers set CPU and memory limits (the examples set none), so the
limit lines of the resource panels are run too."""


@pytest.fixture(scope="module")
def compiled(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, list[Workflow], dict[str, bytes]]:
    repo = make_gitops_repo(tmp_path_factory.mktemp("examples") / "repo")
    specs = load_specs(repo)
    env = specs.environments[ENV]
    workflows = [effective_workflow(specs, env, name) for name in sorted(specs.workflows) if env.selects(name)]
    tree = dict(compile_environment(specs, env, source_commit=None, repo_root=repo))
    return env.namespace, workflows, tree


@pytest.fixture(scope="module")
def lab(
    tmp_path_factory: pytest.TempPathFactory, compiled: tuple[str, list[Workflow], dict[str, bytes]]
) -> Iterator[RunningPrometheus]:
    namespace, workflows, _ = compiled
    end = history_end()
    series = [s for workflow in workflows for s in workflow_history(namespace, workflow, end)]
    series += workflow_history(LIMITED_NAMESPACE, LIMITED, end)
    factory = PrometheusFactory(tmp_path_factory.mktemp("prom"))
    try:
        yield factory.start(series, end=end)
    finally:
        factory.close()


def _objects(tree: dict[str, bytes], kind: str) -> list[dict[str, Any]]:
    found = []
    for path, content in sorted(tree.items()):
        if path.startswith("base/") and path.endswith(".yaml"):
            obj = yaml.safe_load(content)
            if isinstance(obj, dict) and obj.get("kind") == kind:
                found.append(obj)
    return found


def dashboard_expressions(tree: dict[str, bytes], namespace: str) -> list[tuple[str, str]]:
    """(where, PromQL) of every panel target and the namespace variable of every dashboard."""
    out = []
    for obj in _objects(tree, "ConfigMap"):
        if obj["metadata"].get("labels", {}).get("grafana_dashboard") != "1":
            continue
        for key, text in obj["data"].items():
            model = json.loads(text)
            for panel in model["panels"]:
                for target in panel.get("targets", []):
                    expr = target["expr"].replace("$namespace", namespace)
                    out.append((f"{key} panel {panel['title']!r} {target['refId']}", expr))
            for variable in model["templating"]["list"]:
                if variable["type"] == "query":  # Grafana's label_values(series, label)
                    match = re.fullmatch(r"label_values\((.*), (\w+)\)", variable["query"])
                    assert match, variable["query"]
                    out.append((f"{key} variable {variable['name']}", f"count by ({match[2]}) ({match[1]})"))
    return out


def alert_expressions(tree: dict[str, bytes]) -> list[tuple[str, str]]:
    return [
        (f"PrometheusRule {obj['metadata']['name']} alert {rule['alert']}", rule["expr"])
        for obj in _objects(tree, "PrometheusRule")
        for group in obj["spec"]["groups"]
        for rule in group["rules"]
    ]


def test_every_dashboard_and_alert_expression_returns_data(
    lab: RunningPrometheus, compiled: tuple[str, list[Workflow], dict[str, bytes]]
) -> None:
    namespace, workflows, tree = compiled
    dashboards = dashboard_expressions(tree, namespace)
    alerts = alert_expressions(tree)
    assert {w.name for w in workflows} == {"customer-service-agent", "fraud-risk-scoring", "image-recognition"}
    assert len(_objects(tree, "ConfigMap")) >= 3 and len(alerts) == 4
    client = PrometheusClient(lab.url, timeout=30)
    empty = []
    for where, expr in dashboards + alerts:
        rows = client.instant(expr, at=lab.end)  # raises on a query Prometheus refuses
        if not rows or all(row.value != row.value for row in rows):  # nothing, or only NaN
            empty.append(f"{where}: {expr}")
    assert empty == [], "\n".join(empty)
    assert len(dashboards) > 50


def test_the_namespace_variable_finds_the_environment(
    lab: RunningPrometheus, compiled: tuple[str, list[Workflow], dict[str, bytes]]
) -> None:
    namespace, _, tree = compiled
    client = PrometheusClient(lab.url, timeout=30)
    variables = [expr for where, expr in dashboard_expressions(tree, namespace) if "variable" in where]
    assert len(variables) == 3
    for expr in variables:
        assert [row.labels["namespace"] for row in client.instant(expr, at=lab.end)] == [namespace]


def test_per_variant_panels_tell_the_variants_apart(
    lab: RunningPrometheus, compiled: tuple[str, list[Workflow], dict[str, bytes]]
) -> None:
    namespace, _, tree = compiled
    client = PrometheusClient(lab.url, timeout=30)
    (ratio,) = [e for w, e in dashboard_expressions(tree, namespace) if "image-recognition" in w and "Error ratio" in w]
    values = {row.labels["workload"]: row.value for row in client.instant(ratio, at=lab.end)}
    assert values == pytest.approx({"classifier": 0.08, "classifier-candidate": 0.08})
    (rate,) = [e for w, e in dashboard_expressions(tree, namespace) if "image-recognition" in w and "Request rate" in w]
    assert {row.labels["workload"]: row.value for row in client.instant(rate, at=lab.end)} == pytest.approx(
        {"classifier": 10.0, "classifier-candidate": 10.0}
    )


def test_limit_lines_return_the_limits_the_spec_sets(lab: RunningPrometheus) -> None:
    model = dashboard.build(LIMITED)
    client = PrometheusClient(lab.url, timeout=30)
    limits = {}
    for panel in model["panels"]:
        for target in panel.get("targets", []):
            expr = target["expr"].replace("$namespace", LIMITED_NAMESPACE)
            rows = client.instant(expr, at=lab.end)
            assert rows, f"{panel['title']} {target['legendFormat']}: {expr}"
            if target["legendFormat"] == "limit":
                limits[panel["title"]] = rows[0].value
    assert limits == {
        "api: CPU (cores)": 1.0,
        "api: memory (working set)": 2.0**30,
        "train: CPU (cores)": 2.0,
        "train: memory (working set)": 2.0**31,
    }
