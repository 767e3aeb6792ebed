"""/metrics through prometheus_client: every documented metric with its type and labels,
nothing recorded that is not exposed, label values escaped, content negotiation."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from gitops_agent.reconcile.metrics import METRICS, Metrics

ROOT = Path(__file__).resolve().parents[2]
RECORDING = re.compile(r"metrics\.(?:add|set|observe)\(\s*\"(gitops_agent_\w+)\"")


def test_every_declared_metric_is_documented_and_exposed_with_its_type() -> None:
    docs = (ROOT / "docs" / "reconcile.md").read_text()
    metrics = Metrics()
    families = {f.name: f for f in text_string_to_metric_families(metrics.render())}
    for name, spec in METRICS.items():
        assert f"`{name}" in docs, f"{name} is not documented in docs/reconcile.md"
        family = name.removesuffix("_total") if spec.kind == "counter" else name
        assert families[family].type == spec.kind


def test_every_metric_the_code_records_is_declared() -> None:
    """The old hand-written format dropped names it had no help for (gitops_agent_leader)."""
    recorded = set()
    for path in (ROOT / "gitops_agent").rglob("*.py"):
        recorded |= set(RECORDING.findall(path.read_text()))
    assert "gitops_agent_leader" in recorded
    assert recorded <= set(METRICS), recorded - set(METRICS)
    metrics = Metrics()
    metrics.set("gitops_agent_leader", 1.0)
    assert "gitops_agent_leader 1.0\n" in metrics.render()


def test_undeclared_names_and_labels_are_refused() -> None:
    metrics = Metrics()
    with pytest.raises(KeyError):
        metrics.add("gitops_agent_made_up_total", environment="dev")
    with pytest.raises(ValueError):
        metrics.add("gitops_agent_syncs_total", environment="dev")  # result missing
    with pytest.raises(KeyError):
        metrics.add("gitops_agent_sync_duration_seconds", 1.0, environment="dev")
    with pytest.raises(KeyError):
        metrics.set("gitops_agent_syncs_total", 1.0, environment="dev", result="success")


def test_values_accumulate_and_label_values_are_escaped() -> None:
    metrics = Metrics()
    odd = 'a"b\\c\nd'
    metrics.add("gitops_agent_drift_found_total", 2, environment=odd)
    metrics.add("gitops_agent_drift_found_total", 3, environment=odd)
    metrics.observe("gitops_agent_sync_duration_seconds", 0.25, environment="dev")
    metrics.observe("gitops_agent_sync_duration_seconds", 0.5, environment="dev")
    assert metrics.value("gitops_agent_drift_found_total", environment=odd) == 5
    assert metrics.value("gitops_agent_sync_duration_seconds_count", environment="dev") == 2
    assert metrics.value("gitops_agent_sync_duration_seconds_sum", environment="dev") == 0.75
    assert metrics.value("gitops_agent_drift_fixed_total", environment="dev") == 0
    text = metrics.render()
    assert 'gitops_agent_drift_found_total{environment="a\\"b\\\\c\\nd"} 5.0' in text
    parsed = {s.labels.get("environment"): s.value for f in text_string_to_metric_families(text)
              for s in f.samples if s.name == "gitops_agent_drift_found_total"}
    assert parsed == {odd: 5.0}


def test_openmetrics_when_the_scraper_asks_for_it() -> None:
    metrics = Metrics()
    metrics.add("gitops_agent_syncs_total", environment="dev", result="error")
    body, content_type = metrics.exposition("application/openmetrics-text; version=1.0.0")
    assert content_type.startswith("application/openmetrics-text")
    assert body.decode().endswith("# EOF\n")
    body, content_type = metrics.exposition("")
    assert content_type == "text/plain; version=0.0.4; charset=utf-8"
    assert b"# EOF" not in body
