"""Typed, validated model of workflows and environments (the output of the spec loader).

Every value here has already passed the JSON Schema and the semantic checks, and
``defaults`` have been resolved into each task and service. Quantities, durations and
cron expressions are kept as the user wrote them (strings); durations also as seconds.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType
from typing import Any


def frozen_map(values: Mapping[str, Any] | None = None) -> Mapping[str, Any]:
    """A read-only, key-sorted mapping (deterministic iteration order)."""
    return MappingProxyType(dict(sorted((values or {}).items())))


@dataclass(frozen=True)
class Resources:
    """Requests (``cpu``, ``memory``), a GPU count and optional explicit limits.

    ``gpu_product`` and ``gpu_short_form`` come from the short form ``gpu: {count, product}``,
    which also places the pod (see :class:`Scheduling`); ``gpu: N`` sets the limit only.
    """

    cpu: str | None = None
    memory: str | None = None
    gpu: int | None = None
    limits: Mapping[str, str] = field(default_factory=frozen_map)
    gpu_product: str | None = None
    gpu_short_form: bool = False


@dataclass(frozen=True)
class Toleration:
    """A Kubernetes Toleration; ``None`` fields are left out of the pod spec."""

    key: str | None = None
    operator: str | None = None
    value: str | None = None
    effect: str | None = None
    toleration_seconds: int | None = None


@dataclass(frozen=True)
class Scheduling:
    """Where pods may run: pod spec ``nodeSelector``, ``tolerations``, ``affinity``
    (kept as written, a Kubernetes Affinity), ``priorityClassName``, ``runtimeClassName``."""

    node_selector: Mapping[str, str] = field(default_factory=frozen_map)
    tolerations: tuple[Toleration, ...] = ()
    affinity: Mapping[str, Any] | None = None
    priority_class: str | None = None
    runtime_class: str | None = None


class VolumeKind(StrEnum):
    CLAIM = "claim"
    EXISTING_CLAIM = "existingClaim"
    EMPTY_DIR = "emptyDir"
    CONFIG_MAP = "configMap"
    SECRET = "secret"


@dataclass(frozen=True)
class Claim:
    """A PersistentVolumeClaim the workflow creates; ``size`` a quantity of bytes."""

    size: str
    storage_class: str | None = None
    access_modes: tuple[str, ...] = ("ReadWriteOnce",)
    prune: bool = False


@dataclass(frozen=True)
class Volume:
    """A volume and where it is mounted. ``reference`` names the existing claim, ConfigMap
    or Secret; ``claim`` describes a claim the workflow creates; ``medium``/``size_limit``
    an emptyDir."""

    name: str
    kind: VolumeKind
    mount_path: str
    read_only: bool = False
    sub_path: str | None = None
    reference: str | None = None
    claim: Claim | None = None
    medium: str | None = None
    size_limit: str | None = None


class EnvFromKind(StrEnum):
    SECRET = "secret"
    CONFIG_MAP = "configMap"


@dataclass(frozen=True)
class EnvFrom:
    """A reference to a Secret or ConfigMap whose keys become environment variables."""

    kind: EnvFromKind
    name: str


@dataclass(frozen=True)
class SecretKeyRef:
    """``env: {NAME: {secretRef: {name: s, key: k}}}``: one variable from one Secret key."""

    name: str
    key: str


@dataclass(frozen=True)
class Probe:
    """An HTTP GET probe (``path`` + ``port``, a port name or number) or an exec probe."""

    path: str | None = None
    port: str | int | None = None
    command: tuple[str, ...] = ()
    initial_delay_seconds: int | None = None
    period_seconds: int | None = None


@dataclass(frozen=True)
class Container:
    """What tasks and services share: the container they run, defaults already applied."""

    image: str
    command: tuple[str, ...] = ()
    args: tuple[str, ...] = ()
    env: Mapping[str, str | SecretKeyRef] = field(default_factory=frozen_map)
    env_from: tuple[EnvFrom, ...] = ()
    resources: Resources = field(default_factory=Resources)
    service_account: str | None = None
    scheduling: Scheduling = field(default_factory=Scheduling)
    volumes: tuple[Volume, ...] = ()


ParameterValue = str | int | float | bool
"""A value of a sweep parameter, as YAML gives it."""


@dataclass(frozen=True)
class SweepParameter:
    """One dimension of a search space (Katib's ``feasibleSpace``): categorical ``values``,
    or a range ``low``…``high`` (inclusive) of ``kind`` ``int``/``float`` on a ``linear`` or
    ``log`` ``scale``, with grid ``step``."""

    name: str
    values: tuple[ParameterValue, ...] = ()
    kind: str | None = None
    low: float | None = None
    high: float | None = None
    scale: str = "linear"
    step: float | None = None

    @property
    def categorical(self) -> bool:
        return self.kind is None


@dataclass(frozen=True)
class Trial:
    """One trial of a sweep: ``number`` is its position in ``sweep.trials`` (from 0), the
    value of the ``trial`` label its objective carries; ``objective`` once recorded;
    ``failed`` when the trial exported no finite objective (NaN, ±Inf)."""

    number: int
    generation: int
    parameters: Mapping[str, ParameterValue]
    objective: float | None = None
    failed: bool = False

    @property
    def finished(self) -> bool:
        return self.objective is not None or self.failed


@dataclass(frozen=True)
class Sweep:
    """A hyperparameter sweep on a task (Katib's experiment; see docs/optimize.md)."""

    parameters: tuple[SweepParameter, ...]
    metric: str
    goal: str
    max_trials: int
    training_task: str
    algorithm: str = "random"
    seed: int = 0
    parallel_trials: int = 1
    trials: tuple[Trial, ...] = ()

    @property
    def maximize(self) -> bool:
        return self.goal == "maximize"


@dataclass(frozen=True)
class Task:
    """A run-to-completion step: a Job in the DAG, or a CronJob when ``schedule`` is set."""

    name: str
    container: Container
    depends_on: tuple[str, ...] = ()
    retries: int | None = None
    timeout: str | None = None
    timeout_seconds: int | None = None
    schedule: str | None = None
    queue: str | None = None
    parallelism: int | None = None
    completions: int | None = None
    completion_mode: str | None = None
    backoff_limit_per_index: int | None = None
    max_failed_indexes: int | None = None
    sweep: Sweep | None = None
    run_id: str | None = None
    """``runId``: stamped on the pod template, so a new value is a new Job (a new run)."""

    @property
    def scheduled(self) -> bool:
        return self.schedule is not None


@dataclass(frozen=True)
class HpaMetric:
    """An autoscaling/v2 ``Pods``, ``External`` or ``Object`` metric (``kind``) and its
    target: ``value`` (total) or ``average_value`` (per pod), Kubernetes quantities."""

    kind: str
    metric: str
    selector: Mapping[str, str] = field(default_factory=frozen_map)
    value: str | None = None
    average_value: str | None = None
    described_object: Mapping[str, str] | None = None


@dataclass(frozen=True)
class ScalingPolicy:
    """At most ``value`` pods (``Pods``) or percent (``Percent``) per ``period_seconds``."""

    type: str
    value: int
    period_seconds: int


@dataclass(frozen=True)
class ScalingRules:
    """autoscaling/v2 HPAScalingRules for one direction; times in seconds."""

    stabilization_seconds: int | None = None
    select_policy: str | None = None
    policies: tuple[ScalingPolicy, ...] = ()


@dataclass(frozen=True)
class Autoscale:
    """HPA bounds and target; ``cpu_utilization`` and ``memory_utilization`` in percent;
    further ``metrics`` and the scaling ``behavior`` (``scale_up``/``scale_down``)."""

    min: int
    max: int
    cpu_utilization: int | None = None
    memory_utilization: int | None = None
    metrics: tuple[HpaMetric, ...] = ()
    scale_up: ScalingRules | None = None
    scale_down: ScalingRules | None = None


@dataclass(frozen=True)
class Disruption:
    """PodDisruptionBudget: exactly one of ``min_available`` / ``max_unavailable``."""

    min_available: int | str | None = None
    max_unavailable: int | str | None = None


@dataclass(frozen=True)
class Variant:
    """An A/B variant: an extra Deployment behind the service's Service.

    ``weight`` is the percentage of the service's replicas this variant gets and, with a
    route or an ingress, of its requests.
    """

    name: str
    weight: int
    image: str | None = None
    env: Mapping[str, str | SecretKeyRef] = field(default_factory=frozen_map)


@dataclass(frozen=True)
class Route:
    """A Gateway API HTTPRoute for a service: the Gateway it attaches to, host names, a path
    prefix and the port name requests go to."""

    gateway: str
    port: str
    gateway_namespace: str | None = None
    section_name: str | None = None
    hostnames: tuple[str, ...] = ()
    path: str = "/"


@dataclass(frozen=True)
class Ingress:
    """A ``networking.k8s.io/v1`` Ingress for a service: the IngressClass, host names (one
    rule each; none: any host), a path prefix, the port name requests go to, the Secret
    holding the TLS certificate (a reference, never its value) and annotations for the
    ingress controller."""

    port: str
    class_name: str | None = None
    hosts: tuple[str, ...] = ()
    path: str = "/"
    tls_secret: str | None = None
    annotations: Mapping[str, str] = field(default_factory=frozen_map)


@dataclass(frozen=True)
class Service:
    """A long-running model server: Deployment + Service (+ HPA, PDB, variants)."""

    name: str
    container: Container
    depends_on: tuple[str, ...] = ()
    ports: Mapping[str, int] = field(default_factory=frozen_map)
    replicas: int | None = None
    autoscale: Autoscale | None = None
    readiness: Probe | None = None
    liveness: Probe | None = None
    disruption: Disruption | None = None
    variants: tuple[Variant, ...] = ()
    route: Route | None = None
    ingress: Ingress | None = None


@dataclass(frozen=True)
class Scrape:
    port: str
    path: str = "/metrics"
    interval: str = "30s"


class Severity(StrEnum):
    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"


@dataclass(frozen=True)
class Alert:
    name: str
    expr: str
    severity: Severity = Severity.WARNING
    for_: str | None = None
    summary: str | None = None


@dataclass(frozen=True)
class Monitoring:
    scrape: Scrape | None = None
    alerts: tuple[Alert, ...] = ()
    dashboard: bool = True


@dataclass(frozen=True)
class Rightsizing:
    enabled: bool = True
    window: str = "7d"
    cpu_percentile: float = 95.0
    memory_buffer_percent: float = 15.0
    min_change_percent: float = 10.0


@dataclass(frozen=True)
class Experiments:
    metric: str = "errorRate"
    confidence: float = 0.95
    min_samples: int = 1000


class Direction(StrEnum):
    """Which side of a retrain threshold is a breach."""

    BELOW = "below"
    ABOVE = "above"


@dataclass(frozen=True)
class Retrain:
    """Retraining on model decay: run ``task`` again when the mean of ``query`` over
    ``window`` is below (or above) ``threshold``."""

    task: str
    query: str
    threshold: float
    direction: Direction = Direction.BELOW
    window: str = "1d"


@dataclass(frozen=True)
class Optimize:
    rightsizing: Rightsizing | None = None
    experiments: Experiments | None = None
    retrain: tuple[Retrain, ...] = ()


@dataclass(frozen=True)
class Workflow:
    """One ``kind: Workflow`` file, validated, with defaults resolved."""

    name: str
    source: str
    labels: Mapping[str, str] = field(default_factory=frozen_map)
    config: Mapping[str, str] = field(default_factory=frozen_map)
    tasks: tuple[Task, ...] = ()
    services: tuple[Service, ...] = ()
    monitoring: Monitoring | None = None
    optimize: Optimize | None = None

    def task(self, name: str) -> Task:
        return next(t for t in self.tasks if t.name == name)

    def service(self, name: str) -> Service:
        return next(s for s in self.services if s.name == name)


@dataclass(frozen=True)
class IgnoreDifference:
    """One ``sync.ignoreDifferences`` entry: fields of matching objects git does not enforce."""

    kind: str
    group: str | None = None
    name: str | None = None
    namespace: str | None = None
    json_pointers: tuple[str, ...] = ()
    managers: tuple[str, ...] = ()


@dataclass(frozen=True)
class SyncPolicy:
    """How the reconciler treats an environment (see the schema for each field)."""

    prune: bool = False
    self_heal: bool = False
    interval: str = "1m"
    force: bool = True
    ignore_differences: tuple[IgnoreDifference, ...] = ()
    allow_empty: bool = False
    max_prune_percent: int = 50
    job_history: int = 2


@dataclass(frozen=True)
class Environment:
    """One ``kind: Environment`` file, validated."""

    name: str
    source: str
    namespace: str
    branch: str
    context: str | None = None
    prometheus_url: str | None = None
    workflows: tuple[str, ...] | None = None
    images: Mapping[str, str] = field(default_factory=frozen_map)
    labels: Mapping[str, str] = field(default_factory=frozen_map)
    resources: tuple[str, ...] = ()
    overrides: Mapping[str, Mapping[str, Any]] = field(default_factory=frozen_map)
    sync: SyncPolicy = field(default_factory=SyncPolicy)

    def selects(self, workflow: str) -> bool:
        return self.workflows is None or workflow in self.workflows


@dataclass(frozen=True)
class SpecSet:
    """Everything loaded from one GitOps repository.

    ``raw_workflows`` keeps each workflow's plain ``spec`` dict (for applying environment
    ``overrides``, which are merged by name onto the raw spec and then validated again).
    """

    workflows: Mapping[str, Workflow]
    environments: Mapping[str, Environment]
    raw_workflows: Mapping[str, Mapping[str, Any]] = field(default_factory=frozen_map)
