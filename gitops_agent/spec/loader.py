"""Load a repository's specs: read files, validate each document, cross-check, build.

Which files: ``workflows/*.yaml|*.yml`` and ``environments/*.yaml|*.yml`` under the
repository, or only the given ``paths`` (files, or directories searched recursively for
``*.yaml``/``*.yml``, hidden directories skipped). Every document is classified by its
``kind``, wherever it lives. When ``paths`` are given, names they refer to (an
environment's workflows, for instance) are also looked up in the repository's standard
directories, but only problems in the given files are reported and only their documents
make up the returned :class:`SpecSet`.

Environment ``overrides`` are merged onto the workflow's raw spec by name (maps merge
recursively, lists and scalars replace, ``null`` deletes a key) and the result is
validated again as a workflow; problems point into the environment file. An override may
name only existing workflows, tasks and services (a typo cannot invent a task); it may add
variants.

Per-file work is done once per content: what depends on one file alone (parsing, the JSON
Schema, the per-document semantic checks) is a :class:`CheckedFile`, remembered in the
process by the file's display path and the SHA-256 of its bytes (the newest
:data:`MEMO_FILES`), and optionally in a :class:`FileStore` (the on-disk cache of
:mod:`gitops_agent.spec.cache`). Loading a second tree in the same process — ``plan``'s
base and head — so re-checks only the files that differ. What spans files (duplicate
names and branches, an environment's references to workflows and resources, overrides,
Deployment/Service name clashes) is checked over the whole set on every load.
"""

from __future__ import annotations

import copy
import hashlib
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from gitops_agent.errors import Diagnostic, SpecError
from gitops_agent.spec.build import build_environment, build_workflow
from gitops_agent.spec.manifests import duplicate_objects, fold_namespaces, published_namespaces, read_resources
from gitops_agent.spec.model import Environment, SpecSet, Workflow, frozen_map
from gitops_agent.spec.schema_check import check_value
from gitops_agent.spec.semantic_check import check_environment, check_workflow
from gitops_agent.spec.yaml_positions import Document, YamlPath, format_path, load_yaml
from gitops_agent.vocabulary.labels import MANAGED_BY_LABEL, MANAGED_BY_VALUE, NAME_LABEL

API_VERSION = "gitops-agent.io/v1alpha1"
KINDS = {"Workflow": "workflow", "Environment": "environment"}
SPEC_DIRS = ("workflows", "environments")
SUFFIXES = (".yaml", ".yml")


@dataclass(frozen=True)
class ValidDocument:
    """One validated spec document: its kind (``workflow``/``environment``), name, source
    file (as shown in diagnostics) and plain data."""

    kind: str
    name: str
    source: str
    data: dict[str, Any]


@dataclass(frozen=True)
class CheckedDocument:
    """One document of a spec file with a known kind, and the problems found in it alone
    (JSON Schema, semantic checks); ``name`` is None when ``metadata.name`` is not a string."""

    document: Document
    kind: str
    name: str | None
    problems: tuple[Diagnostic, ...]


@dataclass(frozen=True)
class CheckedFile:
    """What one spec file says on its own: its documents of a known kind, and the file's
    other problems (YAML errors, documents of no known kind, an empty file)."""

    documents: tuple[CheckedDocument, ...]
    problems: tuple[Diagnostic, ...]


class FileStore(Protocol):
    """A second level behind the in-process memo (e.g. on disk), keyed like it by a spec
    file's display path and the SHA-256 (hex) of its bytes."""

    def get(self, display: str, digest: str) -> CheckedFile | None: ...

    def put(self, display: str, digest: str, checked: CheckedFile) -> None:
        """Keep ``checked`` unless it is kept already."""


MEMO_FILES = 4096
"""Checked files the process remembers (least recently used dropped first): a
repository of 600 workflows, at two revisions, fits several times over."""

_memo: OrderedDict[tuple[str, str], CheckedFile] = OrderedDict()
_memo_lock = threading.Lock()


def clear_memo() -> None:
    """Forget every checked file of this process."""
    with _memo_lock:
        _memo.clear()


def check_file(display: str, raw: bytes) -> CheckedFile:
    """Parse one spec file's bytes and check each document on its own (kind, JSON Schema,
    semantic checks); ``display`` is the file as diagnostics name it. Never raises for bad
    input: every problem is a :class:`Diagnostic`."""
    documents, problems = load_yaml(raw, display)
    present = [d for d in documents if d.data is not None]
    if not present and not problems:
        problems.append(Diagnostic(display, 1, 1, "<root>", "file contains no YAML document"))
    checked: list[CheckedDocument] = []
    for document in present:
        item = _classify(document, problems)
        if item is not None:
            checked.append(CheckedDocument(item.document, item.kind, item.name, tuple(item.problems)))
    return CheckedFile(tuple(checked), tuple(problems))


def checked_file(display: str, raw: bytes, store: FileStore | None = None) -> CheckedFile:
    """:func:`check_file`, done once per content: from the process's memo, else from
    ``store``, else checked now and remembered in both."""
    key = (display, hashlib.sha256(raw).hexdigest())
    with _memo_lock:
        found = _memo.get(key)
        if found is not None:
            _memo.move_to_end(key)
    if found is not None:
        if store is not None:
            store.put(*key, found)  # checked in memory for another caller: keep it on disk too
        return found
    found = store.get(*key) if store is not None else None
    if found is None:
        found = check_file(display, raw)
        if store is not None:
            store.put(*key, found)
    with _memo_lock:
        _memo[key] = found
        while len(_memo) > MEMO_FILES:
            _memo.popitem(last=False)
    return found


@dataclass
class _Loaded:
    """One document that has a known kind, with its own diagnostics."""

    document: Document
    kind: str
    name: str | None
    problems: list[Diagnostic] = field(default_factory=list)

    @property
    def data(self) -> dict[str, Any]:
        data: dict[str, Any] = self.document.data
        return data

    def report(self, path: YamlPath, message: str, key: bool) -> Diagnostic:
        return self.document.diagnostic(path, message, key=key)


def merge_override(base: Any, override: Any) -> Any:
    """``override`` merged onto ``base``: maps recursively, ``None`` deletes, rest replaces."""
    if isinstance(base, dict) and isinstance(override, dict):
        merged = copy.deepcopy(base)
        for key, value in override.items():
            if value is None:
                merged.pop(key, None)
            elif key in merged:
                merged[key] = merge_override(merged[key], value)
            else:
                merged[key] = _without_nulls(copy.deepcopy(value))
        return merged
    return _without_nulls(copy.deepcopy(override))


def _without_nulls(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_nulls(v) for k, v in value.items() if v is not None}
    return value


def _display(repo: Path, file: Path) -> str:
    return _relative(file, file.resolve(), repo.resolve())


def _relative(file: Path, resolved: Path, root: Path) -> str:
    """``file`` as diagnostics name it: relative to the resolved repository ``root``."""
    try:
        return resolved.relative_to(root).as_posix()
    except ValueError:
        return file.as_posix()


def _spec_files(directory: Path, *, recursive: bool) -> list[Path]:
    if not directory.is_dir():
        return []
    found = directory.rglob("*") if recursive else directory.glob("*")
    return sorted(
        p
        for p in found
        if p.suffix in SUFFIXES
        and p.is_file()
        and not any(part.startswith(".") for part in p.relative_to(directory).parts)
    )


def spec_files(repo: Path) -> list[Path]:
    """The repository's standard spec files: ``workflows/`` then ``environments/``, sorted."""
    return [f for d in SPEC_DIRS for f in _spec_files(repo / d, recursive=False)]


def _expand(repo: Path, paths: Sequence[Path]) -> tuple[list[Path], list[Diagnostic]]:
    files: list[Path] = []
    problems: list[Diagnostic] = []
    for raw in paths:
        path = raw if raw.is_absolute() else repo / raw
        try:
            if path.is_dir():
                files.extend(_spec_files(path, recursive=True))
            elif path.is_file():
                files.append(path)
            else:
                problems.append(Diagnostic(_display(repo, path), 0, 0, "<root>", "no such file"))
        except OSError as err:  # a name too long, a loop of symlinks, no permission …
            problems.append(Diagnostic(_display(repo, path), 0, 0, "<root>", f"cannot read path: {err.strerror}"))
    unique: dict[Path, Path] = {}
    for file in files:
        unique.setdefault(file.resolve(), file)
    return list(unique.values()), problems


def _read(display: str, file: Path, store: FileStore | None = None) -> tuple[list[_Loaded], list[Diagnostic]]:
    """The file's documents (fresh :class:`_Loaded`, for cross-file problems to join) and problems."""
    try:
        raw = file.read_bytes()
    except OSError as err:
        return [], [Diagnostic(display, 0, 0, "<root>", f"cannot read file: {err.strerror}")]
    checked = checked_file(display, raw, store)
    loaded = [_Loaded(d.document, d.kind, d.name, list(d.problems)) for d in checked.documents]
    return loaded, list(checked.problems)


def locate(repo: Path, source: str, kind: str, name: str, path: YamlPath, message: str) -> Diagnostic:
    """A diagnostic at ``path`` of the ``kind`` document named ``name`` in ``source`` (a
    display path relative to ``repo``), for a problem found after loading — e.g. a query
    Prometheus refuses. A path the file does not hold points at its nearest ancestor."""
    loaded, _ = _read(_display(repo, repo / source), repo / source)
    for item in loaded:
        if item.kind == kind and item.name == name:
            return item.document.diagnostic(path, message)
    return Diagnostic(source, 0, 0, format_path(path), message)


def _classify(document: Document, problems: list[Diagnostic]) -> _Loaded | None:
    data = document.data
    if not isinstance(data, dict):
        problems.append(
            document.diagnostic((), "a spec document must be a mapping with apiVersion, kind, metadata and spec")
        )
        return None
    if data.get("apiVersion") != API_VERSION:
        if "apiVersion" in data:
            message = f"unknown apiVersion (expected {API_VERSION!r})"
        else:
            message = f"required field 'apiVersion' is missing (expected {API_VERSION!r})"
        problems.append(document.diagnostic(("apiVersion",), message))
        return None
    kind = data.get("kind")
    if not isinstance(kind, str) or kind not in KINDS:
        message = (
            "unknown kind (expected Workflow or Environment)"
            if "kind" in data
            else "required field 'kind' is missing (Workflow or Environment)"
        )
        problems.append(document.diagnostic(("kind",), message))
        return None
    metadata = data.get("metadata")
    name = metadata.get("name") if isinstance(metadata, dict) else None
    item = _Loaded(document, KINDS[kind], name if isinstance(name, str) else None)
    item.problems.extend(check_value(data, item.kind, item.report))
    checker = check_workflow if item.kind == "workflow" else check_environment
    item.problems.extend(checker(data, item.report))
    return item


def _duplicates(items: list[_Loaded], what: str, key: Callable[[_Loaded], Any], path: YamlPath) -> None:
    groups: dict[Any, list[_Loaded]] = {}
    for item in items:
        value = key(item)
        if isinstance(value, str):
            groups.setdefault(value, []).append(item)
    for value, group in groups.items():
        if len(group) < 2:
            continue
        for item in group:
            others = ", ".join(f"{o.document.file}:{o.document.position(path)[0]}" for o in group if o is not item)
            item.problems.append(item.report(path, f"{what} {value!r} is also defined at {others}", False))


def _cross_check(repo: Path, workflows: list[_Loaded], environments: list[_Loaded]) -> None:
    by_name = {w.name: w for w in workflows if w.name}
    _duplicates(workflows, "workflow", lambda w: w.name, ("metadata", "name"))
    _duplicates(environments, "environment", lambda e: e.name, ("metadata", "name"))
    _duplicates(
        environments,
        "branch",
        lambda e: e.data.get("spec", {}).get("branch") if isinstance(e.data.get("spec"), dict) else None,
        ("spec", "branch"),
    )
    for env in environments:
        spec = env.data.get("spec")
        if isinstance(spec, dict):
            _check_references(repo, env, spec, by_name)
    _check_service_names(workflows, environments)


def _check_references(repo: Path, env: _Loaded, spec: Mapping[str, Any], by_name: Mapping[str, _Loaded]) -> None:
    """What an environment names exists: its workflows, its resources, the workflows it overrides."""
    selected = spec.get("workflows")
    if isinstance(selected, list):
        for index, name in enumerate(selected):
            if isinstance(name, str) and name not in by_name:
                env.problems.append(env.report(("spec", "workflows", index), f"unknown workflow {name!r}", False))
    resources = spec.get("resources")
    for index, entry in enumerate(resources if isinstance(resources, list) else []):
        if isinstance(entry, str) and not entry.startswith("/") and not (repo / entry).exists():
            env.problems.append(
                env.report(("spec", "resources", index), f"{entry!r} does not exist in the repository", False)
            )
    overrides = spec.get("overrides")
    if not isinstance(overrides, dict):
        return
    for name, override in overrides.items():
        if isinstance(selected, list) and name in by_name and name not in selected:
            message = f"workflow {name!r} is not deployed here (not in spec.workflows)"
            env.problems.append(env.report(("spec", "overrides", name), message, True))
        _check_override(env, name, override, by_name)


def _check_override(env: _Loaded, name: str, override: Any, by_name: Mapping[str, _Loaded]) -> None:
    at: YamlPath = ("spec", "overrides", name)
    workflow = by_name.get(name)
    if workflow is None:
        env.problems.append(env.report(at, f"unknown workflow {name!r}", True))
        return
    if not isinstance(override, dict):
        return
    raw_spec = workflow.data.get("spec")
    raw_spec = raw_spec if isinstance(raw_spec, dict) else {}
    invented = False
    for section, what in (("tasks", "task"), ("services", "service")):
        entries = override.get(section)
        known = raw_spec.get(section)
        known = known if isinstance(known, dict) else {}
        for entry in entries if isinstance(entries, dict) else {}:
            if entry not in known:
                invented = True
                env.problems.append(
                    env.report(
                        (*at, section, entry),
                        f"workflow {name!r} has no {what} {entry!r} (overrides cannot add {section})",
                        True,
                    )
                )
    if invented or workflow.problems:
        return
    merged = merged_document(workflow.data, override)

    def report(path: YamlPath, message: str, key: bool) -> Diagnostic:
        return _override_diagnostic(env.document, name, path, message, key)

    env.problems.extend(check_value(merged, "workflow", report))
    env.problems.extend(check_workflow(merged, report))


def merged_document(workflow: Mapping[str, Any], override: Any) -> dict[str, Any]:
    """The workflow document with ``override`` merged onto its ``spec``."""
    merged = dict(workflow)
    merged["spec"] = merge_override(workflow.get("spec") or {}, override)
    return merged


def _override_diagnostic(
    env: Document | None, workflow: str, path: YamlPath, message: str, key: bool, source: str = ""
) -> Diagnostic:
    base: YamlPath = ("spec", "overrides", workflow)
    target = (*base, *path[1:]) if path[:1] == ("spec",) else base
    if env is None:
        return Diagnostic(source, 0, 0, format_path(target), message)
    probe = target
    while len(probe) > len(base) and probe not in env.keys and probe not in env.values:
        probe = probe[:-1]
    line, col = env.position(probe, key=key or probe != target)
    return Diagnostic(env.file, line, col, format_path(target), message)


def _check_service_names(workflows: list[_Loaded], environments: list[_Loaded]) -> None:
    """Deployments and Services are named after services: no clash within an environment."""
    reported: set[tuple[int, YamlPath]] = set()
    for env in environments:
        spec = env.data.get("spec")
        selected = spec.get("workflows") if isinstance(spec, dict) else None
        chosen = [w for w in workflows if w.name and (not isinstance(selected, list) or w.name in selected)]
        owners: dict[str, list[tuple[_Loaded, YamlPath]]] = {}
        for workflow in chosen:
            spec_w = workflow.data.get("spec")
            services = spec_w.get("services") if isinstance(spec_w, dict) else None
            for service, body in (services if isinstance(services, dict) else {}).items():
                path: YamlPath = ("spec", "services", service)
                owners.setdefault(service, []).append((workflow, path))
                variants = body.get("variants") if isinstance(body, dict) else None
                for variant in variants if isinstance(variants, dict) else {}:
                    owners.setdefault(f"{service}-{variant}", []).append((workflow, (*path, "variants", variant)))
                exposed = [k for k in ("route", "ingress") if isinstance(body, dict) and isinstance(body.get(k), dict)]
                if variants and exposed:
                    owners.setdefault(f"{service}-main", []).append((workflow, (*path, exposed[0])))
        for deployment, places in owners.items():
            workflows_involved = {w.name for w, _ in places}
            if len(workflows_involved) < 2:
                continue
            for workflow, path in places:
                if (id(workflow), path) in reported:
                    continue
                reported.add((id(workflow), path))
                others = ", ".join(
                    f"workflow {w.name!r} ({w.document.file}:{w.document.position(p, key=True)[0]})"
                    for w, p in places
                    if w is not workflow
                )
                workflow.problems.append(
                    workflow.report(
                        path,
                        f"Deployment/Service name {deployment!r} is also produced by {others}; "
                        f"both are deployed by environment {env.name!r}",
                        True,
                    )
                )


def _collect(
    repo: Path, paths: Sequence[Path] | None, store: FileStore | None
) -> tuple[list[_Loaded], set[str], list[Diagnostic]]:
    """Every loaded document, the display names of the files to report on, and problems."""
    standard = spec_files(repo)
    problems: list[Diagnostic] = []
    if paths is None:
        given = standard
    else:
        given, problems = _expand(repo, paths)
    root = repo.resolve()
    resolved = {f: f.resolve() for f in (*given, *standard)}  # each file resolved once
    given_keys = {resolved[f] for f in given}
    files = given + [f for f in standard if resolved[f] not in given_keys]
    loaded: list[_Loaded] = []
    reported = {_relative(f, resolved[f], root) for f in given}
    for file in files:
        items, file_problems = _read(_relative(file, resolved[file], root), file, store)
        loaded.extend(items)
        problems.extend(p for p in file_problems if p.file in reported)
    return loaded, reported, problems


def _check_resources(repo: Path, env: _Loaded) -> None:
    """Read the manifests of an environment's ``resources:`` as ``compile`` will (see
    :mod:`gitops_agent.spec.manifests`); their problems join the environment's."""
    spec = env.data.get("spec")
    resources = spec.get("resources") if isinstance(spec, dict) else None
    namespace = spec.get("namespace") if isinstance(spec, dict) else None
    if not isinstance(resources, list) or not all(isinstance(r, str) for r in resources):
        return
    if any(p.field.startswith("spec.resources") for p in env.problems):
        return  # already reported (missing, outside the repository …)

    def locate(index: int, message: str) -> Diagnostic:
        return env.report(("spec", "resources", index), message, False)

    found, problems = read_resources(repo, resources, locate)
    env.problems.extend(problems)
    if isinstance(namespace, str) and not problems:
        own = {NAME_LABEL: namespace, MANAGED_BY_LABEL: MANAGED_BY_VALUE}
        env.problems.extend(fold_namespaces(namespace, own, published_namespaces(found))[1])
        env.problems.extend(duplicate_objects(found, namespace))


def _diagnose(
    repo: Path, paths: Sequence[Path] | None, *, manifests: bool = False, store: FileStore | None = None
) -> tuple[list[_Loaded], list[Diagnostic]]:
    loaded, reported_files, problems = _collect(repo, paths, store)
    workflows = [item for item in loaded if item.kind == "workflow"]
    environments = [item for item in loaded if item.kind == "environment"]
    _cross_check(repo, workflows, environments)
    if manifests:
        for env in environments:
            if env.document.file in reported_files:
                _check_resources(repo, env)
    for item in loaded:
        if item.document.file in reported_files:
            problems.extend(item.problems)
    wanted = [item for item in loaded if item.document.file in reported_files]
    return wanted, sorted(set(problems), key=lambda d: (d.file, d.line, d.col, d.field, d.message))


def validate_paths(repo: Path, paths: Sequence[Path] | None = None) -> list[Diagnostic]:
    """Every problem in the given files (all spec files of ``repo`` when None), sorted.

    Unlike :func:`load_specs`, this also reads the manifests each given environment lists
    under ``resources:`` and reports their problems (secret values, duplicate list keys,
    Namespaces that cannot fold, YAML errors) with their own file, line and column.
    """
    return _diagnose(repo, paths, manifests=True)[1]


def load_specs(repo: Path, paths: Sequence[Path] | None = None, *, store: FileStore | None = None) -> SpecSet:
    """Load, validate and build the repository's specs; :class:`SpecError` lists every problem.

    Files checked before in this process (same display path, same bytes), in any tree,
    are not parsed or checked again (see :func:`checked_file`); ``store`` adds a second level.
    """
    return spec_set(validated_documents(repo, paths, store=store))


def validated_documents(
    repo: Path, paths: Sequence[Path] | None = None, *, store: FileStore | None = None
) -> list[ValidDocument]:
    """Every spec document of ``repo`` (or of ``paths``), validated and cross-checked, in
    load order; :class:`SpecError` lists every problem. Each document's ``data`` is the
    caller's own copy."""
    loaded, diagnostics = _diagnose(repo, paths, store=store)
    if diagnostics:
        raise SpecError(diagnostics)
    documents: list[ValidDocument] = []
    for item in loaded:
        assert item.name is not None
        documents.append(ValidDocument(item.kind, item.name, item.document.file, _plain_copy(item.data)))
    return documents


def _plain_copy(value: Any) -> Any:
    """A deep copy of parsed YAML (dicts, lists, immutable scalars), several times faster
    than :func:`copy.deepcopy`: the memo's documents are shared, their copies are not."""
    if isinstance(value, dict):
        return {k: _plain_copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain_copy(v) for v in value]
    return value


def spec_set(documents: Sequence[ValidDocument]) -> SpecSet:
    """The typed model of validated documents (see :func:`validated_documents`)."""
    workflows: dict[str, Workflow] = {}
    environments: dict[str, Environment] = {}
    raw: dict[str, Any] = {}
    for item in documents:
        if item.kind == "workflow":
            workflows[item.name] = build_workflow(item.data, item.source)
            raw[item.name] = _plain_copy(item.data.get("spec") or {})
        else:
            environments[item.name] = build_environment(item.data, item.source)
    return SpecSet(
        workflows=frozen_map(workflows),
        environments=frozen_map(environments),
        raw_workflows=frozen_map(raw),
    )


def effective_workflow(specs: SpecSet, env: Environment, name: str) -> Workflow:
    """Workflow ``name`` as deployed in ``env``: its ``overrides`` merged, validated again.

    :func:`load_specs` already validated every override with positions; a problem found
    here (for a hand-built ``SpecSet``) names the environment file and field, line 0.
    """
    base = specs.workflows[name]
    override = env.overrides.get(name)
    if not override:
        return base
    document = {
        "apiVersion": API_VERSION,
        "kind": "Workflow",
        "metadata": {"name": name, **({"labels": dict(base.labels)} if base.labels else {})},
        "spec": copy.deepcopy(dict(specs.raw_workflows.get(name) or {})),
    }
    merged = merged_document(document, override)

    def report(path: YamlPath, message: str, key: bool) -> Diagnostic:
        return _override_diagnostic(None, name, path, message, key, source=env.source)

    problems = check_value(merged, "workflow", report) + check_workflow(merged, report)
    if problems:
        raise SpecError(problems)
    return build_workflow(merged, base.source)
