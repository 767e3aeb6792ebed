"""Tasks and services → Job, CronJob, Deployment, Service, HPA, PDB and PVC objects (pure)."""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Mapping
from typing import Any

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
from gitops_agent.spec.variants import MAIN_VARIANT, variant_replicas
from gitops_agent.vocabulary import labels as L
from gitops_agent.vocabulary.objects import Manifest

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
    result.update(
        {
            L.NAME_LABEL: name,
            L.PART_OF_LABEL: workflow.name,
            L.MANAGED_BY_LABEL: L.MANAGED_BY_VALUE,
            L.COMPONENT_LABEL: component,
        }
    )
    return dict(sorted(result.items()))


def _env_vars(env: Mapping[str, str | SecretKeyRef]) -> list[Manifest]:
    result: list[Manifest] = []
    for name in sorted(env):
        value = env[name]
        if isinstance(value, SecretKeyRef):
            ref = {"name": value.name, "key": value.key}
            result.append({"name": name, "valueFrom": {"secretKeyRef": ref}})
        else:
            result.append({"name": name, "value": value})
    return result


def _resources(container: Container) -> Manifest:
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
    result: Manifest = {}
    if limits:
        result["limits"] = limits
    if requests:
        result["requests"] = requests
    return result


def _probe(probe: Probe) -> Manifest:
    result: Manifest = {}
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
) -> Manifest:
    """One container: image, command, env, envFrom, resources, ports, probes, config mount."""
    spec: Manifest = {"name": name, "image": image or container.image}
    if container.command:
        spec["command"] = list(container.command)
    if container.args:
        spec["args"] = list(container.args)
    spec.update(_environment(container, extra_env))
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


def _environment(container: Container, extra_env: Mapping[str, str | SecretKeyRef] | None) -> Manifest:
    """``env`` (the container's, then ``extra_env``) and ``envFrom``, each only when set."""
    fields: Manifest = {}
    env = {**container.env, **(extra_env or {})}
    if env:
        fields["env"] = _env_vars(env)
    if container.env_from:
        fields["envFrom"] = [
            {"secretRef": {"name": ref.name}}
            if ref.kind == EnvFromKind.SECRET
            else {"configMapRef": {"name": ref.name}}
            for ref in container.env_from
        ]
    return fields


def _volume_mount(volume: Volume) -> Manifest:
    mount: Manifest = {"name": volume.name, "mountPath": volume.mount_path}
    if volume.sub_path is not None:
        mount["subPath"] = volume.sub_path
    if volume.read_only:
        mount["readOnly"] = True
    return mount


def claim_name(workflow: Workflow, volume: str) -> str:
    """``<workflow>-<volume>``: the PersistentVolumeClaim of a ``claim`` volume."""
    return f"{workflow.name}-{volume}"


def _pod_volume(volume: Volume, workflow: Workflow) -> Manifest:
    """The pod spec ``volumes`` entry of ``volume`` (Kubernetes Volume)."""
    source: Manifest
    if volume.kind == VolumeKind.CLAIM:
        source = {"persistentVolumeClaim": {"claimName": claim_name(workflow, volume.name)}}
    elif volume.kind == VolumeKind.EXISTING_CLAIM:
        source = {"persistentVolumeClaim": {"claimName": volume.reference}}
    elif volume.kind == VolumeKind.CONFIG_MAP:
        source = {"configMap": {"name": volume.reference}}
    elif volume.kind == VolumeKind.SECRET:
        source = {"secret": {"secretName": volume.reference}}
    else:
        empty_dir: Manifest = {}
        if volume.medium is not None:
            empty_dir["medium"] = volume.medium
        if volume.size_limit is not None:
            empty_dir["sizeLimit"] = volume.size_limit
        source = {"emptyDir": empty_dir}
    if volume.read_only and volume.kind in (VolumeKind.CLAIM, VolumeKind.EXISTING_CLAIM):
        source["persistentVolumeClaim"]["readOnly"] = True
    return {"name": volume.name, **source}


def _toleration(toleration: Toleration) -> Manifest:
    fields = (
        ("key", toleration.key),
        ("operator", toleration.operator),
        ("value", toleration.value),
        ("effect", toleration.effect),
        ("tolerationSeconds", toleration.toleration_seconds),
    )
    return {name: value for name, value in fields if value is not None}


def _tolerations(container: Container) -> list[Manifest]:
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


def _scheduling(container: Container) -> Manifest:
    """Pod spec placement fields; empty for a container that sets none (old output unchanged)."""
    scheduling = container.scheduling
    spec: Manifest = {}
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


def pod_spec(container: Container, workflow: Workflow, main: Manifest, *, restart_never: bool) -> Manifest:
    spec: Manifest = {}
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


def persistent_volume_claim(name: str, claim: Claim, workflow: Workflow) -> Manifest:
    """A ``v1`` PersistentVolumeClaim, kept by prune unless the claim says ``prune: true``."""
    obj = template("persistentvolumeclaim")
    meta = obj["metadata"]
    meta["name"] = claim_name(workflow, name)
    meta["labels"] = object_labels(workflow, name, "storage")
    if not claim.prune:
        meta["annotations"] = {L.PRUNE_ANNOTATION: "false"}
    spec: Manifest = {"accessModes": list(claim.access_modes)}
    if claim.storage_class is not None:
        spec["storageClassName"] = claim.storage_class
    spec["resources"] = {"requests": {"storage": claim.size}}
    obj["spec"] = spec
    return obj


def pod_annotations(workflow: Workflow, depends_on: tuple[str, ...] = (), run_id: str | None = None) -> dict[str, str]:
    """A hash of the config files, so a config change restarts pods and reruns tasks; the
    task's own run id and the run ids of the tasks upstream of ``depends_on``, so a new run
    id re-runs the task and everything downstream of it."""
    annotations: dict[str, str] = {}
    if workflow.config:
        annotations[L.CONFIG_HASH_ANNOTATION] = short_hash(dict(workflow.config))
    if run_id is not None:
        annotations[L.RUN_ID_ANNOTATION] = run_id
    upstream = upstream_runs(workflow, depends_on)
    if upstream:
        annotations[L.UPSTREAM_RUNS_ANNOTATION] = ",".join(f"{task}={run}" for task, run in sorted(upstream.items()))
    return annotations


def upstream_runs(workflow: Workflow, depends_on: tuple[str, ...]) -> dict[str, str]:
    """Task → run id of every task with a ``runId`` upstream of ``depends_on`` (transitively)."""
    tasks = {task.name: task for task in workflow.tasks}
    found: dict[str, str] = {}
    pending, seen = list(depends_on), set[str]()
    while pending:
        name = pending.pop()
        task = tasks.get(name)
        if name in seen or task is None:
            continue
        seen.add(name)
        if task.run_id is not None:
            found[name] = task.run_id
        pending.extend(task.depends_on)
    return found


def _job_spec(task: Task, workflow: Workflow, *, image: str | None = None) -> Manifest:
    """The ``spec`` of a Job for ``task`` (also the ``jobTemplate.spec`` of a CronJob)."""
    pod_labels = object_labels(workflow, task.name, "task")
    pod_labels[L.TASK_LABEL] = task.name
    template_meta: Manifest = {"labels": dict(sorted(pod_labels.items()))}
    annotations = pod_annotations(workflow, task.depends_on, task.run_id)
    if annotations:
        template_meta["annotations"] = annotations
    main = container_spec(task.name, task.container, workflow, image=image)
    spec: Manifest = {}
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


def job(task: Task, workflow: Workflow, pins: Mapping[str, str]) -> Manifest:
    """A task of the DAG as a ``batch/v1`` Job."""
    obj = template("job")
    meta = obj["metadata"]
    meta["name"] = job_name(task, workflow, pins)
    meta["labels"] = _task_labels(task, workflow)
    if task.depends_on:
        meta["annotations"] = {L.DEPENDS_ON_ANNOTATION: ",".join(task.depends_on)}
    obj["spec"] = _job_spec(task, workflow)
    return obj


def _task_labels(task: Task, workflow: Workflow) -> dict[str, str]:
    labels = {**object_labels(workflow, task.name, "task"), L.TASK_LABEL: task.name}
    if task.queue is not None:
        labels[QUEUE_LABEL] = task.queue
    return dict(sorted(labels.items()))


def cronjob(task: Task, workflow: Workflow) -> Manifest:
    """A scheduled task as a ``batch/v1`` CronJob."""
    obj = template("cronjob")
    obj["metadata"]["name"] = f"{workflow.name}-{task.name}"
    obj["metadata"]["labels"] = dict(
        sorted({**object_labels(workflow, task.name, "task"), L.TASK_LABEL: task.name}.items())
    )
    obj["spec"]["schedule"] = task.schedule
    if task.queue is not None:  # Kueue reads the queue from the Job template (Kueue docs, 'Run a CronJob')
        obj["spec"]["jobTemplate"] = {"metadata": {"labels": {QUEUE_LABEL: task.queue}}, **obj["spec"]["jobTemplate"]}
    obj["spec"]["jobTemplate"]["spec"] = _job_spec(task, workflow)
    return obj


def _selector(workflow: Workflow, service: Service) -> dict[str, str]:
    return {L.NAME_LABEL: service.name, L.PART_OF_LABEL: workflow.name}


def deployment(service: Service, workflow: Workflow, variant: Variant | None = None) -> Manifest:
    """The main Deployment of a service, or the Deployment of one of its variants."""
    variant_name = variant.name if variant else MAIN_VARIANT
    obj = template("deployment")
    meta = obj["metadata"]
    meta["name"] = service.name if variant is None else f"{service.name}-{variant.name}"
    component = "service" if variant is None else "variant"
    meta["labels"] = dict(
        sorted({**object_labels(workflow, service.name, component), L.VARIANT_LABEL: variant_name}.items())
    )
    if service.depends_on:
        meta["annotations"] = {L.DEPENDS_ON_ANNOTATION: ",".join(service.depends_on)}
    spec = obj["spec"]
    if variant is not None or service.autoscale is None:
        spec["replicas"] = variant_replicas(service)[variant_name]
    selector = {**_selector(workflow, service), L.VARIANT_LABEL: variant_name}
    spec["selector"]["matchLabels"] = dict(sorted(selector.items()))
    pod_labels = {**object_labels(workflow, service.name, component), L.VARIANT_LABEL: variant_name}
    template_meta: Manifest = {"labels": dict(sorted(pod_labels.items()))}
    annotations = pod_annotations(workflow, service.depends_on)
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


def service_object(service: Service, workflow: Workflow) -> Manifest:
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


def variant_service(service: Service, workflow: Workflow, variant: str) -> Manifest:
    """A ``v1`` Service '<service>-<variant>' selecting one variant's pods (``main``: the
    main Deployment's), the backend of the route's weighted backendRef or of an Ingress.
    Labelled ``component: variant``, so the ServiceMonitor, which selects the Services of
    ``component: service``, scrapes each pod once (through the shared Service)."""
    obj = service_object(service, workflow)
    obj["metadata"]["name"] = f"{service.name}-{variant}"
    obj["metadata"]["labels"] = object_labels(workflow, service.name, "variant")
    selector = {**_selector(workflow, service), L.VARIANT_LABEL: variant}
    obj["spec"]["selector"] = dict(sorted(selector.items()))
    return obj


def route_services(service: Service, workflow: Workflow) -> list[Manifest]:
    """The per-variant Services a weighted route or ingress needs (none without a route or
    an ingress, or without variants)."""
    if (service.route is None and service.ingress is None) or not service.variants:
        return []
    names = [MAIN_VARIANT, *(v.name for v in service.variants)]
    return [variant_service(service, workflow, name) for name in names]


def http_route(service: Service, workflow: Workflow) -> Manifest:
    """A ``gateway.networking.k8s.io/v1`` HTTPRoute to the service (Gateway API). With
    variants, one weighted backendRef per variant: ``main`` gets 100 minus the variants'
    weights (the Gateway API's weights are proportional; these sum to 100)."""
    route = service.route
    assert route is not None
    obj = template("httproute")
    obj["metadata"]["name"] = service.name
    obj["metadata"]["labels"] = object_labels(workflow, service.name, "service")
    parent: Manifest = {"name": route.gateway}
    if route.gateway_namespace is not None:
        parent["namespace"] = route.gateway_namespace
    if route.section_name is not None:
        parent["sectionName"] = route.section_name
    spec: Manifest = {"parentRefs": [parent]}
    if route.hostnames:
        spec["hostnames"] = list(route.hostnames)
    port = service.ports[route.port]
    if service.variants:
        main_weight = 100 - sum(v.weight for v in service.variants)
        backends = [{"name": f"{service.name}-{MAIN_VARIANT}", "port": port, "weight": main_weight}]
        backends += [{"name": f"{service.name}-{v.name}", "port": port, "weight": v.weight} for v in service.variants]
    else:
        backends = [{"name": service.name, "port": port}]
    match = {"path": {"type": "PathPrefix", "value": route.path}}
    spec["rules"] = [{"matches": [match], "backendRefs": backends}]
    obj["spec"] = spec
    return obj


CANARY = "nginx.ingress.kubernetes.io/canary"
CANARY_WEIGHT = "nginx.ingress.kubernetes.io/canary-weight"


def ingresses(service: Service, workflow: Workflow) -> list[Manifest]:
    """``networking.k8s.io/v1`` Ingresses to the service: '<service>' and, per variant, a
    canary Ingress '<service>-<variant>' with the same hosts and path. The canary carries
    ingress-nginx's ``canary: "true"`` and ``canary-weight: "<weight>"`` annotations (the
    percentage of requests it gets; the rest goes to the main Ingress, whose backend is then
    '<service>-main'); source: the ingress-nginx annotations reference, "Canary"."""
    if service.ingress is None:
        return []
    if not service.variants:
        return [_ingress(service, workflow, service.name, service.name)]
    main = _ingress(service, workflow, service.name, f"{service.name}-{MAIN_VARIANT}")
    canaries = []
    for variant in service.variants:
        name = f"{service.name}-{variant.name}"
        canary = _ingress(service, workflow, name, name)
        annotations = {**canary["metadata"].get("annotations", {}), CANARY: "true", CANARY_WEIGHT: str(variant.weight)}
        canary["metadata"]["annotations"] = dict(sorted(annotations.items()))
        canaries.append(canary)
    return [main, *canaries]


def _ingress(service: Service, workflow: Workflow, name: str, backend: str) -> Manifest:
    """One Ingress ``name`` sending the service's hosts and path to the Service ``backend``."""
    ingress = service.ingress
    assert ingress is not None
    obj = template("ingress")
    obj["metadata"]["name"] = name
    obj["metadata"]["labels"] = object_labels(workflow, service.name, "service")
    if ingress.annotations:
        obj["metadata"]["annotations"] = dict(sorted(ingress.annotations.items()))
    spec: Manifest = {}
    if ingress.class_name is not None:
        spec["ingressClassName"] = ingress.class_name
    if ingress.tls_secret is not None:
        tls: Manifest = {"secretName": ingress.tls_secret}
        if ingress.hosts:
            tls = {"hosts": list(ingress.hosts), **tls}
        spec["tls"] = [tls]
    target = {"service": {"name": backend, "port": {"number": service.ports[ingress.port]}}}
    http = {"paths": [{"path": ingress.path, "pathType": "Prefix", "backend": target}]}
    spec["rules"] = [{"host": host, "http": http} for host in ingress.hosts] or [{"http": http}]
    obj["spec"] = spec
    return obj


def hpa(service: Service, workflow: Workflow) -> Manifest:
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


def _hpa_metric(metric: HpaMetric) -> Manifest:
    """An autoscaling/v2 MetricSpec of type Pods, External or Object."""
    identifier: Manifest = {"name": metric.metric}
    if metric.selector:
        identifier["selector"] = {"matchLabels": dict(metric.selector)}
    if metric.value is not None:
        target: Manifest = {"type": "Value", "value": metric.value}
    else:
        target = {"type": "AverageValue", "averageValue": metric.average_value}
    body: Manifest = {"metric": identifier}
    if metric.described_object is not None:
        body["describedObject"] = dict(metric.described_object)
    body["target"] = target
    field_name = metric.kind[0].lower() + metric.kind[1:]
    return {"type": metric.kind, field_name: body}


def _scaling_rules(rules: ScalingRules) -> Manifest:
    result: Manifest = {}
    if rules.stabilization_seconds is not None:
        result["stabilizationWindowSeconds"] = rules.stabilization_seconds
    if rules.select_policy is not None:
        result["selectPolicy"] = rules.select_policy
    if rules.policies:
        result["policies"] = [
            {"type": p.type, "value": p.value, "periodSeconds": p.period_seconds} for p in rules.policies
        ]
    return result


def pdb(service: Service, workflow: Workflow) -> Manifest:
    """A ``policy/v1`` PodDisruptionBudget over the main Deployment and its variants."""
    assert service.disruption is not None
    obj = template("pdb")
    obj["metadata"]["name"] = service.name
    obj["metadata"]["labels"] = object_labels(workflow, service.name, "service")
    spec: Manifest = {}
    if service.disruption.min_available is not None:
        spec["minAvailable"] = service.disruption.min_available
    if service.disruption.max_unavailable is not None:
        spec["maxUnavailable"] = service.disruption.max_unavailable
    spec["selector"] = {"matchLabels": dict(sorted(_selector(workflow, service).items()))}
    obj["spec"] = spec
    return obj
