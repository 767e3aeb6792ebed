"""Specs + one environment → the complete tree of its branch (pure but for reading extra resources).

Layout (see docs/compiled-layout.md):

    base/<workflow>/kustomization.yaml, <kind>-<name>.yaml …
    overlays/<env>/kustomization.yaml       namespace, labels, images, patches
    overlays/<env>/namespace.yaml
    overlays/<env>/patches/<workflow>/…     JSON patches (and deletions) from overrides
    overlays/<env>/resources/<workflow>/…   objects only the environment has
    overlays/<env>/extra/…                  the environment's `resources:` copied in
    .gitops-agent/source.json               provenance
"""

from __future__ import annotations

import dataclasses
import enum
import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from types import MappingProxyType
from typing import Any

from gitops_agent import __version__
from gitops_agent.compile.objects import compile_workflow, file_name, identity
from gitops_agent.compile.patches import json_patch
from gitops_agent.compile.templates import template
from gitops_agent.compile.workloads import pin_image, split_image
from gitops_agent.errors import Diagnostic, SpecError
from gitops_agent.spec.list_keys import duplicate_list_keys
from gitops_agent.spec.manifests import (
    NamespaceFold,
    ResourceSet,
    duplicate_objects,
    fold_namespaces,
    published_namespaces,
    read_resources,
    subjects_in,
)
from gitops_agent.spec.model import Environment, SpecSet, Workflow
from gitops_agent.spec.yaml_positions import format_path
from gitops_agent.vocabulary import labels as L
from gitops_agent.vocabulary.objects import Manifest, split_api_version
from gitops_agent.vocabulary.yaml import dump

Tree = Mapping[str, bytes]
Identity = tuple[str, str, str]
"""(API group, kind, name) of a compiled object (:func:`~gitops_agent.compile.objects.identity`)."""
KUSTOMIZE_HEADER = {"apiVersion": "kustomize.config.k8s.io/v1beta1", "kind": "Kustomization"}
SOURCE_FILE = ".gitops-agent/source.json"


def _plain(value: Any) -> Any:
    """Dataclasses, read-only maps, tuples and enums → plain JSON-able values."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Mapping | MappingProxyType):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, enum.Enum):
        return value.value
    return value


def digest(value: Any) -> str:
    """SHA-256 of a value's canonical JSON."""
    canonical = json.dumps(_plain(value), sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def selected_workflows(specs: SpecSet, env: Environment) -> list[str]:
    """Names of the workflows an environment deploys, sorted."""
    return sorted(name for name in specs.workflows if env.selects(name))


def spec_digests(specs: SpecSet, env: Environment) -> dict[str, str]:
    """Digest of each input: every selected workflow's raw spec and the environment."""
    result = {
        f"workflow/{name}": digest(specs.raw_workflows.get(name, specs.workflows[name]))
        for name in selected_workflows(specs, env)
    }
    env_value = _plain(env)
    env_value.pop("source", None)
    result[f"environment/{env.name}"] = digest(env_value)
    return result


def compile_environment(
    specs: SpecSet,
    env: Environment,
    *,
    source_commit: str | None,
    repo_root: Path | None = None,
    memo: CompileMemo | None = None,
    outlined: Mapping[str, Sequence[Identity]] | None = None,
) -> Tree:
    """The full branch tree for ``env``: bases, overlay, extra resources, provenance.

    ``repo_root`` is where the environment's ``resources:`` paths are read from; it is
    required when the environment lists any. With ``memo``, a workflow compiled before with
    equal inputs (see :data:`CompileMemo`) is not compiled again.

    ``outlined`` (workflow name → the identities of its objects, see :func:`outline_workflow`)
    leaves those workflows out of the tree: no files, resource entries or patches of theirs.
    Their identities still take part in the check of the environment's ``resources:``
    against generated objects, so the tree compiles, or fails, as the whole one does; it has
    no provenance file (``plan`` compiles this way around the workflows equal at both
    revisions; see docs/reconcile.md).

    :raises SpecError: a problem of the environment's ``resources:``, a collision of one of
        their objects with a generated one, or a compiled object with a duplicate list key.
    """
    files: dict[str, bytes] = {}
    overlay = f"overlays/{env.name}"
    kustomization: dict[str, Any] = dict(KUSTOMIZE_HEADER)
    kustomization["namespace"] = env.namespace
    extra, fold, extra_files = _copy_extra_resources(files, overlay, env, repo_root)
    resources = [] if fold.same_name else ["namespace.yaml"]
    patches = _namespace_deletions(files, overlay, fold) + _subject_patches(files, overlay, env, extra_files, fold)
    if fold.same_name:  # merged onto the published Namespace of the same name
        patches.append({"path": "namespace.yaml"})
    files[f"{overlay}/namespace.yaml"] = dump(_namespace_object(env, fold))

    direct_pins = variant_pinned_images(specs, env)
    generated: dict[Identity, str] = {}
    for name in selected_workflows(specs, env):
        if outlined is not None and name in outlined:
            generated.update((object_id, name) for object_id in outlined[name])
            continue
        inputs = _workflow_inputs(specs, env, name, direct_pins)
        part = memo.get(inputs.key) if memo is not None else None
        if part is None:
            part = _compile_part(name, inputs.workflow, inputs.effective, env, direct_pins)
            if memo is not None:
                memo[inputs.key] = part
        files.update(part.files)
        resources.append(f"../../base/{name}")
        generated.update((object_id, name) for object_id in part.identities)
        patches.extend(dict(patch) for patch in part.patches)
        resources.extend(part.added)

    _refuse_colliding_objects(extra_files, env, generated)
    resources.extend(extra)
    kustomization["resources"] = resources
    pairs = {**env.labels, L.MANAGED_BY_LABEL: L.MANAGED_BY_VALUE, L.ENVIRONMENT_LABEL: env.name}
    kustomization["labels"] = [
        {"pairs": dict(sorted(pairs.items())), "includeSelectors": False, "includeTemplates": True}
    ]
    kustomize_pins = sorted((n, pin) for n, pin in env.images.items() if n not in direct_pins)
    if kustomize_pins:
        kustomization["images"] = [_image_entry(image, pin) for image, pin in kustomize_pins]
    if patches:
        kustomization["patches"] = patches
    files[f"{overlay}/kustomization.yaml"] = dump(kustomization)

    if outlined is None:  # a tree with outlined workflows is no branch's: no provenance
        digests = spec_digests(specs, env)
        source = {
            "environment": env.name,
            "sourceCommit": source_commit,
            "specDigest": digest(digests),
            "specs": digests,
            "toolVersion": __version__,
        }
        files[SOURCE_FILE] = (json.dumps(source, indent=2, sort_keys=True) + "\n").encode()
    return MappingProxyType(dict(sorted(files.items())))


@dataclass(frozen=True)
class WorkflowInputs:
    """One workflow as an environment compiles it: as written, as the environment deploys it
    (its ``overrides`` merged), and the key of both with everything else that decides its part
    of the tree (:data:`CompileMemo`)."""

    workflow: Workflow
    effective: Workflow
    key: str


def workflow_inputs(specs: SpecSet, env: Environment) -> dict[str, WorkflowInputs]:
    """The inputs of each workflow ``env`` deploys, by name (sorted).

    Equal keys mean byte-equal parts of the tree: the workflow's base, patches and overlay
    resources, given the same overlay settings (``namespace``, ``labels``, ``images``).

    :raises SpecError: an override that does not validate (only for a hand-built ``SpecSet``;
        :func:`~gitops_agent.spec.load_specs` reports those with positions).
    """
    direct_pins = variant_pinned_images(specs, env)
    return {name: _workflow_inputs(specs, env, name, direct_pins) for name in selected_workflows(specs, env)}


def _workflow_inputs(specs: SpecSet, env: Environment, name: str, direct_pins: set[str]) -> WorkflowInputs:
    from gitops_agent.spec import effective_workflow

    workflow = specs.workflows[name]
    effective = effective_workflow(specs, env, name)
    return WorkflowInputs(workflow, effective, _part_key(name, workflow, effective, env, direct_pins))


def outline_workflow(inputs: WorkflowInputs, env: Environment) -> list[Manifest]:
    """The objects of a workflow's slice of ``env``'s overlay, as the compiler makes them:
    the same list, in the same order, with the same identities as the objects its base and
    overlay patches build to, before kustomize sets their namespace, labels and images. The
    dashboard ConfigMap has no ``data`` (building it is most of a workflow's compile time);
    nothing is written as YAML. Checked as :func:`compile_environment` checks them.

    :raises SpecError: a compiled object with a duplicate key in a list Kubernetes merges by key.
    """
    objects = compile_workflow(inputs.effective, image_pins=env.images, outline=True)
    _refuse_duplicate_list_keys(objects, inputs.effective.source or env.source)
    return objects


@dataclass(frozen=True)
class WorkflowPart:
    """What one workflow adds to an environment's tree: its base and overlay files, its
    overlay patches and resource entries, and the identities of the objects it generates."""

    files: tuple[tuple[str, bytes], ...]
    patches: tuple[Mapping[str, Any], ...]
    added: tuple[str, ...]
    identities: tuple[Identity, ...]


CompileMemo = dict[str, WorkflowPart]
"""Compiled workflows by their inputs (:func:`_part_key`): the workflow as written, as the
environment deploys it (its overrides merged), the environment's name and image pins, the
pins applied by the compiler and the tool version. Equal inputs compile to equal bytes, so
two compiles sharing a memo (a plan's base and head) compile a shared workflow once."""


def _part_key(name: str, workflow: Workflow, effective: Workflow, env: Environment, direct_pins: set[str]) -> str:
    """SHA-256 of the inputs' ``repr``: exact (``1``, ``1.0``, ``True`` and ``'1'`` differ),
    so equal keys mean equal inputs."""
    inputs = (__version__, env.name, name, workflow, effective, sorted(env.images.items()), sorted(direct_pins))
    return hashlib.sha256(repr(inputs).encode()).hexdigest()


def _compile_part(
    name: str, workflow: Workflow, effective: Workflow, env: Environment, direct_pins: set[str]
) -> WorkflowPart:
    files: dict[str, bytes] = {}
    base_objects = compile_workflow(workflow)
    _write_base(files, name, base_objects)
    env_objects = compile_workflow(effective, image_pins=env.images)
    _pin_directly(env_objects, effective, {n: env.images[n] for n in direct_pins})
    _refuse_duplicate_list_keys(env_objects, effective.source or env.source)
    patches, added = _write_differences(files, f"overlays/{env.name}", name, base_objects, env_objects)
    identities = tuple(identity(obj) for obj in env_objects)
    return WorkflowPart(tuple(files.items()), tuple(patches), tuple(added), identities)


def tree_spec_digest(tree: Tree) -> str:
    """The ``specDigest`` recorded in a compiled tree."""
    return str(json.loads(tree[SOURCE_FILE])["specDigest"])


def _write_base(files: dict[str, bytes], workflow: str, objects: list[Manifest]) -> None:
    names = [file_name(obj) for obj in objects]
    for obj, name in zip(objects, names, strict=True):
        files[f"base/{workflow}/{name}"] = dump(obj)
    kustomization = {**KUSTOMIZE_HEADER, "resources": names}
    files[f"base/{workflow}/kustomization.yaml"] = dump(kustomization)


def _target(obj: Manifest) -> dict[str, str]:
    group, kind, name = identity(obj)
    version = split_api_version(obj["apiVersion"])[1]
    target = {"group": group, "version": version, "kind": kind, "name": name}
    return {k: v for k, v in target.items() if v}


def _write_differences(
    files: dict[str, bytes], overlay: str, workflow: str, base: list[Manifest], env: list[Manifest]
) -> tuple[list[dict[str, Any]], list[str]]:
    """Patches for changed objects and deletions; a kustomization of the objects only the
    environment has (returned as a resource entry of the overlay)."""
    base_by_id = {identity(obj): obj for obj in base}
    env_by_id = {identity(obj): obj for obj in env}
    patches: list[dict[str, Any]] = []
    for key in sorted(base_by_id.keys() | env_by_id.keys()):
        before, after = base_by_id.get(key), env_by_id.get(key)
        if before is not None and after is not None:
            ops = json_patch(before, after)
            if not ops:
                continue
            path = f"patches/{workflow}/{file_name(before)}"
            files[f"{overlay}/{path}"] = dump(ops)
            patches.append({"path": path, "target": _target(before)})
        elif before is not None:
            path = f"patches/{workflow}/delete-{file_name(before)}"
            deletion = {
                "apiVersion": before["apiVersion"],
                "kind": before["kind"],
                "metadata": {"name": before["metadata"]["name"]},
                "$patch": "delete",
            }
            files[f"{overlay}/{path}"] = dump(deletion)
            patches.append({"path": path})
        elif after is not None:
            path = f"resources/{workflow}/{file_name(after)}"
            files[f"{overlay}/{path}"] = dump(after)
    prefix = f"{overlay}/resources/{workflow}/"
    added = sorted(PurePosixPath(p).name for p in files if p.startswith(prefix))
    if not added:
        return patches, []
    files[f"{prefix}kustomization.yaml"] = dump({**KUSTOMIZE_HEADER, "resources": added})
    return patches, [f"resources/{workflow}"]


def variant_pinned_images(specs: SpecSet, env: Environment) -> set[str]:
    """Pinned image names that some A/B variant names with its own image.

    kustomize's ``images:`` would rewrite the variant's image too and silently end the
    experiment, so these pins are applied by the compiler (as overlay patches) to every
    container except variants that name their own image.
    """
    names: set[str] = set()
    for workflow in selected_workflows(specs, env):
        for service in specs.workflows[workflow].services:
            names.update(split_image(v.image)[0] for v in service.variants if v.image)
    return names & set(env.images)


def _containers(obj: Manifest) -> list[Manifest]:
    spec = obj.get("spec", {})
    if obj["kind"] == "CronJob":
        spec = spec.get("jobTemplate", {}).get("spec", {})
    containers = spec.get("template", {}).get("spec", {}).get("containers", [])
    return list(containers)


def _pin_directly(objects: list[Manifest], workflow: Workflow, pins: Mapping[str, str]) -> None:
    if not pins:
        return
    own_image = {f"{s.name}-{v.name}" for s in workflow.services for v in s.variants if v.image}
    for obj in objects:
        if obj["kind"] == "Deployment" and obj["metadata"]["name"] in own_image:
            continue
        for container in _containers(obj):
            container["image"] = pin_image(container["image"], pins)


def _image_entry(image: str, pin: str) -> dict[str, str]:
    name, _ = split_image(image)
    if pin.startswith("sha256:"):
        return {"name": name, "digest": pin}
    return {"name": name, "newTag": pin}


def _copy_extra_resources(
    files: dict[str, bytes], overlay: str, env: Environment, repo_root: Path | None
) -> tuple[list[str], NamespaceFold, ResourceSet]:
    """Copy the environment's ``resources:`` into the overlay (bytes unchanged); return
    their kustomize entries, how their published Namespaces fold into the environment's,
    and the files read. :class:`SpecError` lists every problem of every file."""
    if not env.resources:
        return [], NamespaceFold(), ResourceSet()
    if repo_root is None:
        raise ValueError("compile_environment needs repo_root for an environment with resources")

    def locate(index: int, message: str) -> Diagnostic:
        return Diagnostic(env.source, 0, 0, f"spec.resources[{index}]", message)

    resources, problems = read_resources(repo_root, env.resources, locate)
    own = {L.NAME_LABEL: env.namespace, L.MANAGED_BY_LABEL: L.MANAGED_BY_VALUE}
    fold, fold_problems = fold_namespaces(env.namespace, own, published_namespaces(resources))
    if problems or fold_problems:
        raise SpecError([*problems, *fold_problems])
    for manifest in resources.files:
        files[f"{overlay}/{manifest.target}"] = manifest.data
    return list(resources.entries), fold, resources


def _file_safe(name: str) -> str:
    """``name`` as a file name: as is when it is one already, else cleaned and hashed."""
    safe = re.sub(r"[^a-z0-9.-]", "-", name.lower())
    return name if safe == name else f"{safe}-{hashlib.sha256(name.encode()).hexdigest()[:8]}"


def _subject_patches(
    files: dict[str, bytes], overlay: str, env: Environment, resources: ResourceSet, fold: NamespaceFold
) -> list[dict[str, Any]]:
    """JSON patches moving binding subjects that name a folded Namespace into the
    environment's namespace (see :func:`~gitops_agent.spec.manifests.subjects_in`)."""
    ops: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for kind, name, index in subjects_in(resources, fold.deleted):
        ops.setdefault((kind, name), []).append(
            {"op": "replace", "path": f"/subjects/{index}/namespace", "value": env.namespace}
        )
    patches = []
    for (kind, name), replaced in sorted(ops.items()):
        path = f"patches/extra/{kind.lower()}-{_file_safe(name)}-subjects.yaml"
        files[f"{overlay}/{path}"] = dump(replaced)
        target = {"group": "rbac.authorization.k8s.io", "version": "v1", "kind": kind, "name": name}
        patches.append({"path": path, "target": target})
    return patches


def _refuse_colliding_objects(
    resources: ResourceSet, env: Environment, generated: Mapping[Identity, str]
) -> None:
    """No object of ``resources:`` shares its kind and name with another or with a
    generated object: kustomize would refuse to build the overlay."""
    problems = duplicate_objects(resources, env.namespace, generated)
    if problems:
        raise SpecError(problems)


def _name(obj: Manifest) -> str:
    return f"{obj['kind']}/{obj['metadata']['name']}"


def _refuse_duplicate_list_keys(objects: list[Manifest], source: str) -> None:
    """The compiled objects hold no duplicate key in a list Kubernetes merges by key
    (a guard behind the spec checks: such an object fails server-side apply)."""
    problems = [
        Diagnostic(source, 0, 0, format_path(later), f"compiled {_name(obj)}: duplicate {what}")
        for obj in objects
        for later, _, what in duplicate_list_keys(obj)
    ]
    if problems:
        raise SpecError(problems)


def _namespace_object(env: Environment, fold: NamespaceFold) -> Manifest:
    """The environment's Namespace, carrying what published Namespaces fold into it."""
    namespace = template("namespace")
    namespace["metadata"]["name"] = env.namespace
    own = {L.NAME_LABEL: env.namespace, L.MANAGED_BY_LABEL: L.MANAGED_BY_VALUE}
    namespace["metadata"]["labels"] = {**fold.labels, **own}
    if fold.annotations:
        namespace["metadata"]["annotations"] = dict(fold.annotations)
    return namespace


def _namespace_deletions(files: dict[str, bytes], overlay: str, fold: NamespaceFold) -> list[dict[str, Any]]:
    """``$patch: delete`` for each published Namespace; patches run before kustomize's
    ``namespace:`` transformer, which would otherwise rename them onto the environment's."""
    patches = []
    for name in fold.deleted:
        path = f"patches/extra/delete-namespace-{name}.yaml"
        deletion = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}, "$patch": "delete"}
        files[f"{overlay}/{path}"] = dump(deletion)
        patches.append({"path": path})
    return patches
