"""Health of the traffic and storage objects a workflow creates: HTTPRoutes by their parents'
Accepted/ResolvedRefs conditions, Ingresses by a published address, claims by their phase."""

from __future__ import annotations

from typing import Any

import pytest

from gitops_agent.reconcile.health import HealthStatus, health_of


def route(*parents: dict[str, Any], generation: int = 2) -> dict[str, Any]:
    return {"metadata": {"name": "chat", "generation": generation}, "status": {"parents": list(parents)}}


def parent(accepted: str = "True", resolved: str = "True", observed: int = 2, message: str = "") -> dict[str, Any]:
    conditions = [
        {"type": "Accepted", "status": accepted, "observedGeneration": observed, "reason": "R", "message": message},
        {"type": "ResolvedRefs", "status": resolved, "observedGeneration": observed, "reason": "BackendNotFound"},
    ]
    return {"parentRef": {"name": "inference"}, "controllerName": "example.com/gw", "conditions": conditions}


def status(group: str, kind: str, obj: dict[str, Any]) -> tuple[HealthStatus, str]:
    health = health_of(group, kind, obj)
    return health.status, health.message


GW = "gateway.networking.k8s.io"


def test_a_route_accepted_with_resolved_backends_is_healthy() -> None:
    assert status(GW, "HTTPRoute", route(parent(), parent()))[0] is HealthStatus.HEALTHY


def test_a_route_a_gateway_rejects_or_whose_backend_is_missing_is_degraded() -> None:
    rejected = status(GW, "HTTPRoute", route(parent(), parent(accepted="False", message="namespace not allowed")))
    assert rejected == (HealthStatus.DEGRADED, "Gateway inference: Accepted is False: namespace not allowed")
    unresolved = status(GW, "HTTPRoute", route(parent(resolved="False")))
    assert unresolved == (HealthStatus.DEGRADED, "Gateway inference: ResolvedRefs is False: BackendNotFound")


def test_a_route_reported_on_an_older_spec_is_progressing_and_one_without_report_unknown() -> None:
    assert status(GW, "HTTPRoute", route(parent(observed=1)))[0] is HealthStatus.PROGRESSING
    incomplete = route({"parentRef": {"name": "inference"}, "conditions": []})
    assert status(GW, "HTTPRoute", incomplete)[0] is HealthStatus.PROGRESSING
    assert status(GW, "HTTPRoute", {"metadata": {"name": "chat"}}) == (
        HealthStatus.UNKNOWN,
        "no Gateway has reported on the route yet",
    )


def test_an_ingress_is_healthy_once_it_has_an_address() -> None:
    published = {"status": {"loadBalancer": {"ingress": [{"ip": "10.0.0.7"}]}}}
    assert status("networking.k8s.io", "Ingress", published)[0] is HealthStatus.HEALTHY
    assert status("networking.k8s.io", "Ingress", {"status": {"loadBalancer": {}}})[0] is HealthStatus.UNKNOWN


@pytest.mark.parametrize(
    ("phase", "expected"),
    [("Bound", HealthStatus.HEALTHY), ("Lost", HealthStatus.DEGRADED), ("Pending", HealthStatus.UNKNOWN)],
)
def test_a_claim_by_its_phase(phase: str, expected: HealthStatus) -> None:
    assert status("", "PersistentVolumeClaim", {"status": {"phase": phase}})[0] is expected
