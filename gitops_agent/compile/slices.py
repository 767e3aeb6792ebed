"""An environment's overlay as independent slices: one per workflow, one for the rest (pure).

``kustomize build`` takes time that grows with the square of an overlay's objects (on the
compiled layout: 0.13 CPU-s for 10 workflows, 1.5 CPU-s for 50, 37 CPU-s for 200), and a
commit usually changes few workflows. So the overlay of the compiled layout
(docs/compiled-layout.md) is split into slices, each built with the overlay's own
environment-wide settings (``namespace``, ``labels``, ``images``):

* a workflow's slice: ``../../base/<workflow>``, ``resources/<workflow>`` and the patches
  under ``patches/<workflow>/``;
* the rest: every other entry (the Namespace, the environment's ``resources:``) and patch.

Each slice is keyed by what decides its objects (the overlay's settings, its entries and
the content of every file it reads, plus the kustomize build and the output reader), so a
commit that changes one workflow builds one slice. Several slices are built in one
kustomize process with ``sortOptions: fifo`` and a boundary object between slices; the
objects are then put in the order of kustomize's default ``legacy`` sort
(``api/internal/builtins/SortOrderTransformer.go``, ported in :func:`legacy_order`).

Slices give the full build's objects only where kustomize transforms each object on its own.
:func:`plan_slices` returns a reason instead of a plan for any overlay shape where that is
not known (another kustomization field, a base that is more than a list of files, a path
leaving the overlay, a patch that may rename an object: :func:`moves_identity`);
:func:`cross_slice_problem` finds what only the built objects show (an
identity in two slices, a patch target selecting another slice's object, a RoleBinding
subject or webhook Service naming another slice's object, which kustomize's name-reference
transformer may rewrite). In every such case the overlay is built whole.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import re
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from gitops_agent.vocabulary.objects import Manifest

Tree = Mapping[str, bytes]

SLICE_FORMAT = "overlay-slice/2"
"""Version of the slicing rules; part of every slice's key and of every whole render's (a
render made under older rules may hold what those rules got wrong). 2: a JSON patch that
may rename an object, or an environment kustomize directory naming a ``..`` path however YAML
spells it, builds the overlay whole; so does a patch target that may select another slice's
object by its original name or as Go's RE2 reads it."""
HEADER_KEYS = frozenset({"apiVersion", "kind", "namespace", "labels", "images"})
"""Overlay fields that apply to each object on its own, given to every slice."""
BOUNDARY_API_VERSION = "render.gitops-agent.io/v1"
BOUNDARY_KIND = "RenderSliceBoundary"
REST = ""
"""The name of the slice holding everything that is not a workflow's."""

_KUSTOMIZATION_NAMES = ("kustomization.yaml", "kustomization.yml", "Kustomization")
_LIST_OF_FILES = re.compile(
    rb"apiVersion: kustomize\.config\.k8s\.io/v1beta1\nkind: Kustomization\nresources:\n"
    rb"((?:- [A-Za-z0-9][A-Za-z0-9._-]*\.yaml\n)+)\Z"
)
_PLAIN_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]*")
_TARGET_KEYS = frozenset({"group", "version", "kind", "name"})


@dataclass(frozen=True)
class Slice:
    """Part of an overlay: its resource entries, its patch entries and the files it reads."""

    name: str
    """The workflow's name, or :data:`REST`."""
    resources: tuple[str, ...]
    patches: tuple[Mapping[str, Any], ...]
    files: tuple[str, ...]
    key: str
    """SHA-256 (hex) of everything that decides the slice's objects."""
    renames: bool = False
    """Whether a kustomize directory of the slice may give objects names other than those of
    their files (``namePrefix``, a generator's hash, a renaming patch): kustomize's patch
    targets also select an object by its original name, which the built objects no longer show."""


@dataclass(frozen=True)
class SlicedOverlay:
    """An overlay (``overlays/<env>``) and its slices, the rest first."""

    overlay: str
    header: Mapping[str, Any]
    slices: tuple[Slice, ...]

    def batch(self, slices: Sequence[Slice]) -> dict[str, bytes]:
        """The files of one kustomize build of ``slices``: the slices' own files and, at the
        overlay's path, a kustomization listing them in order with a boundary object before each.

        The kustomization is JSON (a YAML document kustomize reads); entries keep their order.
        """
        files: dict[str, bytes] = {}
        resources: list[str] = []
        patches: list[Mapping[str, Any]] = []
        for index, part in enumerate(slices):
            boundary = f"{self.overlay}/{boundary_file(index)}"
            files[boundary] = json.dumps(boundary_object(index)).encode()
            resources.append(boundary_file(index))
            resources.extend(part.resources)
            patches.extend(part.patches)
        kustomization = {**self.header, "sortOptions": {"order": "fifo"}, "resources": resources}
        if patches:
            kustomization["patches"] = patches
        files[f"{self.overlay}/kustomization.yaml"] = json.dumps(kustomization).encode()
        return files


def boundary_file(index: int) -> str:
    return f"render-slice-boundary-{index}.yaml"


def boundary_object(index: int) -> Manifest:
    """The object kustomize is given before the ``index``-th slice of a build (never deployed)."""
    return {"apiVersion": BOUNDARY_API_VERSION, "kind": BOUNDARY_KIND, "metadata": {"name": f"boundary-{index}"}}


def split_at_boundaries(objects: Iterable[Manifest], count: int) -> list[list[Manifest]] | None:
    """A FIFO build's objects, per slice (``count`` of them); None when the boundaries are not
    all there, in order, with no object before the first."""
    parts: list[list[Manifest]] = []
    for obj in objects:
        if obj.get("kind") == BOUNDARY_KIND and obj.get("apiVersion") == BOUNDARY_API_VERSION:
            if (obj.get("metadata") or {}).get("name") != f"boundary-{len(parts)}":
                return None
            parts.append([])
        elif not parts:
            return None
        else:
            parts[-1].append(obj)
    return parts if len(parts) == count else None


def plan_slices(tree: Tree, environment: str, *, build: str) -> SlicedOverlay | str:
    """The slices of ``overlays/<environment>`` in ``tree``, or why it must be built whole.

    ``build`` names the kustomize build and output reader (part of every key). Pure: reads
    only ``tree`` (path → bytes).
    """
    import yaml

    from gitops_agent.vocabulary.yaml import NonFiniteNumberError, load_all

    overlay = f"overlays/{environment}"
    if any(f"{overlay}/{name}" in tree for name in _KUSTOMIZATION_NAMES[1:]):
        return "the overlay has a second kustomization file"
    raw = tree.get(f"{overlay}/kustomization.yaml")
    if raw is None:
        return "the overlay has no kustomization.yaml"
    try:
        documents = load_all(raw)
    except (yaml.YAMLError, NonFiniteNumberError) as error:
        return f"the overlay's kustomization is not readable here ({type(error).__name__})"
    if len(documents) != 1 or not isinstance(documents[0], dict):
        return "the overlay's kustomization is not one mapping"
    kustomization: dict[str, Any] = documents[0]
    extra_keys = set(kustomization) - HEADER_KEYS - {"resources", "patches"}
    if extra_keys:
        return f"the overlay sets {', '.join(sorted(extra_keys))}"
    header = {k: v for k, v in kustomization.items() if k in HEADER_KEYS}
    resources = kustomization.get("resources") or []
    patches = kustomization.get("patches") or []
    if not isinstance(resources, list) or not all(isinstance(r, str) for r in resources):
        return "the overlay's resources are not a list of paths"
    if not isinstance(patches, list) or not all(_plain_patch(p) for p in patches):
        return "a patch of the overlay is not a file with an optional group/version/kind/name target"
    return _assign(tree, overlay, header, resources, patches, build)


def _plain_patch(entry: Any) -> bool:
    if not isinstance(entry, dict) or set(entry) - {"path", "target"} or not isinstance(entry.get("path"), str):
        return False
    target = entry.get("target", {})
    plain = isinstance(target, dict) and not set(target) - _TARGET_KEYS
    return plain and all(isinstance(value, str) for value in target.values())


def _inside(path: str) -> bool:
    """A relative path that stays below the directory it is relative to."""
    parts = path.split("/")
    return bool(path) and not path.startswith("/") and ".." not in parts and "://" not in path


def _group_resources(resources: list[str]) -> tuple[dict[str, list[str]], list[str]] | str:
    """The overlay's resource entries by workflow (``../../base/<w>``, ``resources/<w>``) and
    the rest; a reason to build whole when an entry leaves the overlay."""
    workflows: dict[str, list[str]] = {}
    rest_resources: list[str] = []
    for entry in resources:
        if entry.startswith("../../base/") and _PLAIN_NAME.fullmatch(entry[len("../../base/") :]):
            workflows.setdefault(entry[len("../../base/") :], []).append(entry)
        elif entry.startswith("resources/") and _PLAIN_NAME.fullmatch(entry[len("resources/") :]):
            workflows.setdefault(entry[len("resources/") :], []).append(entry)
        elif _inside(entry):
            rest_resources.append(entry)
        else:
            return f"the resource entry {entry!r} leaves the overlay"
    problem = next(filter(None, map(workflow_slice_problem, workflows)), None)
    return (workflows, rest_resources) if problem is None else problem


def workflow_slice_problem(name: str) -> str | None:
    """Why workflow ``name``'s entries (``../../base/<name>``, ``resources/<name>``, patches
    under ``patches/<name>/``) cannot make a slice of their own, or None."""
    if not _PLAIN_NAME.fullmatch(name):
        return f"the workflow name {name!r} is not a plain directory name"
    if name == "extra":
        return "a workflow named 'extra' shares its patch directory with the environment's resources"
    return None


def _owned_files(tree: Tree, overlay: str, workflows: dict[str, list[str]]) -> dict[str, list[str]] | str:
    """The files each workflow's slice reads; a reason to build whole for a base that is not
    a kustomization of files only."""
    owned: dict[str, list[str]] = {name: [] for name in workflows}
    for name, entries in workflows.items():
        for entry in entries:
            directory = f"base/{name}" if entry.startswith("../../") else f"{overlay}/{entry}"
            listed = _files_of_list(tree, directory)
            if listed is None:
                return f"{directory} is not a kustomization of files only"
            owned[name].extend(listed)
    return owned


def _assign_patches(
    tree: Tree, overlay: str, patches: list[Any], owned: dict[str, list[str]]
) -> tuple[dict[str, list[Mapping[str, Any]]], list[Mapping[str, Any]]] | str:
    """The overlay's patches by the workflow under ``patches/<workflow>/`` (added to its
    files) and the rest; a reason to build whole for a patch that is not a file of the overlay."""
    slice_patches: dict[str, list[Mapping[str, Any]]] = {name: [] for name in owned}
    rest_patches: list[Mapping[str, Any]] = []
    for patch in patches:
        path = str(patch["path"])
        if not _inside(path) or f"{overlay}/{path}" not in tree:
            return f"the patch {path!r} is not a file of the overlay"
        if moves_identity(tree, f"{overlay}/{path}"):
            return f"the patch {path!r} may change an object's name, namespace or kind (followed into references)"
        first = path.split("/")[1] if path.startswith("patches/") and path.count("/") >= 2 else None
        if first in owned:
            slice_patches[first].append(patch)
            owned[first].append(f"{overlay}/{path}")
        else:
            rest_patches.append(patch)
    return slice_patches, rest_patches


def _assign(
    tree: Tree, overlay: str, header: Mapping[str, Any], resources: list[str], patches: list[Any], build: str
) -> SlicedOverlay | str:
    grouped = _group_resources(resources)
    if isinstance(grouped, str):
        return grouped
    workflows, rest_resources = grouped
    owned = _owned_files(tree, overlay, workflows)
    if isinstance(owned, str):
        return owned
    assigned = _assign_patches(tree, overlay, patches, owned)
    if isinstance(assigned, str):
        return assigned
    slice_patches, rest_patches = assigned
    claimed = {path for paths in owned.values() for path in paths}
    rest_files = sorted(p for p in tree if p.startswith(f"{overlay}/") and p not in claimed)
    rest_files.remove(f"{overlay}/kustomization.yaml")
    kustomizations = [path for path in rest_files if path.rsplit("/", 1)[-1] in _KUSTOMIZATION_NAMES]
    for path in kustomizations:
        if _may_leave_its_directory(tree[path]):
            return f"{path} may read files outside its directory"
    rest_renames = any(_kustomization_renames(tree, path) for path in kustomizations)
    header_json = _canonical(header)

    def make(name: str, entries: list[str], own_patches: list[Mapping[str, Any]], paths: Iterable[str]) -> Slice:
        reads = tuple(sorted(set(paths)))
        digest = hashlib.sha256()
        for part in (SLICE_FORMAT, build, header_json, _canonical(entries), _canonical(own_patches)):
            digest.update(f"{len(part)}:{part}".encode())
        for path in reads:
            digest.update(f"{len(path)}:{path}:{hashlib.sha256(tree[path]).hexdigest()}".encode())
        return Slice(name, tuple(entries), tuple(own_patches), reads, digest.hexdigest())

    rest = make(REST, rest_resources, rest_patches, rest_files)
    slices = [dataclasses.replace(rest, renames=rest_renames)]
    slices.extend(make(name, workflows[name], slice_patches[name], owned[name]) for name in workflows)
    return SlicedOverlay(overlay, header, tuple(slices))


_IDENTITY_PATHS = ("", "/", "/metadata", "/kind", "/apiVersion")


def builds_alone(tree: Tree, overlay: str, part: Slice) -> bool:
    """Whether ``part`` must be built in a kustomize process of its own.

    So it must when one of its patches can reach objects other than those its target selects:
    a patch without a target (kustomize finds its object by the patch's own kind and name) or
    a strategic-merge patch. Built alone, such a patch of another slice's object fails the
    build or selects nothing, and :func:`cross_slice_problem` sees the rest; built beside the
    other slice, it would change that slice's objects unseen.
    """
    for patch in part.patches:
        documents = _patch_documents(tree, f"{overlay}/{patch['path']}")
        if "target" not in patch or documents is None or len(documents) != 1 or not isinstance(documents[0], list):
            return True
    return False


def moves_identity(tree: Tree, path: str) -> bool:
    """Whether the patch file at ``path`` may change an object's kind, apiVersion, name or
    namespace: a JSON patch (RFC 6902) operation whose ``path`` or ``from`` reaches them, or a
    file that is neither a list of operations nor strategic-merge patches (kustomize's to judge).

    kustomize's name-reference transformer follows such a change into the objects naming the
    changed one (a Deployment's ConfigMap, a RoleBinding's subject; ``api/filters/nameref``)
    whatever slice they are in, so an overlay holding such a patch is built whole. A
    strategic-merge patch keeps its target's name and kind (a change needs ``options``, which
    :func:`plan_slices` refuses).
    """
    return _documents_move_identity(_patch_documents(tree, path))


def _documents_move_identity(documents: list[Any] | None) -> bool:
    """:func:`moves_identity` of a patch's YAML documents (None: not readable)."""
    if documents is None:
        return True
    if all(isinstance(document, dict) for document in documents):
        return False
    if len(documents) != 1 or not isinstance(documents[0], list):
        return True
    for operation in documents[0]:
        if not isinstance(operation, dict):
            return True
        for pointer in (operation.get("path"), operation.get("from")):
            if pointer is None:
                continue
            if not isinstance(pointer, str) or pointer in _IDENTITY_PATHS:
                return True
            if pointer.startswith(("/metadata/name", "/metadata/namespace")):
                return True
    return False


def _patch_documents(tree: Tree, path: str) -> list[Any] | None:
    """The YAML documents of the patch file at ``path``; None when it is not there or not readable here."""
    import yaml

    from gitops_agent.vocabulary.yaml import NonFiniteNumberError, load_all

    try:
        return load_all(tree[path])
    except (yaml.YAMLError, NonFiniteNumberError, KeyError):
        return None


def _files_of_list(tree: Tree, directory: str) -> list[str] | None:
    """The paths a directory's kustomization reads when it only lists files beside it, else None."""
    if any(f"{directory}/{name}" in tree for name in _KUSTOMIZATION_NAMES[1:]):
        return None
    kustomization = f"{directory}/kustomization.yaml"
    match = _LIST_OF_FILES.match(tree.get(kustomization, b""))
    if match is None:
        return None
    names = [line[2:].decode() for line in match.group(1).splitlines()]
    paths = [f"{directory}/{name}" for name in names]
    return [kustomization, *paths] if all(path in tree for path in paths) else None


def _may_leave_its_directory(kustomization: bytes) -> bool:
    """Whether a kustomization may name a path above its directory: a string of it holding a
    ``..`` path segment once YAML has read it (so ``"\\x2e\\x2e/base"`` and
    ``"\\u002e\\u002e/base"`` count too), or a file that is not readable here. Such a path may
    read another slice's files, which then are not part of this slice's key."""
    import yaml

    from gitops_agent.vocabulary.yaml import NonFiniteNumberError, load_all

    try:
        documents = load_all(kustomization)
    except (yaml.YAMLError, NonFiniteNumberError):
        return True
    return any(".." in re.split(r"[/\\]", text) for text in _strings(documents))


_RENAMING_FIELDS = frozenset(
    {
        "namePrefix",
        "nameSuffix",
        "configMapGenerator",
        "secretGenerator",
        "generators",
        "transformers",
        "replacements",
        "components",
        "helmCharts",
        "patchesJson6902",
    }
)
"""Kustomization fields that can give an object a name other than its file's."""


def _kustomization_renames(tree: Tree, path: str) -> bool:
    """Whether the kustomization at ``path`` may rename objects: a field of _RENAMING_FIELDS, or a
    ``patches`` entry with ``options`` or whose patch (inline or a file beside it) may change an
    object's identity (:func:`moves_identity`). Its ``patchesStrategicMerge`` cannot."""
    import yaml

    from gitops_agent.vocabulary.yaml import NonFiniteNumberError, load_all

    documents = _patch_documents(tree, path)
    if documents is None or len(documents) != 1 or not isinstance(documents[0], dict):
        return True
    kustomization = documents[0]
    if _RENAMING_FIELDS & set(kustomization):
        return True
    patches = kustomization.get("patches") or []
    if not isinstance(patches, list):
        return True
    directory = path.rsplit("/", 1)[0]
    for entry in patches:
        if not isinstance(entry, dict) or "options" in entry:
            return True
        if isinstance(entry.get("patch"), str):
            try:
                inline: list[Any] | None = load_all(entry["patch"].encode())
            except (yaml.YAMLError, NonFiniteNumberError):  # kustomize's to judge; count it as renaming
                inline = None
            if _documents_move_identity(inline):
                return True
        elif not isinstance(entry.get("path"), str) or moves_identity(tree, f"{directory}/{entry['path']}"):
            return True
    return False


def _strings(value: Any) -> Iterable[str]:
    """Every string in a YAML value, keys too."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _strings(key)
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


# kustomize's default ("legacy") output order, from api/internal/builtins/SortOrderTransformer.go
# and kyaml/resid (kustomize/api v0.21.1, kustomize v5.8.1).
ORDER_FIRST = (
    "Namespace",
    "ResourceQuota",
    "StorageClass",
    "CustomResourceDefinition",
    "ServiceAccount",
    "PodSecurityPolicy",
    "Role",
    "ClusterRole",
    "RoleBinding",
    "ClusterRoleBinding",
    "ConfigMap",
    "Secret",
    "Endpoints",
    "Service",
    "LimitRange",
    "PriorityClass",
    "PersistentVolume",
    "PersistentVolumeClaim",
    "Deployment",
    "StatefulSet",
    "CronJob",
    "PodDisruptionBudget",
)
ORDER_LAST = ("MutatingWebhookConfiguration", "ValidatingWebhookConfiguration")
_TYPE_ORDER = {
    **{kind: index - len(ORDER_FIRST) for index, kind in enumerate(ORDER_FIRST)},
    **{kind: 1 + index for index, kind in enumerate(ORDER_LAST)},
}


@dataclass(frozen=True)
class _Id:
    group: str
    version: str
    kind: str
    namespace: str
    name: str

    @classmethod
    def of(cls, obj: Manifest) -> _Id:
        api_version = str(obj.get("apiVersion") or "")
        group, _, version = api_version.rpartition("/")
        meta = obj.get("metadata")
        meta = meta if isinstance(meta, dict) else {}
        kind = str(obj.get("kind") or "")
        return cls(group, version, kind, str(meta.get("namespace") or ""), str(meta.get("name") or ""))

    def gvk_sort_string(self) -> str:
        return "_".join((self.group or "~G", self.version or "~V", self.kind or "~K"))

    def sort_string(self) -> str:
        gvk = ".".join((self.kind or "[noKind]", self.version or "[noVer]", self.group or "[noGrp]"))
        return "|".join((gvk, self.namespace or "~X", self.name or "~N"))


def _less(a: _Id, b: _Id) -> bool:
    if (a.group, a.version, a.kind) != (b.group, b.version, b.kind):
        first, second = _TYPE_ORDER.get(a.kind, 0), _TYPE_ORDER.get(b.kind, 0)
        if first != second:
            return first < second
        if a.kind == "Namespace" and b.kind == "Namespace" and (not a.group or not b.group):
            return a.gvk_sort_string() > b.gvk_sort_string()
        return a.gvk_sort_string() < b.gvk_sort_string()
    return a.sort_string() < b.sort_string()


def _compare(a: _Id, b: _Id) -> int:
    return -1 if _less(a, b) else (1 if _less(b, a) else 0)


def _compare_keyed(a: tuple[_Id, Manifest], b: tuple[_Id, Manifest]) -> int:
    return _compare(a[0], b[0])


def legacy_order(objects: Iterable[Manifest]) -> list[Manifest]:
    """``objects`` in the order ``kustomize build`` prints them by default (``--reorder legacy``):
    kinds in ORDER_FIRST, then the others, then ORDER_LAST; within a kind by group/version,
    then by ``Kind.version.group|namespace|name``."""
    keyed = [(_Id.of(obj), obj) for obj in objects]
    namespace_types = {(i.group, i.version) for i, _ in keyed if i.kind == "Namespace"}
    if len(namespace_types) > 1:  # kustomize orders these by a comparison no sort key expresses
        keyed.sort(key=functools.cmp_to_key(_compare_keyed))
    else:
        keyed.sort(
            key=lambda item: (_TYPE_ORDER.get(item[0].kind, 0), item[0].gvk_sort_string(), item[0].sort_string())
        )
    return [obj for _, obj in keyed]


_REFERRERS = {
    "RoleBinding": "ServiceAccount",
    "ClusterRoleBinding": "ServiceAccount",
    "MutatingWebhookConfiguration": "Service",
    "ValidatingWebhookConfiguration": "Service",
}
"""Kinds holding a name-and-namespace reference that kustomize's name-reference transformer
rewrites when the named object moves (api/internal/konfig/builtinpluginconsts/namereference.go)."""


def _references(obj: Manifest) -> list[tuple[str, str]]:
    kind = str(obj.get("kind") or "")
    if kind in ("RoleBinding", "ClusterRoleBinding"):
        subjects = obj.get("subjects") or []
        return [
            ("ServiceAccount", str(s.get("name")))
            for s in subjects
            if isinstance(s, dict) and s.get("kind") == "ServiceAccount"
        ]
    webhooks = obj.get("webhooks") or []
    names = []
    for hook in webhooks if isinstance(webhooks, list) else []:
        service = ((hook.get("clientConfig") or {}) if isinstance(hook, dict) else {}).get("service")
        if isinstance(service, dict):
            names.append(("Service", str(service.get("name"))))
    return names


def cross_slice_problem(slices: Sequence[Slice], objects: Sequence[Sequence[Manifest]]) -> str | None:
    """Why the built slices (``objects[i]`` of ``slices[i]``) may differ from the whole build,
    or None when each slice's objects are what the whole build makes of them."""
    return _problem([part.patches for part in slices], objects, [part.renames for part in slices], with_namespace=True)


def outline_problem(
    slices: Sequence[Slice], objects: Sequence[Sequence[Manifest]], outlines: Mapping[str, Sequence[Manifest]]
) -> str | None:
    """:func:`cross_slice_problem` of built slices (``objects[i]`` of ``slices[i]``) and of
    outlined ones: workflow slices that were not built, each given by the compiler's objects
    (workflow name → :func:`~gitops_agent.compile.environment.outline_workflow`).

    Outlined objects lack what kustomize adds (namespace, labels, images), and which of them a
    compiled patch targets is not known without compiling the patches, so the check is stricter:
    two objects are one identity when their group, kind and name are equal, whatever their
    namespace, and every outlined object counts as the target (group, kind, name) of a patch of
    its own slice. A compiled patch targets an object of its own workflow, so this returns None
    only where :func:`cross_slice_problem` of every slice built would return None too.
    """
    patches: list[Sequence[Mapping[str, Any]]] = [part.patches for part in slices]
    for name, outline in outlines.items():
        patches.append([{"path": f"patches/{name}/*", "target": _own_target(obj)} for obj in outline])
    renames = [part.renames for part in slices] + [False] * len(outlines)  # a workflow slice renames nothing
    return _problem(patches, [*objects, *outlines.values()], renames, with_namespace=False)


def _own_target(obj: Manifest) -> dict[str, str]:
    ident = _Id.of(obj)
    target = {"group": ident.group, "kind": ident.kind, "name": ident.name}
    return {field: value for field, value in target.items() if value}


def _problem(
    patches: Sequence[Sequence[Mapping[str, Any]]],
    objects: Sequence[Sequence[Manifest]],
    renames: Sequence[bool],
    *,
    with_namespace: bool,
) -> str | None:
    """The checks of :func:`cross_slice_problem`: ``patches[i]``, ``objects[i]`` and ``renames[i]``
    (whether its objects' names may not be their files') of slice ``i``; without
    ``with_namespace``, identities are compared by group, kind and name alone."""
    owner: dict[tuple[str, str, str, str], int] = {}
    by_name: dict[str, list[tuple[_Id, int]]] = {}
    for index, part in enumerate(objects):
        for obj in part:
            ident = _Id.of(obj)
            key = (ident.group, ident.kind, ident.namespace if with_namespace else "", ident.name)
            if key in owner:
                return f"{ident.kind} {ident.name} is in two slices"
            owner[key] = index
            by_name.setdefault(ident.name, []).append((ident, index))
    renamed = [(_Id.of(obj), at) for at, part in enumerate(objects) if renames[at] for obj in part]
    for index, own in enumerate(patches):
        for patch in own:
            target = patch.get("target")
            if target and _selects_elsewhere(target, index, by_name, renamed):
                return f"the patch {patch['path']} selects objects of another slice"
    for index, part in enumerate(objects):
        for obj in part:
            if str(obj.get("kind")) not in _REFERRERS:
                continue
            for kind, name in _references(obj):
                if any(i.kind == kind and at != index for i, at in by_name.get(name, ())):
                    return f"{_Id.of(obj).kind} {_Id.of(obj).name} names {kind} {name} of another slice"
    return None


def _selects_elsewhere(
    target: Mapping[str, str],
    index: int,
    by_name: Mapping[str, list[tuple[_Id, int]]],
    renamed: Sequence[tuple[_Id, int]] = (),
) -> bool:
    """Whether kustomize's selector ``target`` (anchored regular expressions, api/types/selector.go)
    selects an object outside slice ``index``. An expression Python may read otherwise than Go's
    RE2 (:func:`_read_alike`) or cannot read counts as yes. kustomize also selects an object by
    its original name (api/resmap/reswrangler.go ``Select``), so the objects ``renamed`` (of a
    slice whose names may not be their files') count whatever ``name`` the target gives."""
    if not all(_read_alike(value) for value in target.values()):
        return True
    name = target.get("name", "")
    plain = bool(name and _PLAIN_NAME.fullmatch(name))  # selects that name only: looked up, not matched
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # e.g. "possible nested set": Python may read it otherwise
            patterns = {f: re.compile(value) for f, value in target.items() if value and not (plain and f == "name")}
    except (re.error, Warning):
        return True
    candidates: Iterable[tuple[_Id, int]]
    candidates = by_name.get(name, ()) if plain else (item for items in by_name.values() for item in items)
    for ident, at in candidates:
        if at == index:
            continue
        values = {"group": ident.group, "version": ident.version, "kind": ident.kind, "name": ident.name}
        if all(pattern.fullmatch(values[field]) for field, pattern in patterns.items()):
            return True
    for ident, at in renamed:
        values = {"group": ident.group, "version": ident.version, "kind": ident.kind}
        if at != index and all(pattern.fullmatch(values[f]) for f, pattern in patterns.items() if f != "name"):
            return True
    return False


_COMMON_REGEX = re.compile(r"[A-Za-z0-9_.*+?|()^$\[\]-]*")


def _read_alike(pattern: str) -> bool:
    """Whether Python's ``re`` reads ``pattern`` as Go's RE2 (kustomize's) does: only letters,
    digits, ``_-.*+?|()^$`` and bracket sets, no POSIX class (``[[:alpha:]]``, RE2 only), no
    escape (``\\pL`` is RE2's, ``\\d`` is Unicode in Python), no ``{`` (RE2 reads ``a{,2}``
    literally, Python as a repetition) and no ``(?`` flag or group."""
    return _COMMON_REGEX.fullmatch(pattern) is not None and "[:" not in pattern and "(?" not in pattern
