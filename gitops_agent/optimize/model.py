"""Domain values of the optimizer: what was fetched, what is recommended, and why."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from enum import StrEnum
from typing import Any

from gitops_agent.spec.model import frozen_map


class TargetKind(StrEnum):
    SERVICE = "service"
    TASK = "task"


class Status(StrEnum):
    """What became of one recommendation."""

    PROPOSE = "propose"
    BELOW_THRESHOLD = "below-threshold"
    NOT_ENOUGH_DATA = "not-enough-data"
    UNCHANGED = "unchanged"
    SKIPPED = "skipped"
    INCONCLUSIVE = "inconclusive"
    SAMPLE_RATIO_MISMATCH = "sample-ratio-mismatch"
    OOM_RISK = "oom-risk"


class Strategy(StrEnum):
    RIGHTSIZING = "rightsizing"
    REPLICAS = "replicas"
    EXPERIMENTS = "experiments"
    SWEEPS = "sweeps"
    RETRAIN = "retrain"


@dataclass(frozen=True)
class Target:
    """A task or service of a workflow; ``spec_path`` is where it sits under ``spec``."""

    workflow: str
    kind: TargetKind
    name: str

    @property
    def spec_path(self) -> tuple[str, str]:
        return ("services" if self.kind is TargetKind.SERVICE else "tasks", self.name)

    def __str__(self) -> str:
        return f"{self.workflow}/{self.kind.value}/{self.name}"


@dataclass(frozen=True)
class UsageHistory:
    """Usage of one target's main container over the window, aggregated over its pods.

    ``cpu_cores``: the highest per-pod percentile of the 5m CPU rate (cores);
    ``memory_peak``: the highest working set of any pod (bytes); ``points``: working-set
    samples summed over pods; ``oom_killed``: a pod's last termination was OOMKilled.
    """

    cpu_cores: float | None = None
    memory_peak: float | None = None
    points: int = 0
    pods: int = 0
    oom_killed: bool = False


@dataclass(frozen=True)
class LoadHistory:
    """Total CPU of a service's main Deployment (cores, summed over pods): peak, trough and
    mean (None when unknown)."""

    peak_cores: float
    trough_cores: float
    mean_cores: float | None = None


@dataclass(frozen=True)
class RequestLoad:
    """Total request rate of a service's main Deployment (requests per second, summed over
    pods, 5m rate): peak, trough (5th percentile) and mean over the window."""

    peak_rps: float
    trough_rps: float
    mean_rps: float


@dataclass(frozen=True)
class TrafficHistory:
    """Requests and 5xx responses of one Deployment over the window."""

    requests: float
    errors: float

    @property
    def error_rate(self) -> float:
        return self.errors / self.requests if self.requests > 0 else 0.0


@dataclass(frozen=True)
class LatencyHistory:
    """A Deployment's request-duration histogram over the window: cumulative counts per
    bucket upper bound ``le`` (seconds, ``inf`` last), as Prometheus histograms keep them."""

    buckets: tuple[tuple[float, float], ...]

    @property
    def total(self) -> float:
        return self.buckets[-1][1] if self.buckets else 0.0

    def slower_than(self, bound: float) -> float | None:
        """Requests slower than ``bound`` (None when the histogram has no such bucket)."""
        for le, count in self.buckets:
            if le == bound:
                return self.total - count
        return None


@dataclass(frozen=True)
class Evidence:
    """Where a number came from: the PromQL query, the window, and what it returned."""

    query: str
    window: str
    observed: str


REMOVE = "<remove>"
"""An :class:`Edit` value that deletes the key instead of setting it."""


EditValue = str | int | float | list[Any] | dict[str, Any]
"""A scalar, or a list/map of them (a sweep's trials), written as YAML."""


@dataclass(frozen=True)
class Edit:
    """One value to set (or remove) at ``path`` below the workflow's ``spec``."""

    path: tuple[str, ...]
    value: EditValue

    @property
    def removes(self) -> bool:
        return self.value == REMOVE


@dataclass(frozen=True)
class Recommendation:
    """One recommendation of one strategy for one field of one target."""

    strategy: Strategy
    target: Target
    field: str
    old: str | int | None
    new: str | int | None
    status: Status
    reason: str
    evidence: tuple[Evidence, ...] = ()
    edits: tuple[Edit, ...] = ()
    details: Mapping[str, float | str] = dataclass_field(default_factory=frozen_map)
    trials: tuple[Mapping[str, Any], ...] = ()
    """A sweep's trials (number, generation, parameters, objective), for ``-o json``."""

    @property
    def proposed(self) -> bool:
        return self.status is Status.PROPOSE
