"""The reconcile loop's metrics, kept and exposed by ``prometheus_client``.

Every metric is declared here with its type, help and label names (the list documented in
docs/reconcile.md); recording a name or label set that is not declared raises, so nothing is
counted that ``/metrics`` would not show. ``_created`` series are switched off: the classic
text format carries them as extra gauge series per label set, which doubles the series count
and adds nothing the documented metrics need (a counter reset is visible without them).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Gauge, Summary, disable_created_metrics
from prometheus_client.exposition import choose_encoder

disable_created_metrics()  # type: ignore[no-untyped-call]


@dataclass(frozen=True)
class MetricSpec:
    kind: str
    """``counter``, ``gauge`` or ``summary`` (Prometheus metric types)."""
    help: str
    labels: tuple[str, ...]


ENV = ("environment",)
METRICS: Mapping[str, MetricSpec] = {
    "gitops_agent_syncs_total": MetricSpec("counter", "Sync attempts by result.", ("environment", "result")),
    "gitops_agent_drift_found_total": MetricSpec("counter", "Objects found different from git.", ENV),
    "gitops_agent_drift_fixed_total": MetricSpec("counter", "Drifted objects made equal to git again.", ENV),
    "gitops_agent_apply_errors_total": MetricSpec("counter", "Objects the API server refused.", ENV),
    "gitops_agent_reconcile_errors_total": MetricSpec(
        "counter", "Rounds that failed, by source.", ("environment", "source")
    ),
    "gitops_agent_sync_duration_seconds": MetricSpec("summary", "Duration of reconcile rounds.", ENV),
    "gitops_agent_last_success_timestamp_seconds": MetricSpec(
        "gauge", "Unix time of the last successful round.", ENV
    ),
    "gitops_agent_drifted_objects": MetricSpec("gauge", "Objects that differ from git after the last round.", ENV),
    "gitops_agent_leader": MetricSpec("gauge", "1 while this replica holds the leader Lease.", ()),
}

_TYPES = {"counter": Counter, "gauge": Gauge, "summary": Summary}


class Metrics:
    """The declared metrics in a registry of their own (one per loop; tests get fresh ones).

    ``add``/``set``/``observe`` raise ``KeyError`` for an undeclared name, ``ValueError`` for
    labels other than the declared ones or for a negative counter increment.
    """

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self._metrics = {
            name: _TYPES[spec.kind](name, spec.help, spec.labels, registry=self.registry)
            for name, spec in METRICS.items()
        }

    def _child(self, name: str, labels: Mapping[str, str]) -> Counter | Gauge | Summary:
        metric = self._metrics[name]
        child: Counter | Gauge | Summary = metric.labels(**labels) if labels else metric
        return child

    def add(self, name: str, value: float = 1.0, **labels: str) -> None:
        """Increase a counter or gauge by ``value``."""
        child = self._child(name, labels)
        if isinstance(child, Summary):
            raise KeyError(f"{name} is a summary: use observe")
        child.inc(value)

    def set(self, name: str, value: float, **labels: str) -> None:
        """Set a gauge."""
        child = self._child(name, labels)
        if not isinstance(child, Gauge):
            raise KeyError(f"{name} is not a gauge")
        child.set(value)

    def observe(self, name: str, value: float, **labels: str) -> None:
        """Record one observation of a summary (e.g. a round's duration in seconds)."""
        child = self._child(name, labels)
        if not isinstance(child, Summary):
            raise KeyError(f"{name} is not a summary")
        child.observe(value)

    def value(self, name: str, **labels: str) -> float:
        """A sample's value by its exposed name (``…_total``, ``…_sum``, ``…_count``); 0 when absent."""
        found = self.registry.get_sample_value(name, dict(labels))
        return 0.0 if found is None else float(found)

    def exposition(self, accept: str = "") -> tuple[bytes, str]:
        """The body and content type for a scrape: OpenMetrics when the ``Accept`` header asks
        for it, else the Prometheus text format 0.0.4 (negotiated by ``prometheus_client``)."""
        encode, content_type = choose_encoder(accept)
        return encode(self.registry), content_type

    def render(self) -> str:
        """The Prometheus text format (0.0.4)."""
        return self.exposition()[0].decode()
