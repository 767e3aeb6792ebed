"""Hostile and real-world input for the per-slice render and its cache: every render is compared
with one whole ``kubectl kustomize`` of the same tree (real kustomize, real published manifests)."""

from __future__ import annotations

import json
import logging
import os
import pickle
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from gitops_agent.adapters import kustomize as kustomize_adapter
from gitops_agent.adapters.kustomize import kubectl_path
from gitops_agent.compile import slices as slices_module
from gitops_agent.compile.slices import SlicedOverlay, plan_slices
from gitops_agent.errors import KustomizeError
from gitops_agent.render import overlay as overlay_module
from gitops_agent.render.cache import RenderCache
from gitops_agent.render.overlay import kustomize_build, read_kustomize_output, render_files, render_sliced
from gitops_agent.vocabulary.objects import Manifest
from gitops_agent.vocabulary.yaml import READER_VERSION
from tests.support.gitrepos import make_gitops_repo
from tests.unit.test_render_slices import REALWORLD, _counting_builds, _with_resources, kustomize

Tree = dict[str, bytes]
ENV = "dev"


def whole(tree: Mapping[str, bytes], tmp: Path, env: str = ENV) -> list[Manifest]:
    return read_kustomize_output(kustomize(tree, env, tmp), env)


def overlay_tree(
    workflows: Mapping[str, list[str]],
    *,
    header: Mapping[str, Any] | None = None,
    patches: Mapping[str, tuple[str, Mapping[str, str] | None]] | None = None,
    extra: Mapping[str, str] | None = None,
) -> Tree:
    """A tree of the compiled layout (docs/compiled-layout.md): one base per workflow (one file
    per object), the environment's Namespace, ``extra`` files listed as its resources and
    ``patches`` (overlay path → (content, target))."""
    tree: Tree = {}
    resources = ["namespace.yaml"]
    for workflow, objects in workflows.items():
        names = [f"object-{index}.yaml" for index in range(len(objects))]
        for name, text in zip(names, objects, strict=True):
            tree[f"base/{workflow}/{name}"] = text.encode()
        listing = "".join(f"- {name}\n" for name in names)
        tree[f"base/{workflow}/kustomization.yaml"] = (
            f"apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n{listing}".encode()
        )
        resources.append(f"../../base/{workflow}")
    for path, text in (extra or {}).items():
        tree[f"overlays/{ENV}/{path}"] = text.encode()
        resources.append(path)
    kustomization: dict[str, Any] = {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "namespace": "ml-dev",
        **(header or {}),
        "resources": resources,
    }
    entries = []
    for path, (text, target) in (patches or {}).items():
        tree[f"overlays/{ENV}/{path}"] = text.encode()
        entries.append({"path": path, **({"target": dict(target)} if target else {})})
    if entries:
        kustomization["patches"] = entries
    tree[f"overlays/{ENV}/kustomization.yaml"] = json.dumps(kustomization).encode()
    tree[f"overlays/{ENV}/namespace.yaml"] = b"apiVersion: v1\nkind: Namespace\nmetadata:\n  name: ml-dev\n"
    return tree


def _quoted(name: str) -> str:
    return json.dumps(name, ensure_ascii=False)


def config_map(name: str, namespace: str | None = None) -> str:
    where = f"  namespace: {namespace}\n" if namespace else ""
    return f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {_quoted(name)}\n{where}data: {{a: b}}\n"


def service(name: str) -> str:
    return f"apiVersion: v1\nkind: Service\nmetadata: {{name: {name}}}\nspec: {{ports: [{{port: 443}}]}}\n"


def service_account(name: str) -> str:
    return f"apiVersion: v1\nkind: ServiceAccount\nmetadata: {{name: {name}}}\n"


def cluster_role(name: str) -> str:
    return (
        f"apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata:\n  name: {_quoted(name)}\nrules: []\n"
    )


def deployment(name: str, config: str = "cfg", secret: str = "creds") -> str:
    return f"""apiVersion: apps/v1
kind: Deployment
metadata: {{name: {name}}}
spec:
  selector: {{matchLabels: {{app: {name}}}}}
  template:
    metadata: {{labels: {{app: {name}}}}}
    spec:
      containers:
      - name: main
        image: registry.example.com/web:1.0
        envFrom: [{{configMapRef: {{name: {config}}}}}, {{secretRef: {{name: {secret}}}}}]
      volumes: [{{name: v, configMap: {{name: {config}}}}}]
"""


def ingress(name: str, backend: str) -> str:
    return f"""apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {{name: {name}}}
spec:
  rules:
  - http:
      paths:
      - {{path: /, pathType: Prefix, backend: {{service: {{name: {backend}, port: {{number: 443}}}}}}}}
"""


WEBHOOK = """apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingWebhookConfiguration
metadata: {name: guard}
webhooks:
- name: guard.example.com
  admissionReviewVersions: [v1]
  sideEffects: None
  clientConfig: {service: {name: hook, namespace: ml-dev}}
"""
ROLE_BINDING = """apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: bot}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: view}
subjects: [{kind: ServiceAccount, name: bot, namespace: ml-dev}]
"""
SECRET = "apiVersion: v1\nkind: Secret\nmetadata: {name: creds}\ntype: Opaque\nstringData: {password: not-a-real-one}\n"


# A JSON patch that renames an object: kustomize's name-reference transformer follows the new name
# into every object naming it, in whichever slice that object is.

RENAMES = {
    "ConfigMap named by another workflow's Deployment": (
        {"a": [config_map("cfg")], "b": [deployment("web"), SECRET]},
        "- op: replace\n  path: /metadata/name\n  value: cfg-v2\n",
        {"kind": "ConfigMap", "name": "cfg"},
    ),
    "Secret named by another workflow's Deployment, a move from a label": (
        {"a": [SECRET.replace("{name: creds}", "{name: creds, labels: {next: creds-v2}}")], "b": [deployment("web")]},
        "- op: move\n  from: /metadata/labels/next\n  path: /metadata/name\n",
        {"kind": "Secret", "name": "creds"},
    ),
    "Service named by another workflow's webhook": (
        {"a": [service("hook")], "b": [WEBHOOK]},
        '[{"op": "replace", "path": "/metadata/name", "value": "hook-v2"}]',
        {"kind": "Service", "name": "hook"},
    ),
    "Service named by another workflow's Ingress, metadata replaced whole": (
        {"a": [service("hook")], "b": [ingress("entry", "hook")]},
        "- op: replace\n  path: /metadata\n  value: {name: hook-v2}\n",
        {"kind": "Service", "name": "hook"},
    ),
    "ServiceAccount named by another workflow's RoleBinding": (
        {"a": [service_account("bot")], "b": [ROLE_BINDING]},
        "- op: replace\n  path: /metadata/name\n  value: bot-v2\n",
        {"kind": "ServiceAccount", "name": "bot"},
    ),
}


@pytest.mark.parametrize("case", list(RENAMES))
def test_a_patch_renaming_an_object_named_by_another_slice_renders_as_the_whole_overlay(
    case: str, tmp_path: Path
) -> None:
    workflows, patch, target = RENAMES[case]
    tree = overlay_tree(workflows, patches={"patches/a/rename.yaml": (patch, target)})
    expected = whole(tree, tmp_path)
    assert render_sliced(tree, ENV, RenderCache(tmp_path / "cache")) == expected
    assert render_sliced(tree, ENV, None) == expected
    plan = plan_slices(tree, ENV, build="test")
    assert isinstance(plan, str) and "may change an object's name, namespace or kind" in plan


def test_a_patch_leaving_names_alone_still_slices(tmp_path: Path) -> None:
    patch = "- op: add\n  path: /metadata/labels\n  value: {tier: web}\n"
    tree = overlay_tree(
        {"a": [config_map("cfg")], "b": [deployment("web"), SECRET]},
        patches={"patches/a/label.yaml": (patch, {"kind": "ConfigMap", "name": "cfg"})},
    )
    assert isinstance(plan_slices(tree, ENV, build="test"), SlicedOverlay)
    assert render_sliced(tree, ENV, None) == whole(tree, tmp_path)


# An empty slice is a slice: cached as no objects, served as no objects.


def test_an_empty_workflow_is_served_from_the_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    tree = overlay_tree({"a": [config_map("cfg")], "empty": ["# every object of this workflow was removed\n"]})
    cache = RenderCache(tmp_path / "cache")
    expected = whole(tree, tmp_path)
    assert render_sliced(tree, ENV, cache) == expected
    builds = _counting_builds(monkeypatch)
    assert render_sliced(tree, ENV, cache) == expected
    assert builds == []
    assert render_files(tree, ENV, cache) == expected  # the whole-render entry of an in-memory tree too


# Real-world and hostile shapes that slice and render byte for byte as the whole overlay.


def test_every_published_set_at_once_renders_sliced_as_the_whole_overlay(tmp_path: Path) -> None:
    repo = make_gitops_repo(tmp_path / "repo")
    sets = ["ingress-nginx", "cert-manager", "argo-cd-install", "zookeeper-statefulset"]
    tree = _with_resources(repo, [REALWORLD / name for name in sets], env="staging")
    assert isinstance(plan_slices(tree, "staging", build="test"), SlicedOverlay)
    expected = whole(tree, tmp_path, "staging")
    cache = RenderCache(tmp_path / "cache")
    assert render_sliced(tree, "staging", cache) == expected
    assert render_sliced(tree, "staging", cache) == expected  # served from the cache


CRD = """apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: widgets.example.com}
spec:
  group: example.com
  names: {kind: Widget, plural: widgets}
  scope: Namespaced
  versions: [{name: v1, served: true, storage: true, schema: {openAPIV3Schema: {type: object}}}]
"""


def widget(name: str, version: str = "v1") -> str:
    return f"apiVersion: example.com/{version}\nkind: Widget\nmetadata: {{name: {name}}}\nspec: {{}}\n"


SHAPES: dict[str, Tree] = {
    "unicode names whose order ties but for one code point": overlay_tree(
        {
            "a": [config_map("zé"), config_map("ä"), cluster_role("Ω"), cluster_role("z")],
            "b": [config_map("é"), config_map("Z"), config_map("a-"), cluster_role("a")],
            "c": [config_map("e\u0301"), cluster_role("\U0001f600"), cluster_role("A")],
        }
    ),
    "the same kind and name in every workflow, cluster-scoped and namespaced kinds apart": overlay_tree(
        {
            "a": [config_map("same"), service("same")],
            "b": [cluster_role("same"), service_account("same")],
            "c": [SECRET.replace("creds", "same")],
        }
    ),
    "a CRD and its resources in other workflows, at two versions": overlay_tree(
        {"crd": [CRD], "v1": [widget("w1"), widget("w2")], "v2": [widget("w3", "v2")]}
    ),
    "Secrets with environment labels selecting and images pinned": overlay_tree(
        {"a": [SECRET, deployment("web")], "b": [config_map("cfg")]},
        header={
            "labels": [{"pairs": {"team": "ml"}, "includeSelectors": True}],
            "images": [{"name": "registry.example.com/web", "newTag": "1.2.3"}],
        },
    ),
    "references across workflows to objects nothing renames": overlay_tree(
        {
            "a": [config_map("cfg"), service("hook"), service_account("bot")],
            "b": [deployment("web"), ingress("entry", "hook"), SECRET],
        },
        extra={"extra/binding.yaml": ROLE_BINDING.replace("{name: bot}", "{name: extra-bot}")},
    ),
    "a kind-only and a regular-expression patch target reaching another workflow": overlay_tree(
        {"a": [config_map("c1")], "b": [config_map("c2")], "c": [service("c3")]},
        patches={
            "patches/a/all.yaml": ("- op: add\n  path: /metadata/labels\n  value: {x: y}\n", {"kind": "ConfigMap"}),
            "patches/c/any.yaml": ("- op: add\n  path: /metadata/annotations\n  value: {z: q}\n", {"name": "c.*"}),
        },
    ),
    "300 one-object workflows and an empty one": overlay_tree(
        {**{f"w{index:03d}": [config_map(f"c{index}")] for index in range(300)}, "empty": ["---\n"]}
    ),
}


@pytest.mark.parametrize("shape", list(SHAPES))
def test_hostile_shapes_render_sliced_as_the_whole_overlay(shape: str, tmp_path: Path) -> None:
    tree = SHAPES[shape]
    assert isinstance(plan_slices(tree, ENV, build="test"), SlicedOverlay)
    expected = whole(tree, tmp_path)
    cache = RenderCache(tmp_path / "cache")
    assert render_sliced(tree, ENV, cache) == expected
    assert render_sliced(tree, ENV, cache) == expected


# The render cache under hostile conditions: every render still equals the whole build.


@pytest.fixture(scope="module")
def small_tree() -> Tree:
    return overlay_tree(
        {"a": [config_map("cfg"), SECRET], "b": [deployment("web"), service("web")], "c": [service_account("bot")]}
    )


def _fake_kubectl(path: Path, version: str) -> None:
    """An executable at ``path`` telling ``version`` (same length for every version) and running
    the real kubectl for everything else; replaced as installers replace a file (rename over it)."""
    script = (
        "#!/bin/sh\n"
        'if [ "$1" = version ]; then\n'
        f'  echo \'{{"clientVersion":{{"gitVersion":"{version}"}},"kustomizeVersion":"v5.0.0"}}\'\n'
        "  exit 0\n"
        "fi\n"
        f'exec "{kubectl_path()}" "$@"\n'
    )
    staged = path.with_name(".staged")
    staged.write_text(script)
    staged.chmod(0o755)
    staged.replace(path)


def test_a_replaced_kubectl_of_the_same_size_and_time_is_asked_its_version_again(
    small_tree: Tree, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    binary = tmp_path / "bin" / "kubectl"
    binary.parent.mkdir()
    _fake_kubectl(binary, "v1.90.1")
    cache = RenderCache(tmp_path / "cache")
    assert kustomize_build(str(binary), cache) == "v1.90.1/kustomize-v5.0.0"
    before = binary.stat()
    _fake_kubectl(binary, "v1.90.2")  # an upgrade that kept the size and the modification time
    os.utime(binary, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert binary.stat().st_size == before.st_size
    assert kustomize_build(str(binary), cache) == "v1.90.2/kustomize-v5.0.0"

    monkeypatch.setattr(kustomize_adapter, "kubectl_path", lambda: str(binary))
    expected = whole(small_tree, tmp_path)
    first = render_files(small_tree, ENV, cache)
    builds = _counting_builds(monkeypatch)
    _fake_kubectl(binary, "v1.90.3")
    assert render_files(small_tree, ENV, cache) == first == expected
    assert builds  # every slice built again by the new kustomize


@pytest.mark.parametrize(
    "damage",
    [b"", b'[{"apiVersion": "v1", "ki', b"\xff\xfe not utf-8", b'{"kind": "ConfigMap"}', b"[1, 2]", b"null"],
    ids=["empty", "truncated", "not-utf8", "an-object", "not-objects", "null"],
)
def test_a_damaged_cache_entry_is_built_again(
    damage: bytes, small_tree: Tree, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = RenderCache(tmp_path / "cache")
    expected = whole(small_tree, tmp_path)
    assert render_files(small_tree, ENV, cache) == expected
    entries = sorted((tmp_path / "cache").rglob("*.json"))
    assert len(entries) == 1 + 4  # the whole render and its four slices
    for entry in entries:
        entry.write_bytes(damage)
    builds = _counting_builds(monkeypatch)
    assert render_files(small_tree, ENV, cache) == expected
    assert builds
    assert all(entry.read_bytes() != damage and isinstance(json.loads(entry.read_bytes()), list) for entry in entries)


def test_a_cache_directory_that_cannot_be_written_renders_without_a_cache(small_tree: Tree, tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("a file where the cache directory would be\n")
    cache = RenderCache(blocker / "render-cache")
    expected = whole(small_tree, tmp_path)
    assert render_files(small_tree, ENV, cache) == expected
    assert render_sliced(small_tree, ENV, cache) == expected
    assert blocker.read_text() == "a file where the cache directory would be\n"


_RENDER_IN_A_PROCESS = """
import json, pickle, sys
from pathlib import Path
from gitops_agent.render.cache import RenderCache
from gitops_agent.render.overlay import render_files
tree = pickle.loads(Path(sys.argv[1]).read_bytes())
print(json.dumps(render_files(tree, sys.argv[2], RenderCache(Path(sys.argv[3])))))
"""


def test_two_processes_rendering_the_same_tree_at_once_agree_and_leave_a_sound_cache(
    small_tree: Tree, tmp_path: Path
) -> None:
    tree = overlay_tree({f"w{index:02d}": [config_map(f"c{index}"), service(f"s{index}")] for index in range(40)})
    (tmp_path / "tree.pickle").write_bytes(pickle.dumps(tree))
    command = [sys.executable, "-c", _RENDER_IN_A_PROCESS, str(tmp_path / "tree.pickle"), ENV, str(tmp_path / "cache")]
    processes = [subprocess.Popen(command, stdout=subprocess.PIPE, cwd=Path(__file__).parents[2]) for _ in range(2)]
    outputs = [process.communicate(timeout=120)[0] for process in processes]
    assert [process.returncode for process in processes] == [0, 0]
    expected = whole(tree, tmp_path)
    assert [json.loads(output) for output in outputs] == [expected, expected]
    cache = RenderCache(tmp_path / "cache")
    assert not list((tmp_path / "cache").rglob(".tmp-*"))
    entries = list((tmp_path / "cache" / "slices").glob("*.json"))
    assert len(entries) == 41
    assert all(RenderCache(tmp_path / "cache" / "slices").load(entry.stem) is not None for entry in entries)
    assert render_files(tree, ENV, cache) == expected


def test_the_same_files_under_another_overlay_header_never_share_a_slice(small_tree: Tree, tmp_path: Path) -> None:
    cache = RenderCache(tmp_path / "cache")
    kustomization = json.loads(small_tree[f"overlays/{ENV}/kustomization.yaml"])
    variants = [small_tree]
    for header in (
        {"namespace": "ml-other"},
        {"labels": [{"pairs": {"env": "x"}}]},
        {"images": [{"name": "registry.example.com/web", "newTag": "2"}]},
    ):
        variant = dict(small_tree)
        variant[f"overlays/{ENV}/kustomization.yaml"] = json.dumps({**kustomization, **header}).encode()
        variants.append(variant)
    keys: list[set[str]] = []
    for variant in variants:
        plan = plan_slices(variant, ENV, build="test")
        assert isinstance(plan, SlicedOverlay)
        keys.append({part.key for part in plan.slices})
        assert render_sliced(variant, ENV, cache) == whole(variant, tmp_path)
    assert all(not keys[i] & keys[j] for i in range(len(keys)) for j in range(i + 1, len(keys)))


def test_a_slice_entry_of_an_older_slice_format_is_never_read(
    small_tree: Tree, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = RenderCache(tmp_path / "cache")
    with monkeypatch.context() as older:
        older.setattr(slices_module, "SLICE_FORMAT", "overlay-slice/0")
        render_sliced(small_tree, ENV, cache)
    for entry in (tmp_path / "cache" / "slices").glob("*.json"):  # what an older format might have kept
        entry.write_bytes(entry.read_bytes().replace(b"ml-dev", b"stale-namespace"))
    builds = _counting_builds(monkeypatch)
    assert render_sliced(small_tree, ENV, cache) == whole(small_tree, tmp_path)
    assert builds


def test_a_whole_render_made_under_older_slicing_rules_is_never_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A render cached by a release whose slicing got a shape wrong (here: a renamed ConfigMap)
    must not outlive the fix: the whole render's key holds the slicing rules' version."""
    workflows, patch, target = RENAMES["ConfigMap named by another workflow's Deployment"]
    tree = overlay_tree(workflows, patches={"patches/a/rename.yaml": (patch, target)})
    cache = RenderCache(tmp_path / "cache")
    with monkeypatch.context() as older:
        older.setattr(slices_module, "SLICE_FORMAT", "overlay-slice/1")
        render_files(tree, ENV, cache)
    for entry in (tmp_path / "cache").glob("*.json"):  # what the older rules rendered: the old name
        entry.write_bytes(entry.read_bytes().replace(b"cfg-v2", b"cfg"))
    builds = _counting_builds(monkeypatch)
    assert render_files(tree, ENV, cache) == whole(tree, tmp_path)
    assert builds


# Secrets: kustomize writes the objects of an ID conflict into its error, values and all.


def test_secrets_colliding_across_workflows_fail_without_their_values_in_the_error_or_the_log(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    def secret(namespace: str) -> str:
        return (
            f"apiVersion: v1\nkind: Secret\nmetadata: {{name: creds, namespace: {namespace}}}\n"
            "data: {password: c3VwZXJzZWNyZXQ=}\nstringData: {token: hunter2-token}\n"
        )

    tree = overlay_tree({"a": [secret("team-a")], "b": [secret("team-b")]})
    caplog.set_level(logging.DEBUG, logger="gitops_agent")
    with pytest.raises(KustomizeError) as raised:
        render_sliced(tree, ENV, RenderCache(tmp_path / "cache"))
    message = str(raised.value)
    assert "ID conflict" in message and '"stringData":{"token":"***"}' in message
    for value in ("c3VwZXJzZWNyZXQ=", "hunter2-token"):
        assert value not in message
        assert value not in caplog.text
    assert "ID conflict" in caplog.text  # the batch's failure was logged, masked


def test_a_full_slice_cache_keeps_the_slices_the_commit_it_rendered_reads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(overlay_module, "MAX_SLICE_ENTRIES", 4)
    before = overlay_tree({"a": [config_map("ca")], "b": [config_map("cb")], "c": [config_map("cc")]})
    after = {**before, "base/c/object-0.yaml": config_map("cc-changed").encode()}
    cache = RenderCache(tmp_path / "cache")
    render_sliced(before, ENV, cache)
    render_sliced(after, ENV, cache)  # builds c's new slice: five entries, one to remove
    plan = plan_slices(after, ENV, build=f"{kustomize_build(kubectl_path(), cache)}/{READER_VERSION}")
    assert isinstance(plan, SlicedOverlay)
    kept = {entry.stem for entry in (tmp_path / "cache" / "slices").glob("*.json")}
    assert kept == {part.key for part in plan.slices}
    builds = _counting_builds(monkeypatch)
    assert render_sliced(after, ENV, cache) == whole(after, tmp_path)
    assert builds == []


# An environment's kustomize directory that names a path above it reads another slice's files,
# which are not part of its slice's key: however YAML spells the "..", the overlay is built whole.

UPWARDS = {
    "plain": "../../../../base/a",
    "YAML hexadecimal escapes": "\\x2e\\x2e/\\x2e\\x2e/\\x2e\\x2e/\\x2e\\x2e/base/a",
    "YAML Unicode escapes": "\\u002e\\u002e/\\u002E\\u002E/\\u002e\\u002e/\\U0000002e\\U0000002e/base/a",
    "YAML escaped line breaks": ".\\\n  ./.\\\n  ./.\\\n  ./.\\\n  ./base/a",
}


@pytest.mark.parametrize("spelling", list(UPWARDS))
def test_an_environment_directory_reading_a_workflows_files_is_never_served_stale(
    spelling: str, tmp_path: Path
) -> None:
    copy = "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nnamePrefix: copy-\n"
    copy += f'resources: ["{UPWARDS[spelling]}"]\n'
    tree = overlay_tree({"a": [config_map("cfg")]}, extra={"extra/copy": ""})
    del tree[f"overlays/{ENV}/extra/copy"]
    tree[f"overlays/{ENV}/extra/copy/kustomization.yaml"] = copy.encode()
    plan = plan_slices(tree, ENV, build="test")
    assert isinstance(plan, str) and "may read files outside its directory" in plan
    cache = RenderCache(tmp_path / "cache")
    assert render_sliced(tree, ENV, cache) == whole(tree, tmp_path)
    changed = {**tree, "base/a/object-0.yaml": config_map("cfg").replace("{a: b}", "{a: changed}").encode()}
    rendered = render_sliced(changed, ENV, cache)
    assert rendered == whole(changed, tmp_path)
    assert [obj.get("data") for obj in rendered if obj["kind"] == "ConfigMap"] == [{"a": "changed"}] * 2


# Patch targets are Go (RE2) regular expressions: where Python could read one otherwise, the
# target counts as selecting other slices' objects, so no slice keeps another slice's patch.

GO_ONLY_TARGETS = {
    "POSIX class": {"kind": "[[:alpha:]]+"},
    "POSIX class in a name": {"kind": "ConfigMap", "name": "c[[:digit:]]"},
    "RE2 Unicode class": {"kind": "Config\\pLap"},
    "a brace RE2 reads literally": {"kind": "C.{,20}"},
    "a flag group": {"kind": "(?i)configmap"},
    "an escape": {"kind": "\\x43onfigMap"},
}


@pytest.mark.parametrize("case", list(GO_ONLY_TARGETS))
def test_a_target_python_may_read_otherwise_than_go_never_leaves_a_patched_slice_in_the_cache(
    case: str, tmp_path: Path
) -> None:
    def tree(value: str) -> Tree:
        patch = f"- op: add\n  path: /metadata/labels\n  value: {{patched: {value}}}\n"
        return overlay_tree(
            {"a": [config_map("c1")], "b": [config_map("c2")], "c": [service("c3")]},
            patches={"patches/a/label.yaml": (patch, GO_ONLY_TARGETS[case])},
        )

    cache = RenderCache(tmp_path / "cache")
    for value in ("one", "two"):
        assert render_sliced(tree(value), ENV, cache) == whole(tree(value), tmp_path)


# kustomize selects a patch's target by the object's original name too: an environment kustomize
# directory that renames its objects keeps the names a workflow's patch may select.

_RENAMING_DIRECTORIES = {
    "namePrefix": ({"kustomization.yaml": "namePrefix: extra-\nresources: [cm.yaml]\n"}),
    "nameSuffix": ({"kustomization.yaml": "nameSuffix: -extra\nresources: [cm.yaml]\n"}),
    "an inline renaming patch": (
        {
            "kustomization.yaml": "resources: [cm.yaml]\npatches:\n- target: {kind: ConfigMap, name: cfg}\n"
            "  patch: |-\n    - op: replace\n      path: /metadata/name\n      value: extra-cfg\n"
        }
    ),
    "a renaming patch file": (
        {
            "kustomization.yaml": "resources: [cm.yaml]\npatches:\n- {path: rename.yaml, target: {kind: ConfigMap}}\n",
            "rename.yaml": "- {op: replace, path: /metadata/name, value: extra-cfg}\n",
        }
    ),
}


@pytest.mark.parametrize("case", list(_RENAMING_DIRECTORIES))
def test_a_workflow_patch_selecting_a_renamed_environment_object_by_its_original_name_is_never_cached_unseen(
    case: str, tmp_path: Path
) -> None:
    directory = {
        f"overlays/{ENV}/extra/renamed/{name}": (
            "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n" + text
            if name == "kustomization.yaml"
            else text
        ).encode()
        for name, text in {**_RENAMING_DIRECTORIES[case], "cm.yaml": config_map("cfg")}.items()
    }

    def tree(value: str) -> Tree:
        patch = f"- op: add\n  path: /metadata/labels\n  value: {{patched: {value}}}\n"
        built = overlay_tree(
            {"a": [config_map("cfg")], "b": [service("web")]},
            patches={"patches/a/label.yaml": (patch, {"kind": "ConfigMap", "name": "cfg"})},
            extra={"extra/renamed": ""},
        )
        del built[f"overlays/{ENV}/extra/renamed"]
        return {**built, **directory}

    cache = RenderCache(tmp_path / "cache")
    for value in ("one", "two"):
        expected = whole(tree(value), tmp_path)
        assert render_sliced(tree(value), ENV, cache) == expected
    assert len([obj for obj in expected if obj["kind"] == "ConfigMap"]) == 2


def test_published_sets_deleting_their_namespace_still_slice_beside_workflow_patches(tmp_path: Path) -> None:
    """Their kustomizations' `$patch: delete` patches rename nothing: a workflow's patch still slices."""
    repo = make_gitops_repo(tmp_path / "repo")
    tree = _with_resources(repo, [REALWORLD / "cert-manager", REALWORLD / "ingress-nginx"], env="prod")
    plan = plan_slices(tree, "prod", build="test")
    assert isinstance(plan, SlicedOverlay) and not plan.slices[0].renames
    assert any(part.patches for part in plan.slices[1:])
