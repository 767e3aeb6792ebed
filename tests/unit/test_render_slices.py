"""Rendering an overlay one workflow slice at a time gives kustomize's own output of the whole
overlay, byte for byte, and builds again only the slices a commit changed (real kustomize)."""

from __future__ import annotations

import json
import logging
import shutil
import subprocess
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gitops_agent.adapters.kustomize import kubectl_path
from gitops_agent.compile import compile_environment
from gitops_agent.compile.slices import (
    REST,
    SlicedOverlay,
    boundary_object,
    legacy_order,
    plan_slices,
    split_at_boundaries,
)
from gitops_agent.errors import KustomizeError
from gitops_agent.render import overlay as render_module
from gitops_agent.render.cache import RenderCache
from gitops_agent.render.overlay import read_kustomize_output, render_sliced
from gitops_agent.spec import load_specs
from gitops_agent.vocabulary.yaml import dump, load_all
from tests.support.gitrepos import make_gitops_repo
from tests.unit.test_compile_property import environments, workflow_specs, write_repo

REALWORLD = Path("/work/shared/realworld")
Tree = dict[str, bytes]


def _write(tree: Mapping[str, bytes], root: Path) -> None:
    for path, content in tree.items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_bytes(content)


def kustomize(tree: Mapping[str, bytes], env: str, tmp: Path) -> bytes:
    """``kubectl kustomize overlays/<env>`` of ``tree``: its exact output."""
    root = tmp / f"whole-{len(list(tmp.iterdir()))}"
    _write(tree, root)
    proc = subprocess.run([kubectl_path(), "kustomize", str(root / "overlays" / env)], capture_output=True, check=False)
    assert proc.returncode == 0, proc.stderr.decode()
    return proc.stdout


def documents(output: bytes) -> list[bytes]:
    """kustomize's output split into its documents (it separates them with ``---`` lines)."""
    return [doc if doc.endswith(b"\n") else doc + b"\n" for doc in output.split(b"\n---\n")]


def sliced_bytes(tree: Mapping[str, bytes], plan: SlicedOverlay, tmp: Path) -> bytes:
    """Every slice built in one kustomize process (FIFO, boundaries), its documents put in
    kustomize's legacy order: the text the whole build would print."""
    batch = {path: tree[path] for part in plan.slices for path in part.files}
    batch.update(plan.batch(plan.slices))
    output = kustomize(batch, plan.overlay.removeprefix("overlays/"), tmp)
    docs = documents(output)
    objects = read_kustomize_output(output, "batch")
    assert len(docs) == len(objects)
    parts = split_at_boundaries(objects, len(plan.slices))
    assert parts is not None
    text = {id(obj): doc for obj, doc in zip(objects, docs, strict=True)}
    ordered = legacy_order(obj for part in parts for obj in part)
    return b"---\n".join(text[id(obj)] for obj in ordered)


def compiled_trees(repo: Path) -> dict[str, Tree]:
    specs = load_specs(repo)
    return {
        name: dict(compile_environment(specs, env, source_commit=None, repo_root=repo))
        for name, env in sorted(specs.environments.items())
    }


@pytest.fixture(scope="module")
def example_trees(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Tree]:
    """The examples compiled; prod also pins an image through kustomize's ``images:``."""
    repo = make_gitops_repo(tmp_path_factory.mktemp("slices") / "repo")
    prod = repo / "environments" / "prod.yaml"
    pin = "    registry.example.com/imgrec: 1.4.1\n"
    prod.write_text(prod.read_text().replace(pin, pin + '    registry.example.com/cs-agent: "2.4.0"\n'))
    return compiled_trees(repo)


def test_the_examples_overlays_slice_into_the_rest_and_one_slice_per_workflow(example_trees: dict[str, Tree]) -> None:
    for env, tree in example_trees.items():
        plan = plan_slices(tree, env, build="test")
        assert isinstance(plan, SlicedOverlay), f"{env}: {plan}"
        workflows = sorted({p.split("/")[1] for p in tree if p.startswith("base/")})
        assert [part.name for part in plan.slices] == [REST, *workflows]
        claimed = [path for part in plan.slices for path in part.files]
        assert len(claimed) == len(set(claimed))  # no file in two slices
        assert set(claimed) | {f"overlays/{env}/kustomization.yaml", ".gitops-agent/source.json"} == set(tree)


def test_sliced_output_is_byte_identical_to_the_whole_overlay_with_patches_labels_images_and_resources(
    example_trees: dict[str, Tree], tmp_path: Path
) -> None:
    prod = example_trees["prod"]
    kustomization = load_all(prod["overlays/prod/kustomization.yaml"])[0]
    assert kustomization["labels"] and kustomization["images"] and kustomization["patches"]  # the shapes under test
    assert any(entry.startswith("extra/") for entry in kustomization["resources"])
    for env, tree in example_trees.items():
        plan = plan_slices(tree, env, build="test")
        assert isinstance(plan, SlicedOverlay)
        whole = kustomize(tree, env, tmp_path)
        assert sliced_bytes(tree, plan, tmp_path) == whole, env
        assert render_sliced(tree, env, None) == read_kustomize_output(whole, env)


def _with_resources(repo: Path, sources: list[Path], env: str = "staging") -> Tree:
    """The repository's ``env`` with published manifest sets as its ``resources:``."""
    target = repo / "published"
    for source in sources:
        shutil.copytree(source / "manifests", target / source.name)
    spec = repo / "environments" / f"{env}.yaml"
    text = spec.read_text()
    entries = ", ".join(f"published/{source.name}" for source in sources)
    spec.write_text(text.replace("  resources: [manifests/common]", f"  resources: [manifests/common, {entries}]"))
    return compiled_trees(repo)[env]


@pytest.mark.parametrize("sets", [["cert-manager"], ["ingress-nginx"], ["argo-cd-install"]])
def test_published_manifest_sets_with_bindings_and_webhooks_render_sliced_and_identical(
    sets: list[str], tmp_path: Path
) -> None:
    repo = make_gitops_repo(tmp_path / "repo")
    tree = _with_resources(repo, [REALWORLD / name for name in sets])
    plan = plan_slices(tree, "staging", build="test")
    assert isinstance(plan, SlicedOverlay), plan
    whole = kustomize(tree, "staging", tmp_path)
    assert sliced_bytes(tree, plan, tmp_path) == whole
    assert render_sliced(tree, "staging", None) == read_kustomize_output(whole, "staging")


def _counting_builds(monkeypatch: pytest.MonkeyPatch) -> list[Tree]:
    """Record every kustomize build's input tree."""
    builds: list[Tree] = []
    real: Callable[..., Any] = render_module._render_files

    def counted(files: Any, env_name: str) -> Any:
        builds.append(dict(files))
        return real(files, env_name)

    monkeypatch.setattr(render_module, "_render_files", counted)
    return builds


def _built_whole(builds: list[Tree], env: str) -> bool:
    return any(b"sortOptions" not in build[f"overlays/{env}/kustomization.yaml"] for build in builds)


def _retagged(tree: Tree, workflow: str) -> Tree:
    """``tree`` with one file of one workflow's base changed (a new image tag)."""
    changed = dict(tree)
    path = next(p for p in sorted(tree) if p.startswith(f"base/{workflow}/deployment-"))
    changed[path] = tree[path].replace(b"image: ", b"image: changed.example.com/", 1)
    assert changed[path] != tree[path]
    return changed


def test_a_commit_changing_one_workflow_builds_only_that_slice(
    example_trees: dict[str, Tree], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tree = example_trees["prod"]
    cache = RenderCache(tmp_path / "cache")
    builds = _counting_builds(monkeypatch)
    first = render_sliced(tree, "prod", cache)
    assert builds and not _built_whole(builds, "prod")
    builds.clear()
    assert render_sliced(tree, "prod", cache) == first
    assert builds == []  # every slice served from the cache

    changed = _retagged(tree, "image-recognition")
    after = render_sliced(changed, "prod", cache)
    assert len(builds) == 1
    built = {path.split("/")[1] for path in builds[0] if path.startswith("base/")}
    assert built == {"image-recognition"}
    assert not any(path.startswith("overlays/prod/extra/") for path in builds[0])  # the rest is cached
    assert after == read_kustomize_output(kustomize(changed, "prod", tmp_path), "prod")
    assert after != first


def test_environment_wide_settings_and_the_kustomize_build_are_part_of_every_slice_key(
    example_trees: dict[str, Tree], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tree = example_trees["prod"]
    before = plan_slices(tree, "prod", build="kustomize-a")
    assert isinstance(before, SlicedOverlay)
    other_build = plan_slices(tree, "prod", build="kustomize-b")
    assert isinstance(other_build, SlicedOverlay)
    assert not {p.key for p in before.slices} & {p.key for p in other_build.slices}

    relabeled = dict(tree)
    kustomization = load_all(tree["overlays/prod/kustomization.yaml"])[0]
    kustomization["labels"][0]["pairs"]["env"] = "production"
    relabeled["overlays/prod/kustomization.yaml"] = dump(kustomization)
    after = plan_slices(relabeled, "prod", build="kustomize-a")
    assert isinstance(after, SlicedOverlay)
    assert not {p.key for p in before.slices} & {p.key for p in after.slices}

    cache = RenderCache(tmp_path / "cache")
    render_sliced(tree, "prod", cache)
    builds = _counting_builds(monkeypatch)
    objects = render_sliced(relabeled, "prod", cache)
    assert builds and all(obj["metadata"]["labels"]["env"] == "production" for obj in objects)


def test_a_corrupt_slice_entry_is_built_again(
    example_trees: dict[str, Tree], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tree = example_trees["dev"]
    cache = RenderCache(tmp_path / "cache")
    first = render_sliced(tree, "dev", cache)
    entries = sorted((tmp_path / "cache" / "slices").glob("*.json"))
    assert entries
    entries[0].write_text('[{"kind": "trunc')
    builds = _counting_builds(monkeypatch)
    assert render_sliced(tree, "dev", cache) == first
    assert len(builds) == 1


# Overlay shapes a slice cannot be proven to build as the whole overlay would: each is built whole.


def _edit_overlay(tree: Tree, env: str, edit: Callable[[dict[str, Any]], None]) -> Tree:
    changed = dict(tree)
    kustomization = load_all(tree[f"overlays/{env}/kustomization.yaml"])[0]
    edit(kustomization)
    changed[f"overlays/{env}/kustomization.yaml"] = dump(kustomization)
    return changed


@pytest.mark.parametrize(
    ("edit", "reason"),
    [
        (lambda k: k.update(namePrefix="x-"), "the overlay sets namePrefix"),
        (lambda k: k.update(replacements=[]), "the overlay sets replacements"),
        (lambda k: k["resources"].append("../../elsewhere"), "leaves the overlay"),
        (
            lambda k: k.setdefault("patches", []).append({"path": "p.yaml", "target": {"labelSelector": "a=b"}}),
            "not a file with an optional group/version/kind/name target",
        ),
        (lambda k: k.setdefault("patches", []).append({"patch": "[]"}), "not a file"),
    ],
)
def test_overlay_fields_beyond_the_compiled_layout_are_built_whole(
    example_trees: dict[str, Tree], edit: Callable[[dict[str, Any]], None], reason: str
) -> None:
    plan = plan_slices(_edit_overlay(example_trees["dev"], "dev", edit), "dev", build="test")
    assert isinstance(plan, str) and reason in plan


def test_a_base_that_is_more_than_a_list_of_files_is_built_whole(example_trees: dict[str, Tree]) -> None:
    tree = dict(example_trees["dev"])
    path = next(p for p in sorted(tree) if p.startswith("base/") and p.endswith("/kustomization.yaml"))
    tree[path] = tree[path] + b"namePrefix: x-\n"
    plan = plan_slices(tree, "dev", build="test")
    assert isinstance(plan, str) and "not a kustomization of files only" in plan


def _whole_builds_logged(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if "built whole" in r.getMessage()]


def test_a_patch_selecting_another_slices_objects_makes_the_overlay_build_whole(
    example_trees: dict[str, Tree], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    tree = dict(example_trees["dev"])
    workflows = sorted({p.split("/")[1] for p in tree if p.startswith("base/") and "/deployment-" in p})
    owner, other = workflows[0], workflows[1]
    # A hand-made patch under the first workflow's directory whose target (a regular
    # expression, as kustomize reads it) selects every Deployment, the other workflow's too.
    tree[f"overlays/dev/patches/{owner}/all.yaml"] = dump(
        [{"op": "add", "path": "/metadata/annotations", "value": {"patched": "yes"}}]
    )
    tree = _edit_overlay(
        tree,
        "dev",
        lambda k: k.setdefault("patches", []).append(
            {"path": f"patches/{owner}/all.yaml", "target": {"kind": "Deployment", "name": ".*"}}
        ),
    )
    plan = plan_slices(tree, "dev", build="test")
    assert isinstance(plan, SlicedOverlay)
    caplog.set_level(logging.DEBUG, logger="gitops_agent.render.overlay")
    objects = render_sliced(tree, "dev", None)
    assert any("selects objects of another slice" in m for m in _whole_builds_logged(caplog))
    assert objects == read_kustomize_output(kustomize(tree, "dev", tmp_path), "dev")
    patched = {o["metadata"]["labels"].get("app.kubernetes.io/part-of") for o in objects if o["kind"] == "Deployment"}
    assert other in patched and all(
        o["metadata"]["annotations"]["patched"] == "yes" for o in objects if o["kind"] == "Deployment"
    )


def test_a_webhook_naming_a_workflows_service_makes_the_overlay_build_whole(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """kustomize's name-reference transformer rewrites a webhook's service namespace when
    the named Service is in the build: a slice without that Service would not."""
    repo = make_gitops_repo(tmp_path / "repo")
    trees = compiled_trees(repo)
    service = next(
        load_all(content)[0]["metadata"]["name"]
        for path, content in sorted(trees["dev"].items())
        if path.startswith("base/") and "/service-" in path
    )
    webhook = {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "ValidatingWebhookConfiguration",
        "metadata": {"name": "check"},
        "webhooks": [
            {
                "name": "check.example.com",
                "admissionReviewVersions": ["v1"],
                "sideEffects": "None",
                "clientConfig": {"service": {"name": service, "namespace": "default", "path": "/check"}},
            }
        ],
    }
    (repo / "hooks").mkdir()
    (repo / "hooks" / "webhook.yaml").write_bytes(dump(webhook))
    spec = repo / "environments" / "dev.yaml"
    spec.write_text(spec.read_text().replace("  resources: [manifests/common]", "  resources: [hooks/webhook.yaml]"))
    tree = compiled_trees(repo)["dev"]
    caplog.set_level(logging.DEBUG, logger="gitops_agent.render.overlay")
    objects = render_sliced(tree, "dev", None)
    assert any(f"names Service {service} of another slice" in m for m in _whole_builds_logged(caplog))
    assert objects == read_kustomize_output(kustomize(tree, "dev", tmp_path), "dev")


def test_the_same_object_in_two_slices_is_reported_by_kustomize_as_before(
    example_trees: dict[str, Tree], tmp_path: Path
) -> None:
    tree = dict(example_trees["dev"])
    workflows = sorted({p.split("/")[1] for p in tree if p.startswith("base/")})
    source = next(p for p in sorted(tree) if p.startswith(f"base/{workflows[0]}/configmap-"))
    copy = f"base/{workflows[1]}/copied.yaml"
    tree[copy] = tree[source]
    listing = f"base/{workflows[1]}/kustomization.yaml"
    tree[listing] = tree[listing] + b"- copied.yaml\n"
    with pytest.raises(KustomizeError, match="may not add resource with an already registered id"):
        render_sliced(tree, "dev", None)


def test_a_delete_patch_of_another_slices_object_deletes_it_as_the_whole_build_does(
    example_trees: dict[str, Tree], caplog: pytest.LogCaptureFixture
) -> None:
    tree = dict(example_trees["dev"])
    with_config = sorted({p.split("/")[1] for p in tree if p.startswith("base/") and "/configmap-" in p})
    other = next(p.split("/")[1] for p in sorted(tree) if p.startswith("base/") and p.split("/")[1] != with_config[0])
    victim = load_all(next(v for p, v in sorted(tree.items()) if p.startswith(f"base/{with_config[0]}/configmap-")))[0]
    deletion = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": victim["metadata"]["name"]}}
    tree[f"overlays/dev/patches/{other}/delete.yaml"] = dump({**deletion, "$patch": "delete"})
    tree = _edit_overlay(
        tree, "dev", lambda k: k.setdefault("patches", []).append({"path": f"patches/{other}/delete.yaml"})
    )
    caplog.set_level(logging.DEBUG, logger="gitops_agent.render.overlay")
    objects = render_sliced(tree, "dev", None)
    assert any("failed to build" in r.getMessage() for r in caplog.records)
    names = {(o["kind"], o["metadata"]["name"]) for o in objects}
    assert ("ConfigMap", victim["metadata"]["name"]) not in names  # deleted, as the whole build does


def test_legacy_order_matches_kustomize_for_every_kind_order_rule(tmp_path: Path) -> None:
    """Namespaces first (the core group's before others), ORDER_FIRST kinds, unknown kinds by
    group/version/kind, the webhooks last; ties by namespace and name."""
    kinds = [
        ("v1", "Namespace", None, "b"),
        ("example.com/v1", "Namespace", None, "a"),
        ("admissionregistration.k8s.io/v1", "ValidatingWebhookConfiguration", None, "w"),
        ("admissionregistration.k8s.io/v1", "MutatingWebhookConfiguration", None, "w"),
        ("zeta.example.com/v1", "Widget", "ns", "a"),
        ("alpha.example.com/v2", "Widget", "ns", "a"),
        ("alpha.example.com/v1", "Widget", "ns", "a"),
        ("apps/v1", "Deployment", "ns", "b"),
        ("apps/v1", "Deployment", "ms", "c"),
        ("v1", "Service", "ns", "a"),
        ("v1", "ConfigMap", None, "a"),
        ("rbac.authorization.k8s.io/v1", "ClusterRole", None, "r"),
        ("apiextensions.k8s.io/v1", "CustomResourceDefinition", None, "x.example.com"),
    ]
    objects = [
        {"apiVersion": api, "kind": kind, "metadata": {"name": name, **({"namespace": ns} if ns else {})}}
        for api, kind, ns, name in kinds
    ]
    tree = {f"o{i}.yaml": json.dumps(obj).encode() for i, obj in enumerate(objects)}
    tree["kustomization.yaml"] = json.dumps({"resources": sorted(p for p in tree)}).encode()
    _write(tree, tmp_path / "order")
    proc = subprocess.run([kubectl_path(), "kustomize", str(tmp_path / "order")], capture_output=True, check=True)
    expected = read_kustomize_output(proc.stdout, "order")
    assert expected[0]["kind"] == "Namespace"
    assert legacy_order(reversed(objects)) == expected
    assert legacy_order(objects) == expected


def test_split_at_boundaries_refuses_a_build_without_its_boundaries() -> None:
    cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a"}}
    assert split_at_boundaries([boundary_object(0), cm, boundary_object(1)], 2) == [[cm], []]
    assert split_at_boundaries([cm, boundary_object(0)], 1) is None
    assert split_at_boundaries([boundary_object(1), cm], 1) is None
    assert split_at_boundaries([boundary_object(0), cm], 2) is None


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_random_valid_specs_render_sliced_byte_identical(tmp_path_factory: Any, data: st.DataObject) -> None:
    """Random workflows and environments (overrides → patches, labels, image pins): the sliced
    build prints what the whole overlay's build prints."""
    workflow = data.draw(workflow_specs(), label="workflow")
    env = data.draw(environments(workflow), label="environment")
    root = tmp_path_factory.mktemp("prop-slices")
    write_repo(root, workflow, env)
    tree = compiled_trees(root)["test"]
    plan = plan_slices(tree, "test", build="test")
    assert isinstance(plan, SlicedOverlay), plan
    whole = kustomize(tree, "test", root)
    assert sliced_bytes(tree, plan, root) == whole
    assert render_sliced(tree, "test", None) == read_kustomize_output(whole, "test")
