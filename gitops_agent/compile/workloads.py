"""Tasks and services → Job, CronJob, Deployment, Service, HPA, PDB and PVC objects (pure)."""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Mapping
from typing import Any

from gitops_agent.compile import labels as L
from gitops_agent.compile import sweeps
from gitops_agent.compile.templates import template
from gitops_agent.spec.model import (
    Claim,
    Container,
    EnvFromKind,
    HpaMetric,
    Probe,
    ScalingRules,
    SecretKeyRef,
    Service,
    Task,
    Toleration,
    Variant,
    Volume,
    VolumeKind,
    Workflow,
)

Obj = dict[str, Any]

GPU_RESOURCE = "nvidia.com/gpu"
GPU_PRODUCT_LABEL = "nvidia.com/gpu.product"
"""Node label set by NVIDIA GPU Feature Discovery (part of the GPU Operator)."""
GPU_TOLERATION = Toleration(key=GPU_RESOURCE, operator="Exists", effect="NoSchedule")
"""Tolerates the taint GPU node pools carry (``nvidia.com/gpu``, NoSchedule) on GKE, AKS, EKS
and with NVIDIA's GPU Operator; the same toleration Kubernetes' ExtendedResourceToleration
admission plugin adds to a pod that requests ``nvidia.com/gpu``."""
QUEUE_LABEL = "kueue.x-k8s.io/queue-name"
"""The label naming a Kueue LocalQueue (Kueue docs, 'Run a Job')."""
CONFIG_MOUNT_ROOT = "/etc/gitops-agent"


def short_hash(value: Any, length: int = 8) -> str:
    """First ``length`` hex digits of the SHA-256 of ``value``'s canonical JSON."""
    canonical = json.dumps(value, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:length]


def split_image(image: str) -> tuple[str, str | None]:
    """``registry:5000/repo:tag`` → (``registry:5000/repo``, ``tag``); digests stay in the name."""
    if "@" in image:
        return image, None
    name, sep, tag = image.rpartition(":")
    if not sep or "/" in tag:
        return image, None
    return name, tag


def pin_image(image: str, pins: Mapping[str, str]) -> str:
    """The image after the environment's ``images:`` pins (what kustomize will produce)."""
    name, _ = split_image(image)
    if name not in pins:
        return image
    pin = pins[name]
    return f"{name}@{pin}" if pin.startswith("sha256:") else f"{name}:{pin}"


def object_labels(workflow: Workflow, name: str, component: str) -> dict[str, str]:
    """The standard labels of every generated object (the overlay adds the environment)."""
    result = dict(workflow.labels)
    result.update({L.NAME: name, L.PART_OF: workflow.name, L.MANAGED_BY: L.MANAGER, L.COMPONENT: component})
    return dict(sorted(result.items()))


def _env_vars(env: Mapping[str, str | SecretKeyRef]) -> list[Obj]:
    result: list[Obj] = []
    for name in sorted(env):
        value = env[name]
        if isinstance(value, SecretKeyRef):
            ref = {"name": value.name, "key": value.key}
            result.append({"name": name, "valueFrom": {"secretKeyRef": ref}})
        else:
            result.append({"name": name, "value": value})
    return result


def _resources(container: Container) -> Obj:
    res = container.resources
    requests: dict[str, Any] = {}
    limits: dict[str, Any] = {}
    if res.cpu is not None:
        requests["cpu"] = res.cpu
    if res.memory is not None:
        requests["memory"] = res.memory
    for key in sorted(res.limits):
        limits[key] = res.limits[key]
    if res.gpu:
        limits[GPU_RESOURCE] = res.gpu
    result: Obj = {}
    if limits:
        result["limits"] = limits
    if requests:
        result["requests"] = requests
    return result


def _probe(probe: Probe) -> Obj:
    result: Obj = {}
    if probe.command:
        result["exec"] = {"command": list(probe.command)}
    else:
        result["httpGet"] = {"path": probe.path or "/", "port": probe.port}
    if probe.initial_delay_seconds is not None:
        result["initialDelaySeconds"] = probe.initial_delay_seconds
    if probe.period_seconds is not None:
        result["periodSeconds"] = probe.period_seconds
    return result


def config_map_name(workflow: Workflow) -> str:
    return f"{workflow.name}-config"


def container_spec(
    name: str,
    container: Container,
    workflow: Workflow,
    *,
    image: str | None = None,
    ports: Mapping[str, int] | None = None,
    readiness: Probe | None = None,
    liveness: Probe | None = None,
    extra_env: Mapping[str, str | SecretKeyRef] | None = None,
) -> Obj:
    """One container: image, command, env, envFrom, resources, ports, probes, config mount."""
    spec: Obj = {"name": name, "image": image or container.image}
    if container.command:
        spec["command"] = list(container.command)
    if container.args:
        spec["args"] = list(container.args)
    env = dict(container.env)
    env.update(extra_env or {})
    if env:
        spec["env"] = _env_vars(env)
    if container.env_from:
        spec["envFrom"] = [
            {"secretRef": {"name": ref.name}}
            if ref.kind == EnvFromKind.SECRET
            else {"configMapRef": {"name": ref.name}}
            for ref in container.env_from
        ]
    if ports:
        spec["ports"] = [
            {"name": port, "containerPort": number, "protocol": "TCP"}
            for port, number in sorted(ports.items(), key=lambda item: (item[1], item[0]))
        ]
    resources = _resources(container)
    if resources:
        spec["resources"] = resources
    if readiness is not None:
        spec["readinessProbe"] = _probe(readiness)
    if liveness is not None:
        spec["livenessProbe"] = _probe(liveness)
    mounts = [_volume_mount(volume) for volume in container.volumes]
    if workflow.config:
        mounts.insert(0, {"name": "config", "mountPath": f"{CONFIG_MOUNT_ROOT}/{workflow.name}", "readOnly": True})
    if mounts:
        spec["volumeMounts"] = mounts
    return spec


def _volume_mount(volume: Volume) -> Obj:
    mount: Obj = {"name": volume.name, "mountPath": volume.mount_path}
    if volume.sub_path is not None:
        mount["subPath"] = volume.sub_path
    if volume.read_only:
        mount["readOnly"] = True
    return mount


def claim_name(workflow: Workflow, volume: str) -> str:
    """``<workflow>-<volume>``: the PersistentVolumeClaim of a ``claim`` volume."""
    return f"{workflow.name}-{volume}"


def _pod_volume(volume: Volume, workflow: Workflow) -> Obj:
    """The pod spec ``volumes`` entry of ``volume`` (Kubernetes Volume)."""
    source: Obj
    if volume.kind == VolumeKind.CLAIM:
        source = {"persistentVolumeClaim": {"claimName": claim_name(workflow, volume.name)}}
    elif volume.kind == VolumeKind.EXISTING_CLAIM:
        source = {"persistentVolumeClaim": {"claimName": volume.reference}}
    elif volume.kind == VolumeKind.CONFIG_MAP:
        source = {"configMap": {"name": volume.reference}}
    elif volume.kind == VolumeKind.SECRET:
        source = {"secret": {"secretName": volume.reference}}
    else:
        empty_dir: Obj = {}
        if volume.medium is not None:
            empty_dir["medium"] = volume.medium
        if volume.size_limit is not None:
            empty_dir["sizeLimit"] = volume.size_limit
        source = {"emptyDir": empty_dir}
    if volume.read_only and volume.kind in (VolumeKind.CLAIM, VolumeKind.EXISTING_CLAIM):
        source["persistentVolumeClaim"]["readOnly"] = True
    return {"name": volume.name, **source}


def _toleration(toleration: Toleration) -> Obj:
    fields = (
        ("key", toleration.key),
        ("operator", toleration.operator),
        ("value", toleration.value),
        ("effect", toleration.effect),
        ("tolerationSeconds", toleration.toleration_seconds),
    )
    return {name: value for name, value in fields if value is not None}


def _tolerations(container: Container) -> list[Obj]:
    """The container's tolerations, plus the GPU toleration for the GPU short form."""
    tolerations = list(container.scheduling.tolerations)
    if container.resources.gpu_short_form and container.resources.gpu and GPU_TOLERATION not in tolerations:
        tolerations.append(GPU_TOLERATION)
    return [_toleration(t) for t in tolerations]


def _node_selector(container: Container) -> dict[str, str]:
    selector = dict(container.scheduling.node_selector)
    if container.resources.gpu_product is not None:
        selector[GPU_PRODUCT_LABEL] = container.resources.gpu_product
    return dict(sorted(selector.items()))


def _scheduling(container: Container) -> Obj:
    """Pod spec placement fields; empty for a container that sets none (old output unchanged)."""
    scheduling = container.scheduling
    spec: Obj = {}
    if scheduling.priority_class is not None:
        spec["priorityClassName"] = scheduling.priority_class
    if scheduling.runtime_class is not None:
        spec["runtimeClassName"] = scheduling.runtime_class
    selector = _node_selector(container)
    if selector:
        spec["nodeSelector"] = selector
    tolerations = _tolerations(container)
    if tolerations:
        spec["tolerations"] = tolerations
    if scheduling.affinity is not None:
        spec["affinity"] = copy.deepcopy(dict(scheduling.affinity))
    return spec


def pod_spec(container: Container, workflow: Workflow, main: Obj, *, restart_never: bool) -> Obj:
    spec: Obj = {}
    if restart_never:
        spec["restartPolicy"] = "Never"
    if container.service_account:
        spec["serviceAccountName"] = container.service_account
    spec.update(_scheduling(container))
    spec["containers"] = [main]
    volumes = [_pod_volume(volume, workflow) for volume in container.volumes]
    if workflow.config:
        volumes.insert(0, {"name": "config", "configMap": {"name": config_map_name(workflow)}})
    if volumes:
        spec["volumes"] = volumes
    return spec


def claims(workflow: Workflow) -> dict[str, Claim]:
    """Every ``claim`` volume of the workflow's tasks and services, by volume name (the
    spec checks make one name mean one claim)."""
    found: dict[str, Claim] = {}
    containers = [t.container for t in workflow.tasks] + [s.container for s in workflow.services]
    for container in containers:
        for volume in container.volumes:
            if volume.claim is not None:
                found.setdefault(volume.name, volume.claim)
    return dict(sorted(found.items()))


def persistent_volume_claim(name: str, claim: Claim, workflow: Workflow) -> Obj:
    """A ``v1`` PersistentVolumeClaim, kept by prune unless the claim says ``prune: true``."""
    obj = template("persistentvolumeclaim")
    meta = obj["metadata"]
    meta["name"] = claim_name(workflow, name)
    meta["labels"] = object_labels(workflow, name, "storage")
    if not claim.prune:
        meta["annotations"] = {L.PRUNE: "false"}
    spec: Obj = {"accessModes": list(claim.access_modes)}
    if claim.storage_class is not None:
        spec["storageClassName"] = claim.storage_class
    spec["resources"] = {"requests": {"storage": claim.size}}
    obj["spec"] = spec
    return obj


def pod_annotations(workflow: Workflow) -> dict[str, str]:
    """A hash of the config files, so a config change restarts pods and reruns tasks."""
    if not workflow.config:
        return {}
    return {L.CONFIG_HASH: short_hash(dict(workflow.config))}


def _job_spec(task: Task, workflow: Workflow, *, image: str | None = None) -> Obj:
    """The ``spec`` of a Job for ``task`` (also the ``jobTemplate.spec`` of a CronJob)."""
    pod_labels = object_labels(workflow, task.name, "task")
    pod_labels[L.TASK] = task.name
    template_meta: Obj = {"labels": dict(sorted(pod_labels.items()))}
    annotations = pod_annotations(workflow)
    if annotations:
        template_meta["annotations"] = annotations
    main = container_spec(task.name, task.container, workflow, image=image)
    spec: Obj = {}
    parallelism, completions, mode = (task.parallelism, task.completions, task.completion_mode)
    most_failed = task.max_failed_indexes
    if task.sweep is not None:
        parallelism, completions, mode = sweeps.job_fields(task.sweep)
        if most_failed is not None:  # a last, shorter generation: the API wants ≤ completions
            most_failed = min(most_failed, completions)
    fields = (
        ("parallelism", parallelism),
        ("completions", completions),
        ("completionMode", mode),
        ("backoffLimit", task.retries),
        ("backoffLimitPerIndex", task.backoff_limit_per_index),
        ("maxFailedIndexes", most_failed),
        ("activeDeadlineSeconds", task.timeout_seconds),
    )
    spec.update((key, value) for key, value in fields if value is not None)
    if task.queue is not None:
        spec["suspend"] = True  # Kueue admits the Job by unsuspending it
    spec["template"] = {
        "metadata": template_meta,
        "spec": pod_spec(task.container, workflow, main, restart_never=True),
    }
    if task.sweep is not None:
        sweeps.wire(spec, task, workflow, short_hash)
    return spec


def job_name(task: Task, workflow: Workflow, pins: Mapping[str, str]) -> str:
    """``<workflow>-<task>-<hash8>``: the hash covers the Job spec as the cluster will get it."""
    pinned = _job_spec(task, workflow, image=pin_image(task.container.image, pins))
    return f"{workflow.name}-{task.name}-{short_hash(pinned)}"


def job(task: Task, workflow: Workflow, pins: Mapping[str, str]) -> Obj:
    """A task of the DAG as a ``batch/v1`` Job."""
    obj = template("job")
    meta = obj["metadata"]
    meta["name"] = job_name(task, workflow, pins)
    meta["labels"] = _task_labels(task, workflow)
    if task.depends_on:
        meta["annotations"] = {L.DEPENDS_ON: ",".join(task.depends_on)}
    obj["spec"] = _job_spec(task, workflow)
    return obj


def _task_labels(task: Task, workflow: Workflow) -> dict[str, str]:
    labels = {**object_labels(workflow, task.name, "task"), L.TASK: task.name}
    if task.queue is not None:
        labels[QUEUE_LABEL] = task.queue
    return dict(sorted(labels.items()))


def cronjob(task: Task, workflow: Workflow) -> Obj:
    """A scheduled task as a ``batch/v1`` CronJob."""
    obj = template("cronjob")
    obj["metadata"]["name"] = f"{workflow.name}-{task.name}"
    obj["metadata"]["labels"] = dict(sorted({**object_labels(workflow, task.name, "task"), L.TASK: task.name}.items()))
    obj["spec"]["schedule"] = task.schedule
    if task.queue is not None:  # Kueue reads the queue from the Job template (Kueue docs, 'Run a CronJob')
        obj["spec"]["jobTemplate"] = {"metadata": {"labels": {QUEUE_LABEL: task.queue}}, **obj["spec"]["jobTemplate"]}
    obj["spec"]["jobTemplate"]["spec"] = _job_spec(task, workflow)
    return obj


def variant_replicas(service: Service) -> dict[str, int]:
    """Replicas per variant (``main`` included) from the total and the variants' weights.

    The total is ``replicas`` (default 1), or ``autoscale.min`` when autoscaling; each variant
    gets ``max(1, round(total × weight / 100))``; with autoscaling only ``main`` is scaled by
    the HPA, variants keep their share of the minimum.
    """
    total = service.autoscale.min if service.autoscale else (service.replicas or 1)
    shares = {v.name: max(1, round(total * v.weight / 100)) for v in service.variants}
    return {L.MAIN_VARIANT: max(1, total - sum(shares.values())), **shares}


def _selector(workflow: Workflow, service: Service) -> dict[str, str]:
    return {L.NAME: service.name, L.PART_OF: workflow.name}


def deployment(service: Service, workflow: Workflow, variant: Variant | None = None) -> Obj:
    """The main Deployment of a service, or the Deployment of one of its variants."""
    variant_name = variant.name if variant else L.MAIN_VARIANT
    obj = template("deployment")
    meta = obj["metadata"]
    meta["name"] = service.name if variant is None else f"{service.name}-{variant.name}"
    component = "service" if variant is None else "variant"
    meta["labels"] = dict(sorted({**object_labels(workflow, service.name, component), L.VARIANT: variant_name}.items()))
    if service.depends_on:
        meta["annotations"] = {L.DEPENDS_ON: ",".join(service.depends_on)}
    spec = obj["spec"]
    if variant is not None or service.autoscale is None:
        spec["replicas"] = variant_replicas(service)[variant_name]
    selector = {**_selector(workflow, service), L.VARIANT: variant_name}
    spec["selector"]["matchLabels"] = dict(sorted(selector.items()))
    pod_labels = {**object_labels(workflow, service.name, component), L.VARIANT: variant_name}
    template_meta: Obj = {"labels": dict(sorted(pod_labels.items()))}
    annotations = pod_annotations(workflow)
    if annotations:
        template_meta["annotations"] = annotations
    main = container_spec(
        service.name,
        service.container,
        workflow,
        image=variant.image if variant else None,
        ports=service.ports,
        readiness=service.readiness,
        liveness=service.liveness,
        extra_env=variant.env if variant else None,
    )
    spec["template"] = {
        "metadata": template_meta,
        "spec": pod_spec(service.container, workflow, main, restart_never=False),
    }
    # Keys in a stable, readable order: replicas, selector, template.
    obj["spec"] = {k: spec[k] for k in ("replicas", "selector", "template") if k in spec}
    return obj


def service_object(service: Service, workflow: Workflow) -> Obj:
    """The ``v1`` Service in front of the main Deployment and every variant."""
    obj = template("service")
    obj["metadata"]["name"] = service.name
    obj["metadata"]["labels"] = object_labels(workflow, service.name, "service")
    obj["spec"]["selector"] = dict(sorted(_selector(workflow, service).items()))
    obj["spec"]["ports"] = [
        {"name": port, "port": number, "targetPort": port, "protocol": "TCP"}
        for port, number in sorted(service.ports.items(), key=lambda item: (item[1], item[0]))
    ]
    return obj


def variant_service(service: Service, workflow: Workflow, variant: str) -> Obj:
    """A ``v1`` Service '<service>-<variant>' selecting one variant's pods (``main``: the
    main Deployment's), the backend of the route's weighted backendRef."""
    obj = service_object(service, workflow)
    obj["metadata"]["name"] = f"{service.name}-{variant}"
    selector = {**_selector(workflow, service), L.VARIANT: variant}
    obj["spec"]["selector"] = dict(sorted(selector.items()))
    return obj


def route_services(service: Service, workflow: Workflow) -> list[Obj]:
    """The per-variant Services a weighted route needs (none without route or variants)."""
    if service.route is None or not service.variants:
        return []
    names = [L.MAIN_VARIANT, *(v.name for v in service.variants)]
    return [variant_service(service, workflow, name) for name in names]


def http_route(service: Service, workflow: Workflow) -> Obj:
    """A ``gateway.networking.k8s.io/v1`` HTTPRoute to the service (Gateway API). With
    variants, one weighted backendRef per variant: ``main`` gets 100 minus the variants'
    weights (the Gateway API's weights are proportional; these sum to 100)."""
    route = service.route
    assert route is not None
    obj = template("httproute")
    obj["metadata"]["name"] = service.name
    obj["metadata"]["labels"] = object_labels(workflow, service.name, "service")
    parent: Obj = {"name": route.gateway}
    if route.gateway_namespace is not None:
        parent["namespace"] = route.gateway_namespace
    if route.section_name is not None:
        parent["sectionName"] = route.section_name
    spec: Obj = {"parentRefs": [parent]}
    if route.hostnames:
        spec["hostnames"] = list(route.hostnames)
    port = service.ports[route.port]
    if service.variants:
        main_weight = 100 - sum(v.weight for v in service.variants)
        backends = [{"name": f"{service.name}-{L.MAIN_VARIANT}", "port": port, "weight": main_weight}]
        backends += [{"name": f"{service.name}-{v.name}", "port": port, "weight": v.weight} for v in service.variants]
    else:
        backends = [{"name": service.name, "port": port}]
    match = {"path": {"type": "PathPrefix", "value": route.path}}
    spec["rules"] = [{"matches": [match], "backendRefs": backends}]
    obj["spec"] = spec
    return obj


def hpa(service: Service, workflow: Workflow) -> Obj:
    """An ``autoscaling/v2`` HorizontalPodAutoscaler for the main Deployment."""
    assert service.autoscale is not None
    scale = service.autoscale
    obj = template("hpa")
    obj["metadata"]["name"] = service.name
    obj["metadata"]["labels"] = object_labels(workflow, service.name, "service")
    obj["spec"]["scaleTargetRef"]["name"] = service.name
    obj["spec"]["minReplicas"] = scale.min
    obj["spec"]["maxReplicas"] = scale.max
    metrics = []
    targets = (("cpu", scale.cpu_utilization), ("memory", scale.memory_utilization))
    for resource, utilization in targets:
        if utilization is not None:
            target = {"type": "Utilization", "averageUtilization": utilization}
            metrics.append({"type": "Resource", "resource": {"name": resource, "target": target}})
    metrics.extend(_hpa_metric(metric) for metric in scale.metrics)
    if not metrics:
        target = {"type": "Utilization", "averageUtilization": 80}
        metrics.append({"type": "Resource", "resource": {"name": "cpu", "target": target}})
    obj["spec"]["metrics"] = metrics
    behavior = {
        direction: _scaling_rules(rules)
        for direction, rules in (("scaleUp", scale.scale_up), ("scaleDown", scale.scale_down))
        if rules is not None
    }
    if behavior:
        obj["spec"]["behavior"] = behavior
    return obj


def _hpa_metric(metric: HpaMetric) -> Obj:
    """An autoscaling/v2 MetricSpec of type Pods, External or Object."""
    identifier: Obj = {"name": metric.metric}
    if metric.selector:
        identifier["selector"] = {"matchLabels": dict(metric.selector)}
    if metric.value is not None:
        target: Obj = {"type": "Value", "value": metric.value}
    else:
        target = {"type": "AverageValue", "averageValue": metric.average_value}
    body: Obj = {"metric": identifier}
    if metric.described_object is not None:
        body["describedObject"] = dict(metric.described_object)
    body["target"] = target
    field_name = metric.kind[0].lower() + metric.kind[1:]
    return {"type": metric.kind, field_name: body}


def _scaling_rules(rules: ScalingRules) -> Obj:
    result: Obj = {}
    if rules.stabilization_seconds is not None:
        result["stabilizationWindowSeconds"] = rules.stabilization_seconds
    if rules.select_policy is not None:
        result["selectPolicy"] = rules.select_policy
    if rules.policies:
        result["policies"] = [
            {"type": p.type, "value": p.value, "periodSeconds": p.period_seconds} for p in rules.policies
        ]
    return result


def pdb(service: Service, workflow: Workflow) -> Obj:
    """A ``policy/v1`` PodDisruptionBudget over the main Deployment and its variants."""
    assert service.disruption is not None
    obj = template("pdb")
    obj["metadata"]["name"] = service.name
    obj["metadata"]["labels"] = object_labels(workflow, service.name, "service")
    spec: Obj = {}
    if service.disruption.min_available is not None:
        spec["minAvailable"] = service.disruption.min_available
    if service.disruption.max_unavailable is not None:
        spec["maxUnavailable"] = service.disruption.max_unavailable
    spec["selector"] = {"matchLabels": dict(sorted(_selector(workflow, service).items()))}
    obj["spec"] = spec
    return obj
