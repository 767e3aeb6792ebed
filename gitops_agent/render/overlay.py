"""Overlay → final manifests, through the real ``kubectl kustomize``."""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from gitops_agent.adapters import git as gitops_git
from gitops_agent.adapters import kustomize
from gitops_agent.compile import slices as slicing
from gitops_agent.compile.slices import (
    Slice,
    SlicedOverlay,
    builds_alone,
    cross_slice_problem,
    legacy_order,
    plan_slices,
    split_at_boundaries,
)
from gitops_agent.errors import GitError, InvalidInputError, KustomizeError
from gitops_agent.render.cache import MAX_SLICE_ENTRIES, RenderCache, files_digest
from gitops_agent.spec.model import Environment
from gitops_agent.vocabulary.objects import Manifest
from gitops_agent.vocabulary.yaml import READER_VERSION, NonFiniteNumberError, format_path, load_all

SLICE_BATCH_FILES = 120
"""Files of slices built by one kustomize process (its time grows with the square of the objects)."""
_LOG = logging.getLogger(__name__)


@dataclass(frozen=True)
class Rendered:
    """The desired state of one environment at one revision of its branch."""

    environment: str
    revision: str | None
    objects: tuple[Manifest, ...]


def render_overlay(root: Path, env_name: str) -> list[Manifest]:
    """Build ``root/overlays/<env>`` with ``kubectl kustomize``; return its objects in order."""
    overlay = root / "overlays" / env_name
    if not (overlay / "kustomization.yaml").exists():
        raise InvalidInputError(f"{overlay}: no kustomization.yaml (was environment {env_name!r} compiled?)")
    return read_kustomize_output(kustomize.build(overlay), overlay)


def read_kustomize_output(output: bytes, overlay: Path | str) -> list[Manifest]:
    """The objects of ``kustomize build``'s output, every scalar as kustomize meant it.

    Plain scalars are resolved the way kustomize's own YAML library (go-yaml v3) resolves
    them, so a string such as ``609e4400`` (which overflows a float64) stays that string.
    Raises InvalidInputError for a plain ``.inf``/``.nan``, which no JSON API can carry, and
    KustomizeError when the output is not YAML.
    """
    try:
        documents = load_all(output)
    except NonFiniteNumberError as error:
        where = _object_name(error.document) if isinstance(error.document, dict) else str(overlay)
        raise InvalidInputError(
            f"{where}: {format_path(error.path)}: the plain scalar {error.value} is not a number JSON "
            "or the Kubernetes API can carry; quote it to keep it a string"
        ) from error
    except yaml.YAMLError as error:
        raise KustomizeError(f"kustomize build of {overlay} gave output that is not YAML: {error}") from error
    return [doc for doc in documents if isinstance(doc, dict)]


def _object_name(obj: Manifest) -> str:
    """``Kind/namespace/name`` (``Kind/name`` for cluster-scoped objects)."""
    meta = obj.get("metadata")
    meta = meta if isinstance(meta, dict) else {}
    parts = [str(obj.get("kind", "?")), str(meta.get("namespace") or ""), str(meta.get("name", "?"))]
    return "/".join(part for part in parts if part)


def render_files(files: dict[str, bytes] | Any, env_name: str, cache: RenderCache | None = None) -> list[Manifest]:
    """Render a compiled tree (path → bytes) held in memory; with ``cache``, at most once per content."""
    if cache is None:
        return render_sliced(files, env_name, None)
    key = _cache_key(cache, env_name, "files:" + files_digest(files))
    objects = cache.load(key)
    if objects is None:
        objects = render_sliced(files, env_name, cache)
        cache.store(key, objects)
    return objects


def render_sliced(files: Mapping[str, bytes], env_name: str, cache: RenderCache | None) -> list[Manifest]:
    """The objects of ``overlays/<env_name>`` in ``files``, built one slice at a time.

    The same objects, in the same order, as ``kubectl kustomize overlays/<env_name>``
    (:mod:`gitops_agent.compile.slices`): slices found in ``cache`` are not built again, the
    others are built a few at a time in parallel processes; an overlay that cannot be sliced
    safely, or whose slices fail to build, is built whole (so kustomize reports its errors).
    """
    sliced = build_slices(files, env_name, cache)
    problem = sliced if isinstance(sliced, str) else cross_slice_problem(sliced.overlay.slices, sliced.objects)
    if problem is not None or isinstance(sliced, str):
        _LOG.debug("render: overlays/%s built whole: %s", env_name, problem)
        return _render_files(files, env_name)
    return sliced.ordered()


@dataclass(frozen=True)
class BuiltSlices:
    """An overlay's slices and the objects kustomize built of each (``objects[i]`` of
    ``overlay.slices[i]``), not yet checked against each other (see
    :func:`~gitops_agent.compile.slices.cross_slice_problem`)."""

    overlay: SlicedOverlay
    objects: tuple[list[Manifest], ...]

    def ordered(self) -> list[Manifest]:
        """Every slice's objects in the order ``kustomize build`` prints them."""
        return legacy_order(obj for part in self.objects for obj in part)


def build_slices(files: Mapping[str, bytes], env_name: str, cache: RenderCache | None) -> BuiltSlices | str:
    """Each slice of ``overlays/<env_name>`` in ``files`` built (or found in ``cache``), or why
    the overlay must be built whole: a shape :func:`~gitops_agent.compile.slices.plan_slices`
    cannot slice, or a batch of slices kustomize failed to build.

    Slices built are kept in ``cache`` (under ``slices/``): a slice's objects depend only on
    its key, whether or not the overlay they were built for is then built whole.
    """
    build = f"{kustomize_build(kustomize.kubectl_path(), cache)}/{READER_VERSION}" if cache else READER_VERSION
    plan = plan_slices(files, env_name, build=build)
    if isinstance(plan, str):
        return plan
    store = RenderCache(cache.directory / "slices", MAX_SLICE_ENTRIES) if cache else None
    found = {part.key: store.load(part.key) for part in plan.slices} if store else {}
    cached = {key: objects for key, objects in found.items() if objects is not None}
    built = _build_slices(files, plan, [part for part in plan.slices if part.key not in cached])
    if built is None:
        return "a batch of its slices failed to build"
    if store is not None:
        store.touch(cached)  # first: the slices this commit reads are the newest when the store prunes
        store.store_many(built)
    objects = tuple(cached[part.key] if part.key in cached else built[part.key] for part in plan.slices)
    return BuiltSlices(plan, objects)


def _build_slices(
    files: Mapping[str, bytes], plan: SlicedOverlay, slices: Sequence[Slice]
) -> dict[str, list[Manifest]] | None:
    """Each slice's objects (by key), built in batches of about SLICE_BATCH_FILES files (a slice
    that :func:`~gitops_agent.compile.slices.builds_alone` in a batch of its own); None when
    kustomize fails on a batch."""
    alone = {part.key for part in slices if builds_alone(files, plan.overlay, part)}
    batches: list[list[Slice]] = [[part] for part in slices if part.key in alone]
    shared: list[Slice] = []
    size = 0
    for part in (part for part in slices if part.key not in alone):
        if shared and size + len(part.files) > SLICE_BATCH_FILES:
            batches.append(shared)
            shared, size = [], 0
        shared.append(part)
        size += len(part.files)
    if shared:
        batches.append(shared)
    workers = max(1, min(len(batches), os.cpu_count() or 1, 4))
    with ThreadPoolExecutor(max_workers=workers) as pool:
        results = list(pool.map(lambda batch: _build_batch(files, plan, batch), batches))
    built: dict[str, list[Manifest]] = {}
    for batch, objects in zip(batches, results, strict=True):
        if objects is None:
            return None
        built.update((part.key, part_objects) for part, part_objects in zip(batch, objects, strict=True))
    return built


def _build_batch(
    files: Mapping[str, bytes], plan: SlicedOverlay, batch: Sequence[Slice]
) -> list[list[Manifest]] | None:
    tree = {path: files[path] for part in batch for path in part.files}
    tree.update(plan.batch(batch))
    try:
        objects = _render_files(tree, plan.overlay.removeprefix("overlays/"))
    except KustomizeError as error:
        _LOG.debug("render: a batch of %d slices failed to build: %s", len(batch), error)
        return None
    return split_at_boundaries(objects, len(batch))


def _render_files(files: Mapping[str, bytes] | Any, env_name: str) -> list[Manifest]:
    with tempfile.TemporaryDirectory(prefix="gitops-agent-render-") as tmp:
        root = Path(tmp)
        for path, content in files.items():
            target = root / path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(content)
        return render_overlay(root, env_name)


def resolve_env_revision(repo: Path, env: Environment, ref: str | None) -> str:
    """The commit of ``env``'s branch to deploy: ``ref``, else the remote's head, else local.

    :raises InvalidInputError: ``ref`` does not resolve, or is not in the history of the
        branch (local or its remote-tracking copy): another environment's commit, or one of
        ``main``, holds no overlay of ``env`` (as ``rollback --to`` refuses it) (exit 2).
    """
    handle = gitops_git.open_repo(repo)
    if ref is not None:
        sha = gitops_git.rev_parse(handle, ref)
        if sha is None:
            raise InvalidInputError(f"--ref {ref}: no such revision")
        heads = [gitops_git.rev_parse(handle, f"refs/{kind}/{env.branch}") for kind in ("heads", "remotes/origin")]
        if not any(head is not None and gitops_git.is_ancestor(handle, sha, head) for head in heads):
            raise InvalidInputError(f"--ref {ref}: {sha[:12]} is not on branch {env.branch} of environment {env.name}")
        return sha
    if gitops_git.has_remote(handle):
        gitops_git.fetch(handle, [f"+refs/heads/{env.branch}:refs/remotes/origin/{env.branch}"])
        remote = gitops_git.rev_parse(handle, f"refs/remotes/origin/{env.branch}")
        if remote is not None:
            return remote
    local = gitops_git.rev_parse(handle, f"refs/heads/{env.branch}")
    if local is None:
        raise InvalidInputError(
            f"environment {env.name}: branch {env.branch} does not exist; run `gitops-agent compile --commit`"
        )
    return local


def render_ref(repo: Path, env: Environment, ref: str | None) -> Rendered:
    """Render the environment branch at ``ref`` (default: its newest commit).

    A commit's objects are rendered once: they are cached by the commit's tree, the kustomize
    build and the reader version (:mod:`gitops_agent.render.cache`), so ``render``, ``diff``,
    ``sync``, ``plan --live`` and the reconcile loop share one render per commit.
    """
    revision = resolve_env_revision(repo, env, ref)
    handle = gitops_git.open_repo(repo)
    cache = RenderCache(cache_directory(gitops_git.common_dir(handle)))
    key = _cache_key(cache, env.name, "tree:" + gitops_git.tree_of(handle, revision))
    objects = cache.load(key)
    if objects is None:
        objects = render_sliced(gitops_git.list_files(handle, revision), env.name, cache)
        cache.store(key, objects)
    return Rendered(env.name, revision, tuple(objects))


def cache_directory(git_dir: Path) -> Path:
    """Where rendered objects are cached for the repository whose git directory is ``git_dir``."""
    return git_dir / "gitops-agent" / "render-cache"


def cache_for(repo: Path) -> RenderCache | None:
    """The render cache of the git repository holding ``repo``; None outside a repository."""
    try:
        return RenderCache(cache_directory(gitops_git.common_dir(gitops_git.open_repo(repo))))
    except GitError:
        return None


def _cache_key(cache: RenderCache, env_name: str, tree: str) -> str:
    return RenderCache.key(
        environment=env_name,
        tree=tree,
        kustomize=kustomize_build(kustomize.kubectl_path(), cache),
        reader=f"{READER_VERSION}/{slicing.SLICE_FORMAT}",  # a render made by older slicing rules is not reused
    )


def kustomize_build(kubectl: str, cache: RenderCache) -> str:
    """kubectl's and its kustomize's versions (``v1.37.1/kustomize-v5.8.1``), remembered per binary
    file (its path, size, modification and change times and inode).

    Raises KustomizeError when kubectl cannot tell its version.
    """
    binary = Path(kubectl).resolve()
    stat = binary.stat()
    # The change time and inode too: an upgrade may keep the size and the modification time.
    identity = f"{binary}\0{stat.st_size}\0{stat.st_mtime_ns}\0{stat.st_ctime_ns}\0{stat.st_ino}"
    stamp = hashlib.sha256(identity.encode()).hexdigest()[:32]
    note = f"kubectl-{stamp}"
    known = cache.load_note(note)
    if known is not None:
        return known
    version = kustomize.client_version(kubectl)
    cache.store_note(note, version)
    return version
