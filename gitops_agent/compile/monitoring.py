"""Config and monitoring → ConfigMap, ServiceMonitor and PrometheusRule objects (pure)."""

from __future__ import annotations

from gitops_agent.compile.templates import template
from gitops_agent.compile.workloads import config_map_name, object_labels
from gitops_agent.spec.model import Scrape, Service, Workflow
from gitops_agent.vocabulary import labels as L
from gitops_agent.vocabulary.objects import Manifest


def config_map(workflow: Workflow) -> Manifest:
    """The workflow's ``config:`` files as ConfigMap ``<workflow>-config``."""
    obj = template("configmap")
    obj["metadata"]["name"] = config_map_name(workflow)
    obj["metadata"]["labels"] = object_labels(workflow, config_map_name(workflow), "config")
    obj["data"] = {key: workflow.config[key] for key in sorted(workflow.config)}
    return obj


def service_monitor(service: Service, workflow: Workflow, scrape: Scrape) -> Manifest:
    """A ServiceMonitor scraping one service's Service on the ``scrape`` port."""
    obj = template("servicemonitor")
    obj["metadata"]["name"] = service.name
    obj["metadata"]["labels"] = object_labels(workflow, service.name, "monitoring")
    selector = {L.NAME_LABEL: service.name, L.PART_OF_LABEL: workflow.name, L.COMPONENT_LABEL: "service"}
    obj["spec"]["selector"]["matchLabels"] = dict(sorted(selector.items()))
    endpoint = {"port": scrape.port, "path": scrape.path, "interval": scrape.interval}
    obj["spec"]["endpoints"] = [endpoint]
    return obj


def prometheus_rule(workflow: Workflow) -> Manifest:
    """One PrometheusRule with one group holding every alert of the workflow."""
    assert workflow.monitoring is not None
    obj = template("prometheusrule")
    obj["metadata"]["name"] = workflow.name
    obj["metadata"]["labels"] = object_labels(workflow, workflow.name, "monitoring")
    rules = []
    for alert in workflow.monitoring.alerts:
        rule: Manifest = {"alert": alert.name, "expr": alert.expr}
        if alert.for_:
            rule["for"] = alert.for_
        rule["labels"] = {"severity": str(alert.severity), "workflow": workflow.name}
        if alert.summary:
            rule["annotations"] = {"summary": alert.summary}
        rules.append(rule)
    obj["spec"]["groups"] = [{"name": workflow.name, "rules": rules}]
    return obj
