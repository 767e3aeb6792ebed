"""Outlined workflow slices (the compiler's objects of a workflow equal at both revisions of a
plan, never built): they are what kustomize builds of the slice, identity for identity, and
the cross-slice checks with them are never laxer than with every slice built."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gitops_agent.compile import compile_environment, outline_workflow, workflow_inputs
from gitops_agent.compile.objects import identity
from gitops_agent.compile.slices import REST, Slice, cross_slice_problem, outline_problem
from gitops_agent.render.cache import RenderCache
from gitops_agent.render.overlay import BuiltSlices, build_slices, render_sliced
from gitops_agent.spec import load_specs
from gitops_agent.spec.model import SpecSet
from gitops_agent.vocabulary.objects import Manifest
from tests.support.gitrepos import ROOT, make_gitops_repo
from tests.unit.test_compile_property import environments, workflow_specs, write_repo


def obj(kind: str, name: str, *, api: str = "v1", namespace: str | None = "ns", **body: Any) -> Manifest:
    meta: dict[str, Any] = {"name": name}
    if namespace is not None:
        meta["namespace"] = namespace
    return {"apiVersion": api, "kind": kind, "metadata": meta, **body}


def built(name: str, patches: tuple[dict[str, Any], ...] = ()) -> Slice:
    return Slice(name, (), patches, (), key=name)


def webhook(service: str) -> Manifest:
    hook = {"name": "guard.example.com", "clientConfig": {"service": {"name": service, "namespace": "default"}}}
    return obj("ValidatingWebhookConfiguration", "guard", api="admissionregistration.k8s.io/v1", webhooks=[hook])


def binding(account: str) -> Manifest:
    subjects = [{"kind": "ServiceAccount", "name": account, "namespace": "ns"}]
    return obj("RoleBinding", "reader", api="rbac.authorization.k8s.io/v1", subjects=subjects)


REST_SLICE = built(REST)
WORKFLOW_SLICE = built("b", ({"path": "patches/b/cm.yaml", "target": {"kind": "ConfigMap", "name": "b.config"}},))


def test_disjoint_outlines_pass() -> None:
    outlines = {"a": [obj("ConfigMap", "a-config", namespace=None), obj("Service", "a-api", namespace=None)]}
    objects = [[obj("Namespace", "ns", namespace=None)], [obj("ConfigMap", "b-config")]]
    assert outline_problem([REST_SLICE, built("b")], objects, outlines) is None


@pytest.mark.parametrize(
    ("slices", "objects", "outlines", "problem"),
    [
        pytest.param(  # the built object has its namespace, the outlined one not yet: one identity
            [REST_SLICE],
            [[obj("ConfigMap", "a-config")]],
            {"a": [obj("ConfigMap", "a-config", namespace=None)]},
            "ConfigMap a-config is in two slices",
            id="built-and-outlined-identity",
        ),
        pytest.param(
            [REST_SLICE],
            [[]],
            {
                "a": [obj("CronJob", "a-x-nightly", api="batch/v1")],
                "a-x": [obj("CronJob", "a-x-nightly", api="batch/v1")],
            },
            "CronJob a-x-nightly is in two slices",
            id="two-outlined-identities",
        ),
        pytest.param(  # kustomize reads a target's name as a regular expression: b.config selects b-config
            [REST_SLICE, WORKFLOW_SLICE],
            [[], [obj("ConfigMap", "b.config")]],
            {"a": [obj("ConfigMap", "b-config", namespace=None)]},
            "the patch patches/b/cm.yaml selects objects of another slice",
            id="built-patch-selects-outlined",
        ),
        pytest.param(  # which outlined objects a compiled patch targets is not known: any of them
            [REST_SLICE, built("b")],
            [[], [obj("ConfigMap", "a-config")]],
            {"a": [obj("ConfigMap", "a.config", namespace=None)]},
            "the patch patches/a/* selects objects of another slice",
            id="outlined-patch-selects-built",
        ),
        pytest.param(
            [REST_SLICE],
            [[webhook("a-api")]],
            {"a": [obj("Service", "a-api", namespace=None)]},
            "ValidatingWebhookConfiguration guard names Service a-api of another slice",
            id="built-webhook-names-outlined-service",
        ),
        pytest.param(
            [REST_SLICE],
            [[obj("ServiceAccount", "runner")]],
            {"a": [binding("runner")]},
            "RoleBinding reader names ServiceAccount runner of another slice",
            id="outlined-binding-names-built-account",
        ),
    ],
)
def test_each_cross_slice_problem_with_an_outlined_slice_is_found(
    slices: list[Slice], objects: list[list[Manifest]], outlines: dict[str, list[Manifest]], problem: str
) -> None:
    assert outline_problem(slices, objects, outlines) == problem


def test_built_slices_keep_their_namespaced_identities() -> None:
    """Built slices alone are checked as before: one name in two namespaces is two objects."""
    objects = [[obj("ConfigMap", "shared", namespace="one")], [obj("ConfigMap", "shared", namespace="two")]]
    assert cross_slice_problem([REST_SLICE, built("b")], objects) is None


def sliced(specs: SpecSet, root: Path, env_name: str) -> BuiltSlices:
    tree = compile_environment(specs, specs.environments[env_name], source_commit=None, repo_root=root)
    result = build_slices(dict(tree), env_name, None)
    assert isinstance(result, BuiltSlices), result
    return result


def assert_outlines_are_the_built_slices(specs: SpecSet, root: Path) -> int:
    """Every workflow slice of every environment: its outline has the identities, in number and
    kind, of the objects kustomize builds of it. Returns how many slices were compared."""
    compared = 0
    for env_name, env in sorted(specs.environments.items()):
        result = sliced(specs, root, env_name)
        inputs = workflow_inputs(specs, env)
        for part, objects in zip(result.overlay.slices, result.objects, strict=True):
            if part.name == REST:
                continue
            outline = outline_workflow(inputs[part.name], env)
            assert sorted(identity(o) for o in outline) == sorted(identity(o) for o in objects), (env_name, part.name)
            assert len(outline) == len(objects)
            assert all(o["metadata"]["namespace"] == env.namespace for o in objects)
            compared += 1
    return compared


def test_the_examples_outlines_are_their_built_slices(tmp_path: Path) -> None:
    """Overrides (patches), deletions and added objects (an image pin renames Jobs), every kind
    the compiler makes in the examples: HTTPRoute, Ingress, PVCs, ServiceMonitor, sweeps."""
    repo = make_gitops_repo(tmp_path / "repo")
    for source in sorted((ROOT / "examples" / "workflows").glob("*.yaml")):
        (repo / "workflows" / source.name).write_text(source.read_text())
    for source in sorted((ROOT / "examples" / "environments").glob("*.yaml")):
        (repo / "environments" / source.name).write_text(source.read_text())
    prod = repo / "environments" / "prod.yaml"
    pin = "    registry.example.com/imgrec: 1.4.1\n"
    prod.write_text(prod.read_text().replace(pin, pin + '    registry.example.com/cs-agent: "2.4.0"\n'))
    assert assert_outlines_are_the_built_slices(load_specs(repo), repo) >= 12


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_random_workflows_outlines_are_their_built_slices(tmp_path_factory: Any, data: st.DataObject) -> None:
    workflow = data.draw(workflow_specs(), label="workflow")
    env = data.draw(environments(workflow), label="environment")
    root = tmp_path_factory.mktemp("outline")
    write_repo(root, workflow, env)
    assert assert_outlines_are_the_built_slices(load_specs(root), root) == 1


def test_a_slice_that_builds_to_no_object_is_served_from_the_cache(tmp_path: Path) -> None:
    """An empty slice is an entry like any other (it was once taken for a missing one)."""
    config_map = b"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n"
    kustomization = "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n- configmap-x.yaml\n"
    overlay = {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "namespace": "ns",
        "resources": ["namespace.yaml", "../../base/w"],
        "patches": [{"path": "patches/w/delete-configmap-x.yaml"}],
    }
    tree = {
        "base/w/kustomization.yaml": kustomization.encode(),
        "base/w/configmap-x.yaml": config_map,
        "overlays/e/kustomization.yaml": json.dumps(overlay).encode(),
        "overlays/e/namespace.yaml": b"apiVersion: v1\nkind: Namespace\nmetadata: {name: ns}\n",
        "overlays/e/patches/w/delete-configmap-x.yaml": config_map + b"$patch: delete\n",
    }
    cache = RenderCache(tmp_path / "cache")
    first = build_slices(tree, "e", cache)
    assert isinstance(first, BuiltSlices) and [part.name for part in first.overlay.slices] == [REST, "w"]
    assert first.objects[1] == []
    again = build_slices(tree, "e", cache)
    assert isinstance(again, BuiltSlices) and again.objects == first.objects
    assert render_sliced(tree, "e", cache) == [obj("Namespace", "ns", namespace=None)]
