"""One workflow → the list of Kubernetes objects it compiles to (pure, deterministic)."""

from __future__ import annotations

from collections.abc import Mapping

from gitops_agent.compile import dashboard, monitoring, sweeps, workloads
from gitops_agent.spec.model import Service, Workflow
from gitops_agent.vocabulary.objects import Manifest, ref_of

KIND_FILE_ORDER = (
    "ConfigMap",
    "PersistentVolumeClaim",
    "Service",
    "Deployment",
    "HorizontalPodAutoscaler",
    "PodDisruptionBudget",
    "Job",
    "CronJob",
    "ServiceMonitor",
    "PrometheusRule",
    "HTTPRoute",
    "Ingress",
)


def compile_workflow(
    workflow: Workflow, *, image_pins: Mapping[str, str] | None = None, outline: bool = False
) -> list[Manifest]:
    """Every object of ``workflow``; ``image_pins`` only affect Job names (their hash).

    Images themselves are pinned later by kustomize's ``images:``; the Job name must already
    reflect the pinned image so that a new pin runs the task again. With ``outline``, the
    dashboard ConfigMap carries no ``data`` (its JSON is most of a workflow's compile time);
    the objects, their identities and every other field are the same.
    """
    pins = image_pins or {}
    objects: list[Manifest] = []
    if workflow.config:
        objects.append(monitoring.config_map(workflow))
    for name, claim in workloads.claims(workflow).items():
        objects.append(workloads.persistent_volume_claim(name, claim, workflow))
    for task in workflow.tasks:
        objects.append(workloads.cronjob(task, workflow) if task.scheduled else workloads.job(task, workflow, pins))
        if task.sweep is not None:
            labels = workloads.object_labels(workflow, task.name, "sweep")
            objects.append(sweeps.trials_config_map(task, workflow, labels))
    for service in workflow.services:
        objects.extend(service_objects(service, workflow))
    if workflow.monitoring and workflow.monitoring.alerts:
        objects.append(monitoring.prometheus_rule(workflow))
    if dashboard.wanted(workflow):
        objects.append(dashboard.config_map(workflow, with_data=not outline))
    return sorted(objects, key=object_key)


def service_objects(service: Service, workflow: Workflow) -> list[Manifest]:
    """A service's Deployments (its own and one per A/B variant), Service, route or ingress
    (with a Service per variant), HPA, PDB and ServiceMonitor."""
    objects = [workloads.deployment(service, workflow)]
    objects.extend(workloads.deployment(service, workflow, variant) for variant in service.variants)
    if service.ports:
        objects.append(workloads.service_object(service, workflow))
    objects.extend(workloads.route_services(service, workflow))
    if service.route is not None:
        objects.append(workloads.http_route(service, workflow))
    objects.extend(workloads.ingresses(service, workflow))
    if service.autoscale is not None:
        objects.append(workloads.hpa(service, workflow))
    if service.disruption is not None:
        objects.append(workloads.pdb(service, workflow))
    scrape = workflow.monitoring.scrape if workflow.monitoring else None
    if scrape is not None and scrape.port in service.ports:
        objects.append(monitoring.service_monitor(service, workflow, scrape))
    return objects


def object_key(obj: Manifest) -> tuple[int, str, str]:
    kind = obj["kind"]
    order = KIND_FILE_ORDER.index(kind) if kind in KIND_FILE_ORDER else len(KIND_FILE_ORDER)
    return order, kind, obj["metadata"]["name"]


def file_name(obj: Manifest) -> str:
    """Stable file name of an object: ``<kind>-<name>.yaml`` in lower case."""
    return f"{obj['kind'].lower()}-{obj['metadata']['name']}.yaml"


def identity(obj: Manifest) -> tuple[str, str, str]:
    """(apiVersion group, kind, name): how base and overlay objects are matched."""
    ref = ref_of(obj)
    return ref.group, ref.kind, ref.name
