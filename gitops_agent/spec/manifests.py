"""Manifests listed by an environment's ``resources:``: read as kustomize reads them,
checked before they reach git.

An entry is a manifest file, a directory of manifest files (``*.yaml``/``*.yml``, not
recursive) or a kustomize directory (one holding ``kustomization.yaml``; every file below
it is taken). Every YAML file is parsed with :data:`~gitops_agent.spec.yaml_positions.MANIFEST_LIMITS`
(16 MiB, sized for published install files) and the YAML rules of kustomize (tabs after
values, a BOM, CRLF line ends, ``---`` with comments and empty documents are fine).

Refused, each as a located :class:`~gitops_agent.errors.Diagnostic`:

- what must not enter git: a link out of the repository, a file of ``.git``, a ``Secret``
  with ``data``/``stringData``, a kustomize ``secretGenerator``;
- a duplicate key in a list Kubernetes merges by key (:mod:`gitops_agent.spec.list_keys`);
- published ``Namespace`` objects that cannot be folded (see :func:`fold_namespaces`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gitops_agent.errors import Diagnostic
from gitops_agent.spec.list_keys import duplicate_list_keys
from gitops_agent.spec.yaml_positions import MANIFEST_LIMITS, Document, YamlPath, load_yaml
from gitops_agent.vocabulary.labels import SSA_ANNOTATION, ApplyPolicy
from gitops_agent.vocabulary.objects import split_api_version

MANIFEST_SUFFIXES = (".yaml", ".yml")
KUSTOMIZATION_FILES = ("kustomization.yaml", "kustomization.yml", "Kustomization")
_DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?")

LocateEntry = Callable[[int, str], Diagnostic]
"""Where an entry of ``spec.resources`` is: (index, message) → a diagnostic."""


@dataclass(frozen=True)
class ManifestFile:
    """One file of a ``resources:`` entry.

    ``target`` is its path in the environment branch, relative to the overlay
    (``extra/<path in the repository>``); ``documents`` is empty for non-YAML files.
    """

    display: str
    target: str
    data: bytes
    documents: tuple[Document, ...]
    in_kustomization: bool


@dataclass(frozen=True)
class PublishedNamespace:
    """A ``v1 Namespace`` object found in a plain manifest file under ``resources:``."""

    name: str
    labels: Mapping[str, str]
    annotations: Mapping[str, str]
    document: Document
    path: YamlPath

    def diagnostic(self, below: YamlPath, message: str) -> Diagnostic:
        return self.document.diagnostic((*self.path, *below), message)


@dataclass(frozen=True)
class ResourceSet:
    """The files of an environment's ``resources:`` and the overlay entries naming them."""

    entries: tuple[str, ...] = ()
    files: tuple[ManifestFile, ...] = ()


@dataclass(frozen=True)
class NamespaceFold:
    """How published Namespaces fold into the environment's Namespace.

    ``labels``/``annotations``: what to add to the environment's Namespace; ``deleted``:
    names of published Namespaces the overlay deletes (by ``$patch: delete``, before
    kustomize's ``namespace:`` would rename them); ``same_name``: a published Namespace
    already has the environment's name, so the environment's Namespace is merged onto it
    as a patch instead of being a second object.
    """

    labels: Mapping[str, str] = field(default_factory=dict)
    annotations: Mapping[str, str] = field(default_factory=dict)
    deleted: tuple[str, ...] = ()
    same_name: bool = False


def read_resources(root: Path, resources: Sequence[str], locate: LocateEntry) -> tuple[ResourceSet, list[Diagnostic]]:
    """Every file of ``resources`` (paths relative to the repository ``root``), parsed and
    checked; problems are returned, never raised. Entries outside ``root`` or missing are
    reported through ``locate``."""
    root = root.resolve()
    entries: list[str] = []
    files: list[ManifestFile] = []
    problems: list[Diagnostic] = []
    for index, relative in enumerate(resources):
        try:
            found, entry_problems = _read_entry(root, index, relative, locate)
        except OSError as err:
            found, entry_problems = ([], []), [locate(index, f"{relative!r} cannot be read: {err.strerror}")]
        entries.extend(found[0])
        files.extend(found[1])
        problems.extend(entry_problems)
    return ResourceSet(tuple(entries), tuple(files)), problems


def _read_entry(
    root: Path, index: int, relative: str, locate: LocateEntry
) -> tuple[tuple[list[str], list[ManifestFile]], list[Diagnostic]]:
    source = (root / relative).resolve()
    if not source.is_relative_to(root):
        return ([], []), [locate(index, f"{relative!r} is outside the repository")]
    if not source.exists():
        return ([], []), [locate(index, f"{relative!r} does not exist")]
    if ".git" in source.relative_to(root).parts:
        return ([], []), [locate(index, f"{relative!r} is inside the repository's .git directory")]
    target = f"extra/{source.relative_to(root).as_posix()}"
    problems: list[Diagnostic] = []
    if source.is_file():
        return ([target], [_read_file(root, source, target, False, problems)]), problems
    if any((source / name).exists() for name in KUSTOMIZATION_FILES):
        paths = sorted(p for p in source.rglob("*") if p.is_file() or p.is_symlink())
        read = [_read_file(root, p, f"{target}/{p.relative_to(source).as_posix()}", True, problems) for p in paths]
        return ([target], read), problems
    manifests = sorted(p for p in source.iterdir() if p.suffix in MANIFEST_SUFFIXES and (p.is_file() or p.is_symlink()))
    if not manifests:
        return ([], []), [locate(index, f"{relative!r} holds no YAML manifests")]
    read = [_read_file(root, p, f"{target}/{p.name}", False, problems) for p in manifests]
    return ([f.target for f in read], read), problems


def _read_file(root: Path, path: Path, target: str, in_kustomization: bool, problems: list[Diagnostic]) -> ManifestFile:
    display = path.relative_to(root).as_posix() if path.is_relative_to(root) else path.as_posix()
    resolved = path.resolve()
    empty = ManifestFile(display, target, b"", (), in_kustomization)
    if not resolved.is_relative_to(root):
        problems.append(Diagnostic(display, 0, 0, "<root>", "a link to a file outside the repository"))
        return empty
    if ".git" in resolved.relative_to(root).parts:
        problems.append(Diagnostic(display, 0, 0, "<root>", "a file of the repository's .git directory"))
        return empty
    if resolved.stat().st_size > MANIFEST_LIMITS.max_bytes:
        problems.append(Diagnostic(display, 1, 1, "<root>", f"file is larger than {MANIFEST_LIMITS.max_bytes} bytes"))
        return empty
    data = resolved.read_bytes()
    if path.suffix not in MANIFEST_SUFFIXES and path.name != "Kustomization":
        return ManifestFile(display, target, data, (), in_kustomization)
    documents, parse_problems = load_yaml(data, display, MANIFEST_LIMITS)
    problems.extend(parse_problems)
    if not parse_problems:
        for document in documents:
            problems.extend(check_manifest(document))
    return ManifestFile(display, target, data, tuple(documents), in_kustomization)


def check_manifest(document: Document) -> list[Diagnostic]:
    """Problems of one manifest document: secret values, a ``secretGenerator``, duplicate
    keys in lists Kubernetes merges by key, an unknown ``gitops-agent.io/ssa`` policy."""
    value = document.data
    if not isinstance(value, dict):
        return []
    problems: list[Diagnostic] = []
    for obj, at in _objects(value):
        if obj.get("kind") == "Secret" and (obj.get("data") or obj.get("stringData")):
            problems.append(
                document.diagnostic(
                    (*at, "data" if obj.get("data") else "stringData"),
                    "a Secret with values must not be committed to git; reference it "
                    "(SealedSecret, ExternalSecret) or create it outside gitops-agent",
                )
            )
        policy = ((obj.get("metadata") or {}).get("annotations") or {}).get(SSA_ANNOTATION)
        if policy is not None and str(policy).lower() not in {p.value.lower() for p in ApplyPolicy}:
            problems.append(
                document.diagnostic(
                    (*at, "metadata", "annotations", SSA_ANNOTATION),
                    f"{policy!r} is not one of {', '.join(p.value for p in ApplyPolicy)}",
                )
            )
        for later, first, what in duplicate_list_keys(obj):
            line = document.position((*at, *first))[0]
            problems.append(document.diagnostic((*at, *later), f"duplicate {what} (first at line {line})"))
    if value.get("secretGenerator"):
        problems.append(document.diagnostic(("secretGenerator",), "a secretGenerator would put secret values in git"))
    return problems


def _objects(value: dict[str, Any]) -> Iterator[tuple[dict[str, Any], YamlPath]]:
    """The object itself, or each item of a ``List`` kind (kustomize expands them)."""
    items = value.get("items")
    kind = value.get("kind")
    if isinstance(kind, str) and kind.endswith("List") and isinstance(items, list):
        for index, item in enumerate(items):
            if isinstance(item, dict):
                yield item, ("items", index)
    else:
        yield value, ()


def published_namespaces(resources: ResourceSet) -> list[PublishedNamespace]:
    """``v1 Namespace`` objects in the plain manifest files of ``resources`` (files of a
    kustomize directory are built by their own kustomization and are not searched)."""
    found: list[PublishedNamespace] = []
    for file in resources.files:
        if file.in_kustomization:
            continue
        for document in file.documents:
            if not isinstance(document.data, dict):
                continue
            for obj, at in _objects(document.data):
                if obj.get("kind") != "Namespace" or obj.get("apiVersion") != "v1":
                    continue
                metadata = obj.get("metadata")
                metadata = metadata if isinstance(metadata, dict) else {}
                found.append(
                    PublishedNamespace(
                        name=str(metadata.get("name", "")),
                        labels=_strings(metadata.get("labels")),
                        annotations=_strings(metadata.get("annotations")),
                        document=document,
                        path=at,
                    )
                )
    return found


ObjectId = tuple[str, str, str]
"""(apiVersion group, kind, name): what kustomize's resource IDs come down to once the
overlay's ``namespace:`` put every namespaced object into one namespace."""


def object_ids(resources: ResourceSet) -> list[tuple[ObjectId, Document, YamlPath]]:
    """The ID, document and path of every object in the plain manifest files of
    ``resources`` (Namespaces aside: they fold, see :func:`fold_namespaces`)."""
    found = []
    for file in resources.files:
        if file.in_kustomization:
            continue
        for document in file.documents:
            for obj, at in _objects(document.data) if isinstance(document.data, dict) else ():
                metadata = obj.get("metadata")
                name = metadata.get("name") if isinstance(metadata, dict) else None
                kind, api_version = obj.get("kind"), obj.get("apiVersion")
                if not (isinstance(name, str) and isinstance(kind, str) and isinstance(api_version, str)):
                    continue
                if kind != "Namespace":
                    found.append(((split_api_version(api_version)[0], kind, name), document, at))
    return found


def duplicate_objects(
    resources: ResourceSet, namespace: str, generated: Mapping[ObjectId, str] | None = None
) -> list[Diagnostic]:
    """Objects that would collide in the overlay: the same group, kind and name twice in
    the manifests (kustomize: "may not add resource with an already registered id", or,
    when they sat in different namespaces, "namespace transformation produces ID
    conflict"), or an object a workflow generates (``generated``: ID → workflow name)."""
    problems = []
    first: dict[ObjectId, tuple[Document, YamlPath]] = {}
    for object_id, document, at in object_ids(resources):
        what = f"{object_id[1]} {object_id[2]!r}"
        if generated and object_id in generated:
            message = f"{what} is also generated by workflow {generated[object_id]!r}"
            problems.append(document.diagnostic((*at, "metadata", "name"), message))
        elif object_id in first:
            other, other_at = first[object_id]
            where = f"{other.file}:{other.position((*other_at, 'metadata', 'name'))[0]}"
            message = f"{what} is also defined at {where} (both land in namespace {namespace!r})"
            problems.append(document.diagnostic((*at, "metadata", "name"), message))
        else:
            first[object_id] = (document, at)
    return problems


BINDING_KINDS = ("ClusterRoleBinding", "RoleBinding")


def subjects_in(resources: ResourceSet, namespaces: Sequence[str]) -> list[tuple[str, str, int]]:
    """(kind, name, subject index) of every ``rbac.authorization.k8s.io/v1`` binding subject
    in the plain manifest files of ``resources`` whose ``namespace`` is one of
    ``namespaces``. kustomize's ``namespace:`` moves such a subject only when the set's
    objects name that namespace themselves, so a published install whose objects carry no
    namespace (Argo CD's) keeps ClusterRoleBindings to ServiceAccounts that do not exist."""
    found: list[tuple[str, str, int]] = []
    wanted = set(namespaces)
    for file in resources.files:
        if file.in_kustomization:
            continue
        for document in file.documents:
            for obj, _ in _objects(document.data) if isinstance(document.data, dict) else ():
                if obj.get("kind") not in BINDING_KINDS or obj.get("apiVersion") != "rbac.authorization.k8s.io/v1":
                    continue
                name = obj.get("metadata", {}).get("name") if isinstance(obj.get("metadata"), dict) else None
                subjects = obj.get("subjects")
                for index, subject in enumerate(subjects if isinstance(subjects, list) else []):
                    if isinstance(name, str) and isinstance(subject, dict) and subject.get("namespace") in wanted:
                        found.append((str(obj["kind"]), name, index))
    return found


def _strings(value: Any) -> dict[str, str]:
    return {str(k): str(v) for k, v in value.items()} if isinstance(value, dict) else {}


def fold_namespaces(
    namespace: str, own_labels: Mapping[str, str], published: Sequence[PublishedNamespace]
) -> tuple[NamespaceFold, list[Diagnostic]]:
    """Fold ``published`` Namespaces into the environment's Namespace ``namespace``.

    The overlay sets kustomize's ``namespace:``, which moves every namespaced object of
    the manifest set into the environment's namespace and renames every ``Namespace``
    object to it (two then collide: "namespace transformation produces ID conflict"). So a
    published Namespace can only mean the environment's: its labels and annotations (for
    example ``pod-security.kubernetes.io/enforce``) are added to the environment's
    Namespace, the environment's own labels (``own_labels``) winning, and the published
    object is left out of the build. Refused: a name that is not a DNS label, the same
    Namespace twice, and two published Namespaces giving one key different values.
    """
    problems: list[Diagnostic] = []
    merged: dict[str, dict[str, str]] = {"labels": {}, "annotations": {}}
    setters: dict[tuple[str, str], PublishedNamespace] = {}
    first: dict[str, PublishedNamespace] = {}
    for item in published:
        if not _DNS_LABEL.fullmatch(item.name):
            problems.append(item.diagnostic(("metadata", "name"), f"Namespace name {item.name!r} is not a DNS label"))
        elif item.name in first:
            message = f"Namespace {item.name!r} is also defined at {_where(first[item.name])}"
            problems.append(item.diagnostic(("metadata", "name"), message))
        else:
            first[item.name] = item
            own = {"labels": own_labels, "annotations": {}}
            for section in ("labels", "annotations"):
                values = {k: v for k, v in getattr(item, section).items() if k not in own[section]}
                problems.extend(_merge_values(namespace, item, section, values, merged[section], setters))
    fold = NamespaceFold(
        labels=dict(sorted(merged["labels"].items())),
        annotations=dict(sorted(merged["annotations"].items())),
        deleted=tuple(sorted(name for name in first if name != namespace)),
        same_name=namespace in first,
    )
    return fold, problems


def _where(item: PublishedNamespace) -> str:
    return f"{item.document.file}:{item.document.position(item.path)[0]}"


def _merge_values(
    namespace: str,
    item: PublishedNamespace,
    section: str,
    values: Mapping[str, str],
    merged: dict[str, str],
    setters: dict[tuple[str, str], PublishedNamespace],
) -> list[Diagnostic]:
    """Add ``values`` to ``merged``; a key another Namespace set differently is a problem."""
    problems = []
    for key, value in sorted(values.items()):
        previous = setters.get((section, key))
        if previous is not None and merged[key] != value:
            problems.append(
                item.diagnostic(
                    ("metadata", section, key),
                    f"Namespace {item.name!r} sets {value!r}, Namespace {previous.name!r} at {_where(previous)} "
                    f"sets {merged[key]!r}; both fold into the environment's Namespace {namespace!r}",
                )
            )
            continue
        setters[(section, key)] = item
        merged[key] = value
    return problems
