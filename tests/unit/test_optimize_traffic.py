"""A/B verdicts edit the spec the same way whether a service's traffic is split by an
HTTPRoute (Gateway API backendRef weights) or by Ingresses (ingress-nginx canary weight):
the proposal written into the workflow file, compiled again, sends every request to the
winner through one backend, and the per-variant objects are gone. An environment can also
switch a service from one kind of route to the other and keep the split."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from gitops_agent.compile import compile_environment
from gitops_agent.optimize.experiments import recommend_variant
from gitops_agent.optimize.model import Target, TargetKind, TrafficHistory
from gitops_agent.optimize.proposal import apply_edits, plan_files
from gitops_agent.render.overlay import render_files
from gitops_agent.spec import load_specs
from gitops_agent.spec.model import Experiments
from gitops_agent.vocabulary.yaml import load_all

WORKFLOW = """\
apiVersion: gitops-agent.io/v1alpha1
kind: Workflow
metadata: {name: shop}
spec:
  services:
    api:
      image: app:1
      ports: {http: 8080}
      EXPOSURE
      variants:
        candidate: {image: app:2, weight: 20}
"""
ENVIRONMENT = """\
apiVersion: gitops-agent.io/v1alpha1
kind: Environment
metadata: {name: prod}
spec: {namespace: shop, branch: env/prod}
"""
EXPOSURES = {"route": "route: {gateway: gw, path: /api}", "ingress": "ingress: {className: nginx, path: /api}"}
POLICY = Experiments(metric="errorRate", confidence=0.95, min_samples=1000)
MAIN, WINNER, LOSER = TrafficHistory(48_000, 960), TrafficHistory(12_000, 24), TrafficHistory(12_000, 600)


def _repo(root: Path, exposure: str) -> Path:
    (root / "workflows").mkdir(parents=True)
    (root / "environments").mkdir()
    (root / "workflows" / "shop.yaml").write_text(WORKFLOW.replace("EXPOSURE", EXPOSURES[exposure]))
    (root / "environments" / "prod.yaml").write_text(ENVIRONMENT)
    return root


def _objects(root: Path) -> list[dict[str, Any]]:
    specs = load_specs(root)
    tree = compile_environment(specs, specs.environments["prod"], source_commit=None, repo_root=root)
    return [
        load_all(content)[0]
        for path, content in sorted(tree.items())
        if path.startswith("base/shop/") and "kustomization" not in path
    ]


def _traffic(objects: list[dict[str, Any]]) -> dict[str, int]:
    """Backend Service → percentage of requests, read from the HTTPRoute (backendRef weights)
    or the Ingresses (a canary's canary-weight; the main Ingress gets the rest)."""
    split: dict[str, int | None] = {}
    for obj in objects:
        if obj["kind"] == "HTTPRoute":
            for ref in obj["spec"]["rules"][0]["backendRefs"]:
                split[ref["name"]] = ref.get("weight")
        elif obj["kind"] == "Ingress":
            backend = obj["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]["name"]
            weight = obj["metadata"].get("annotations", {}).get("nginx.ingress.kubernetes.io/canary-weight")
            split[backend] = None if weight is None else int(weight)
    rest = 100 - sum(weight for weight in split.values() if weight is not None)
    return {name: rest if weight is None else weight for name, weight in split.items()}


def _promote(root: Path, candidate: TrafficHistory) -> None:
    specs = load_specs(root)
    env = specs.environments["prod"]
    service = specs.workflows["shop"].services[0]
    rec = recommend_variant(
        Target("shop", TargetKind.SERVICE, "api"), service, service.variants[0], MAIN, candidate, POLICY
    )
    files = {"workflows/shop.yaml": (root / "workflows" / "shop.yaml").read_bytes()}
    for path, content in apply_edits(files, plan_files(specs, env, [rec])).items():
        (root / path).write_bytes(content)


@pytest.mark.parametrize("exposure", sorted(EXPOSURES))
def test_a_winning_variant_gets_every_request_through_either_kind_of_route(tmp_path: Path, exposure: str) -> None:
    root = _repo(tmp_path, exposure)
    assert _traffic(_objects(root)) == {"api-main": 80, "api-candidate": 20}
    _promote(root, WINNER)
    objects = _objects(root)
    assert _traffic(objects) == {"api": 100}
    assert sorted((o["kind"], o["metadata"]["name"]) for o in objects if o["kind"] in ("Service", "Deployment")) == [
        ("Deployment", "api"),
        ("Service", "api"),
    ]
    (deployment,) = [o for o in objects if o["kind"] == "Deployment"]
    assert deployment["spec"]["template"]["spec"]["containers"][0]["image"] == "app:2"


@pytest.mark.parametrize("exposure", sorted(EXPOSURES))
def test_a_losing_variant_is_removed_from_either_kind_of_route(tmp_path: Path, exposure: str) -> None:
    root = _repo(tmp_path, exposure)
    _promote(root, LOSER)
    objects = _objects(root)
    assert _traffic(objects) == {"api": 100}
    (deployment,) = [o for o in objects if o["kind"] == "Deployment"]
    assert deployment["spec"]["template"]["spec"]["containers"][0]["image"] == "app:1"


def test_an_environment_without_the_gateway_api_switches_the_route_to_an_ingress(tmp_path: Path) -> None:
    """``route: null`` plus an ``ingress`` in one environment's overrides: that environment
    gets the Ingresses (a canary for the variant) and no HTTPRoute, with the same 80/20 split."""
    root = _repo(tmp_path, "route")
    switch = "  overrides:\n    shop:\n      services:\n        api: {route: null, ingress: {className: nginx}}\n"
    (root / "environments" / "prod.yaml").write_text(
        ENVIRONMENT.replace(
            "spec: {namespace: shop, branch: env/prod}\n", "spec:\n  namespace: shop\n  branch: env/prod\n"
        )
        + switch
    )
    specs = load_specs(root)
    tree = compile_environment(specs, specs.environments["prod"], source_commit=None, repo_root=root)
    objects = render_files(dict(tree), "prod")
    assert not [o for o in objects if o["kind"] == "HTTPRoute"]
    assert _traffic(objects) == {"api-main": 80, "api-candidate": 20}
    for obj in objects:
        if obj["kind"] == "Ingress":
            assert obj["spec"]["ingressClassName"] == "nginx" and obj["metadata"]["namespace"] == "shop"
