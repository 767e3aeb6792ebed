"""Build the typed model from documents that passed validation, resolving ``defaults``.

Defaults resolution: a task's or service's own ``image``, ``command``, ``args``,
``serviceAccount``, ``affinity``, ``priorityClassName`` and ``runtimeClassName`` win over
``defaults``; ``env``, ``nodeSelector`` and ``volumes`` maps merge (own value wins, a volume
by name); ``envFrom`` and ``tolerations`` lists concatenate, defaults first (an identical
toleration kept once); ``resources`` merge key by key (``limits`` too).
Literal env/config values that YAML read as numbers or booleans become strings
(``true``/``false``; quote a value to keep it verbatim). A variant's ``env`` holds only
the variant's own variables (the compiler merges them over the service's).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from gitops_agent.spec.model import (
    Alert,
    Autoscale,
    Claim,
    Container,
    Direction,
    Disruption,
    EnvFrom,
    EnvFromKind,
    Environment,
    Experiments,
    HpaMetric,
    IgnoreDifference,
    Ingress,
    Monitoring,
    Optimize,
    Probe,
    Resources,
    Retrain,
    Rightsizing,
    Route,
    ScalingPolicy,
    ScalingRules,
    Scheduling,
    Scrape,
    SecretKeyRef,
    Service,
    Severity,
    Sweep,
    SweepParameter,
    SyncPolicy,
    Task,
    Toleration,
    Trial,
    Variant,
    Volume,
    VolumeKind,
    Workflow,
    frozen_map,
)
from gitops_agent.vocabulary.durations import is_zero_duration, parse_duration
from gitops_agent.vocabulary.quantities import quantity_text


def scalar_text(value: Any) -> str:
    """An env/config/label scalar as the string Kubernetes needs."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return quantity_text(value) or str(value)
    return str(value)


def _map(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, dict) else {}


def _strings(value: Any) -> tuple[str, ...]:
    return tuple(scalar_text(v) for v in value) if isinstance(value, list) else ()


def _env(value: Any) -> Mapping[str, str | SecretKeyRef]:
    out: dict[str, str | SecretKeyRef] = {}
    for name, item in _map(value).items():
        if isinstance(item, dict):
            ref = _map(item.get("secretRef"))
            out[name] = SecretKeyRef(name=str(ref["name"]), key=str(ref["key"]))
        else:
            out[name] = scalar_text(item)
    return frozen_map(out)


def _quantity(value: Any) -> str | None:
    return None if value is None else quantity_text(value)


def _resources(defaults: Mapping[str, Any], own: Mapping[str, Any]) -> Resources:
    merged = {**defaults, **own}
    limits = {**_map(defaults.get("limits")), **_map(own.get("limits"))}
    gpu = merged.get("gpu")
    short_form = isinstance(gpu, dict)
    count = gpu.get("count") if isinstance(gpu, dict) else gpu
    product = gpu.get("product") if isinstance(gpu, dict) else None
    return Resources(
        cpu=_quantity(merged.get("cpu")),
        memory=_quantity(merged.get("memory")),
        gpu=int(count) if isinstance(count, int) else None,
        limits=frozen_map({k: quantity_text(v) or str(v) for k, v in limits.items()}),
        gpu_product=None if product is None else str(product),
        gpu_short_form=short_form,
    )


def _toleration(value: Mapping[str, Any]) -> Toleration:
    seconds = value.get("tolerationSeconds")
    return Toleration(
        key=value.get("key"),
        operator=value.get("operator"),
        value=None if value.get("value") is None else scalar_text(value["value"]),
        effect=value.get("effect"),
        toleration_seconds=int(seconds) if isinstance(seconds, int) else None,
    )


def _scheduling(defaults: Mapping[str, Any], body: Mapping[str, Any]) -> Scheduling:
    tolerations: list[Toleration] = []
    for item in [*(defaults.get("tolerations") or []), *(body.get("tolerations") or [])]:
        toleration = _toleration(_map(item))
        if toleration not in tolerations:
            tolerations.append(toleration)
    selector = {**_map(defaults.get("nodeSelector")), **_map(body.get("nodeSelector"))}
    affinity = body.get("affinity", defaults.get("affinity"))
    return Scheduling(
        node_selector=frozen_map({k: scalar_text(v) for k, v in selector.items()}),
        tolerations=tuple(tolerations),
        affinity=copy.deepcopy(affinity) if isinstance(affinity, dict) else None,
        priority_class=body.get("priorityClassName", defaults.get("priorityClassName")),
        runtime_class=body.get("runtimeClassName", defaults.get("runtimeClassName")),
    )


_REFERENCES = (VolumeKind.EXISTING_CLAIM, VolumeKind.CONFIG_MAP, VolumeKind.SECRET)


def _volume(name: str, value: Mapping[str, Any]) -> Volume:
    kind = next(k for k in VolumeKind if k.value in value)
    claim = _map(value.get("claim"))
    empty_dir = _map(value.get("emptyDir"))
    reference = value.get(kind.value) if kind in _REFERENCES else None
    return Volume(
        name=name,
        kind=kind,
        mount_path=str(value["mountPath"]),
        read_only=bool(value.get("readOnly", False)),
        sub_path=value.get("subPath"),
        reference=None if reference is None else str(reference),
        claim=(
            Claim(
                size=quantity_text(claim["size"]) or str(claim["size"]),
                storage_class=claim.get("storageClass"),
                access_modes=tuple(claim.get("accessModes") or ("ReadWriteOnce",)),
                prune=bool(claim.get("prune", False)),
            )
            if kind == VolumeKind.CLAIM
            else None
        ),
        medium=empty_dir.get("medium"),
        size_limit=_quantity(empty_dir.get("sizeLimit")),
    )


def _volumes(defaults: Mapping[str, Any], body: Mapping[str, Any]) -> tuple[Volume, ...]:
    merged = {**_map(defaults.get("volumes")), **_map(body.get("volumes"))}
    return tuple(_volume(name, _map(merged[name])) for name in sorted(merged))


def _container(defaults: Mapping[str, Any], body: Mapping[str, Any]) -> Container:
    env_from = [*(defaults.get("envFrom") or []), *(body.get("envFrom") or [])]
    return Container(
        image=str(body.get("image", defaults.get("image", ""))),
        command=_strings(body.get("command", defaults.get("command"))),
        args=_strings(body.get("args", defaults.get("args"))),
        env=_env({**_map(defaults.get("env")), **_map(body.get("env"))}),
        env_from=tuple(
            EnvFrom(kind=EnvFromKind(kind), name=str(name))
            for item in env_from
            for kind, name in _map(item).items()
        ),
        resources=_resources(_map(defaults.get("resources")), _map(body.get("resources"))),
        service_account=body.get("serviceAccount", defaults.get("serviceAccount")),
        scheduling=_scheduling(defaults, body),
        volumes=_volumes(defaults, body),
    )


def _task(name: str, body: Mapping[str, Any], defaults: Mapping[str, Any]) -> Task:
    timeout = body.get("timeout")
    return Task(
        name=name,
        container=_container(defaults, body),
        depends_on=tuple(body.get("dependsOn") or ()),
        retries=body.get("retries"),
        timeout=timeout,
        timeout_seconds=parse_duration(timeout) if timeout is not None else None,
        schedule=body.get("schedule"),
        queue=body.get("queue"),
        parallelism=body.get("parallelism"),
        completions=body.get("completions"),
        completion_mode=body.get("completionMode"),
        backoff_limit_per_index=body.get("backoffLimitPerIndex"),
        max_failed_indexes=body.get("maxFailedIndexes"),
        sweep=_sweep(body.get("sweep")),
        run_id=body.get("runId"),
    )


def _sweep_parameter(name: str, body: Mapping[str, Any]) -> SweepParameter:
    if "values" in body:
        return SweepParameter(name=name, values=tuple(body["values"]))
    low, high = body["min"], body["max"]
    kind = body.get("type") or ("int" if isinstance(low, int) and isinstance(high, int) else "float")
    step = body.get("step", 1 if kind == "int" else None)
    return SweepParameter(
        name=name, kind=kind, low=low, high=high, scale=body.get("scale", "linear"), step=step
    )


def _sweep(value: Any) -> Sweep | None:
    """The ``sweep`` of a task; parameters sorted by name (the grid's order)."""
    if not isinstance(value, dict):
        return None
    objective = _map(value.get("objective"))
    return Sweep(
        parameters=tuple(_sweep_parameter(n, _map(b)) for n, b in sorted(_map(value.get("parameters")).items())),
        metric=str(objective["metric"]),
        goal=str(objective["goal"]),
        max_trials=int(value["maxTrialCount"]),
        training_task=str(value["trainingTask"]),
        algorithm=str(value.get("algorithm", "random")),
        seed=int(value.get("seed", 0)),
        parallel_trials=int(value.get("parallelTrialCount", 1)),
        trials=tuple(
            Trial(
                number=index,
                generation=int(item["generation"]),
                parameters=frozen_map(_map(item.get("parameters"))),
                objective=None if item.get("objective") is None else float(item["objective"]),
                failed="objective" in item and item["objective"] is None,
            )
            for index, item in enumerate(value.get("trials") or [])
        ),
    )


def _probe(value: Any) -> Probe | None:
    if not isinstance(value, dict):
        return None
    return Probe(
        path=value.get("path"),
        port=value.get("port"),
        command=_strings(value.get("command")),
        initial_delay_seconds=value.get("initialDelaySeconds"),
        period_seconds=value.get("periodSeconds"),
    )


def _hpa_metric(item: Mapping[str, Any]) -> HpaMetric:
    kind, body = next(iter(item.items()))
    described = body.get("describedObject")
    return HpaMetric(
        kind={"pods": "Pods", "external": "External", "object": "Object"}[kind],
        metric=str(body["metric"]),
        selector=frozen_map({k: scalar_text(v) for k, v in _map(body.get("selector")).items()}),
        value=_quantity(body.get("value")),
        average_value=_quantity(body.get("averageValue")),
        described_object=frozen_map({k: str(v) for k, v in described.items()}) if isinstance(described, dict) else None,
    )


def _scaling_rules(value: Any) -> ScalingRules | None:
    if not isinstance(value, dict):
        return None
    window = value.get("stabilizationWindow")
    return ScalingRules(
        stabilization_seconds=0 if is_zero_duration(window) else parse_duration(window),
        select_policy=value.get("selectPolicy"),
        policies=tuple(
            ScalingPolicy(type=str(p["type"]), value=int(p["value"]), period_seconds=parse_duration(p["period"]) or 0)
            for p in value.get("policies") or ()
        ),
    )


def _autoscale(value: Mapping[str, Any]) -> Autoscale:
    behavior = _map(value.get("behavior"))
    return Autoscale(
        min=value["min"],
        max=value["max"],
        cpu_utilization=value.get("cpuUtilization"),
        memory_utilization=value.get("memoryUtilization"),
        metrics=tuple(_hpa_metric(_map(item)) for item in value.get("metrics") or ()),
        scale_up=_scaling_rules(behavior.get("scaleUp")),
        scale_down=_scaling_rules(behavior.get("scaleDown")),
    )


def _route(value: Any, ports: Mapping[str, Any]) -> Route | None:
    if not isinstance(value, dict):
        return None
    return Route(
        gateway=str(value["gateway"]),
        port=str(value.get("port") or next(iter(sorted(ports)), "")),
        gateway_namespace=value.get("gatewayNamespace"),
        section_name=value.get("sectionName"),
        hostnames=tuple(value.get("hostnames") or ()),
        path=str(value.get("path", "/")),
    )


def _ingress(value: Any, ports: Mapping[str, Any]) -> Ingress | None:
    if not isinstance(value, dict):
        return None
    return Ingress(
        port=str(value.get("port") or next(iter(sorted(ports)), "")),
        class_name=value.get("className"),
        hosts=tuple(value.get("hosts") or ()),
        path=str(value.get("path", "/")),
        tls_secret=value.get("tlsSecret"),
        annotations=frozen_map({str(k): str(v) for k, v in _map(value.get("annotations")).items()}),
    )


def _service(name: str, body: Mapping[str, Any], defaults: Mapping[str, Any]) -> Service:
    autoscale = body.get("autoscale")
    disruption = body.get("disruption")
    probes = _map(body.get("probes"))
    return Service(
        name=name,
        container=_container(defaults, body),
        depends_on=tuple(body.get("dependsOn") or ()),
        ports=frozen_map(_map(body.get("ports"))),
        replicas=body.get("replicas"),
        autoscale=_autoscale(autoscale) if isinstance(autoscale, dict) else None,
        readiness=_probe(probes.get("readiness")),
        liveness=_probe(probes.get("liveness")),
        disruption=(
            Disruption(
                min_available=disruption.get("minAvailable"),
                max_unavailable=disruption.get("maxUnavailable"),
            )
            if isinstance(disruption, dict)
            else None
        ),
        route=_route(body.get("route"), _map(body.get("ports"))),
        ingress=_ingress(body.get("ingress"), _map(body.get("ports"))),
        variants=tuple(
            Variant(
                name=variant,
                weight=int(spec["weight"]),
                image=spec.get("image"),
                env=_env(spec.get("env")),
            )
            for variant, spec in sorted(_map(body.get("variants")).items())
        ),
    )


def _monitoring(value: Any) -> Monitoring | None:
    if not isinstance(value, dict):
        return None
    scrape = value.get("scrape")
    return Monitoring(
        scrape=(
            Scrape(
                port=str(scrape["port"]),
                path=scrape.get("path", "/metrics"),
                interval=scrape.get("interval", "30s"),
            )
            if isinstance(scrape, dict)
            else None
        ),
        alerts=tuple(
            Alert(
                name=alert["name"],
                expr=alert["expr"],
                severity=Severity(alert.get("severity", "warning")),
                for_=alert.get("for"),
                summary=alert.get("summary"),
            )
            for alert in value.get("alerts") or []
        ),
        dashboard=bool(value.get("dashboard", True)),
    )


def _optimize(value: Any) -> Optimize | None:
    if not isinstance(value, dict):
        return None
    right = value.get("rightsizing")
    exp = value.get("experiments")
    base_r, base_e = Rightsizing(), Experiments()
    return Optimize(
        rightsizing=(
            Rightsizing(
                enabled=bool(right.get("enabled", base_r.enabled)),
                window=right.get("window", base_r.window),
                cpu_percentile=float(right.get("cpuPercentile", base_r.cpu_percentile)),
                memory_buffer_percent=float(
                    right.get("memoryBufferPercent", base_r.memory_buffer_percent)
                ),
                min_change_percent=float(right.get("minChangePercent", base_r.min_change_percent)),
            )
            if isinstance(right, dict)
            else None
        ),
        experiments=(
            Experiments(
                metric=exp.get("metric", base_e.metric),
                confidence=float(exp.get("confidence", base_e.confidence)),
                min_samples=int(exp.get("minSamples", base_e.min_samples)),
            )
            if isinstance(exp, dict)
            else None
        ),
        retrain=tuple(
            Retrain(
                task=str(policy["task"]),
                query=str(policy["query"]),
                threshold=float(policy["threshold"]),
                direction=Direction(policy.get("direction", Direction.BELOW.value)),
                window=str(policy.get("window", "1d")),
            )
            for policy in value.get("retrain") or []
        ),
    )


def build_workflow(document: Mapping[str, Any], source: str) -> Workflow:
    """A :class:`Workflow` from a validated ``kind: Workflow`` document."""
    metadata = _map(document.get("metadata"))
    spec = _map(document.get("spec"))
    defaults = _map(spec.get("defaults"))
    return Workflow(
        name=str(metadata["name"]),
        source=source,
        labels=frozen_map({k: scalar_text(v) for k, v in _map(metadata.get("labels")).items()}),
        config=frozen_map({k: scalar_text(v) for k, v in _map(spec.get("config")).items()}),
        tasks=tuple(
            _task(name, body, defaults) for name, body in sorted(_map(spec.get("tasks")).items())
        ),
        services=tuple(
            _service(name, body, defaults)
            for name, body in sorted(_map(spec.get("services")).items())
        ),
        monitoring=_monitoring(spec.get("monitoring")),
        optimize=_optimize(spec.get("optimize")),
    )


def build_environment(document: Mapping[str, Any], source: str) -> Environment:
    """An :class:`Environment` from a validated ``kind: Environment`` document."""
    spec = _map(document.get("spec"))
    sync = _map(spec.get("sync"))
    base = SyncPolicy()
    workflows = spec.get("workflows")
    return Environment(
        name=str(_map(document.get("metadata"))["name"]),
        source=source,
        namespace=str(spec["namespace"]),
        branch=str(spec["branch"]),
        context=_map(spec.get("cluster")).get("context"),
        prometheus_url=_map(spec.get("prometheus")).get("url"),
        workflows=tuple(workflows) if isinstance(workflows, list) else None,
        images=frozen_map({k: str(v) for k, v in _map(spec.get("images")).items()}),
        labels=frozen_map({k: scalar_text(v) for k, v in _map(spec.get("labels")).items()}),
        resources=tuple(spec.get("resources") or ()),
        overrides=frozen_map({k: copy.deepcopy(v) for k, v in _map(spec.get("overrides")).items()}),
        sync=SyncPolicy(
            prune=bool(sync.get("prune", base.prune)),
            self_heal=bool(sync.get("selfHeal", base.self_heal)),
            interval=str(sync.get("interval", base.interval)),
            force=bool(sync.get("force", base.force)),
            ignore_differences=tuple(_ignore_difference(_map(entry)) for entry in sync.get("ignoreDifferences") or ()),
            allow_empty=bool(sync.get("allowEmpty", base.allow_empty)),
            max_prune_percent=int(sync.get("maxPrunePercent", base.max_prune_percent)),
            job_history=int(sync.get("jobHistory", base.job_history)),
        ),
    )


def _ignore_difference(entry: Mapping[str, Any]) -> IgnoreDifference:
    def text(key: str) -> str | None:
        return None if entry.get(key) is None else str(entry[key])

    return IgnoreDifference(
        kind=str(entry["kind"]),
        group=text("group"),
        name=text("name"),
        namespace=text("namespace"),
        json_pointers=tuple(str(p) for p in entry.get("jsonPointers") or ()),
        managers=tuple(str(m) for m in entry.get("managedFieldsManagers") or ()),
    )
