"""Validated specs reused across commands: ``load_specs`` without re-reading unchanged files.

Reading a repository's specs parses every workflow with positions and validates it (about
10 ms a file; seconds for hundreds of workflows), while ``diff``, ``sync`` and ``render``
run again and again on the same files. A run whose specs are all valid stores their
validated documents as JSON under the user cache, keyed by the SHA-256 of the files' paths
and bytes, the repository's location and the loader's own code and schemas; a later run on
byte-identical files rebuilds the model from that entry. The one input outside the spec
files, that each environment's ``resources`` exist, is checked again on every hit. Invalid
specs are never stored, so their errors are the loader's, every time. A missing, unreadable
or corrupt entry is a miss; a cache that cannot be written is skipped silently.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import tempfile
from pathlib import Path
from typing import Any

from gitops_agent import __version__
from gitops_agent.spec.loader import ValidDocument, load_specs, spec_files, spec_set, validated_documents
from gitops_agent.spec.model import SpecSet
from gitops_agent.spec.schema_check import schema_dir

FORMAT = 1
KEEP_ENTRIES = 32
"""Entries kept (newest first); older ones are deleted when a new one is written."""


def cache_root() -> Path:
    """``$GITOPS_AGENT_CACHE``, else ``$XDG_CACHE_HOME/gitops-agent``, else ``~/.cache/gitops-agent``
    (the XDG Base Directory specification's user cache)."""
    explicit = os.environ.get("GITOPS_AGENT_CACHE")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "gitops-agent"


def load_specs_cached(repo: Path) -> SpecSet:
    """``load_specs(repo)`` (same result, same :class:`SpecError`), reusing the validated
    documents of an earlier run on byte-identical spec files."""
    try:
        key = _key(repo)
    except OSError:
        return load_specs(repo)  # a file vanished or is unreadable: the loader says which
    entry = _directory() / f"{key}.json"
    documents = _read(entry)
    if documents is not None and _resources_exist(repo, documents):
        return spec_set(documents)
    documents = validated_documents(repo)
    if all(_exact_in_json(d.data) for d in documents):
        _write(entry, documents)
    return spec_set(documents)


def _directory() -> Path:
    return cache_root() / "specs"


def _code_fingerprint() -> bytes:
    """The loader's code and the schemas: a changed rule never reuses an old verdict."""
    digest = hashlib.sha256(f"{FORMAT}:{__version__}".encode())
    for source in sorted(Path(__file__).parent.glob("*.py")) + sorted(schema_dir().glob("*.json")):
        digest.update(source.name.encode() + b"\0" + source.read_bytes() + b"\0")
    return digest.digest()


def _key(repo: Path) -> str:
    digest = hashlib.sha256(_code_fingerprint())
    digest.update(str(repo.resolve()).encode() + b"\0")
    for file in spec_files(repo):
        digest.update(file.relative_to(repo).as_posix().encode() + b"\0")
        content = file.read_bytes()
        digest.update(len(content).to_bytes(8, "big") + content)
    return digest.hexdigest()


def _resources_exist(repo: Path, documents: list[ValidDocument]) -> bool:
    """The loader's one check outside the spec files: relative ``resources`` exist."""
    for document in documents:
        spec = document.data.get("spec")
        resources = spec.get("resources") if isinstance(spec, dict) else None
        for entry in resources if isinstance(resources, list) else []:
            if isinstance(entry, str) and not entry.startswith("/") and not (repo / entry).exists():
                return False
    return True


def _exact_in_json(value: Any) -> bool:
    """Whether JSON gives ``value`` back with the same types (string keys, finite floats)."""
    if value is None or isinstance(value, str | bool | int):
        return True
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, list):
        return all(_exact_in_json(v) for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and _exact_in_json(v) for k, v in value.items())
    return False


def _read(entry: Path) -> list[ValidDocument] | None:
    try:
        stored = json.loads(entry.read_text(encoding="utf-8"))
        return [ValidDocument(d["kind"], d["name"], d["source"], d["data"]) for d in stored["documents"]]
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _write(entry: Path, documents: list[ValidDocument]) -> None:
    body = {"documents": [{"kind": d.kind, "name": d.name, "source": d.source, "data": d.data} for d in documents]}
    temporary: Path | None = None
    try:
        entry.parent.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(prefix=".entry-", dir=entry.parent)
        temporary = Path(name)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            json.dump(body, out, separators=(",", ":"))
        temporary.replace(entry)  # readers see the old entry or the whole new one
        temporary = None
        _prune(entry.parent)
    except OSError:
        if temporary is not None:
            temporary.unlink(missing_ok=True)


def _prune(directory: Path) -> None:
    entries = sorted(directory.glob("*.json"), key=lambda p: p.stat().st_mtime, reverse=True)
    for old in entries[KEEP_ENTRIES:]:
        old.unlink(missing_ok=True)
