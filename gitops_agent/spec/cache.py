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

Behind that whole-set entry, each valid spec file's own results (:class:`~gitops_agent.spec.loader.CheckedFile`:
its documents with their positions) are stored under ``spec-files/``, keyed by
the same code fingerprint, the file's path in the repository and the SHA-256 of its bytes.
After a commit that changes one workflow of 600, only that file is parsed and checked
again; the checks across files (names, references, overrides, Service names) run over the
whole set as on every load. The newest :data:`KEEP_FILE_ENTRIES` file entries are kept.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import tempfile
from pathlib import Path
from typing import Any

import gitops_agent.vocabulary
from gitops_agent import __version__
from gitops_agent.errors import Diagnostic
from gitops_agent.spec.loader import (
    KINDS,
    CheckedDocument,
    CheckedFile,
    ValidDocument,
    load_specs,
    spec_files,
    spec_set,
    validated_documents,
)
from gitops_agent.spec.model import SpecSet
from gitops_agent.spec.schema_check import schema_dir
from gitops_agent.spec.yaml_positions import Document, Position, YamlPath

FORMAT = 2
KEEP_ENTRIES = 32
"""Whole-set entries kept (newest first); older ones are deleted when a new one is written."""
KEEP_FILE_ENTRIES = 8192
"""Per-file entries kept (newest first): several revisions of a repository of 600 workflows."""


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
    documents = validated_documents(repo, store=DiskFileStore(cache_root() / "spec-files", _code_fingerprint()))
    if all(_exact_in_json(d.data) for d in documents):
        _write(entry, documents)
    return spec_set(documents)


def _directory() -> Path:
    return cache_root() / "specs"


def _code_fingerprint() -> bytes:
    """The code that parses and checks specs — ``gitops_agent/spec/``, the vocabulary its
    checks use (durations, quantities, URLs …), the diagnostics — and the schemas: a
    changed rule never reuses an old verdict."""
    digest = hashlib.sha256(f"{FORMAT}:{__version__}".encode())
    package = Path(__file__).parents[1]
    vocabulary = Path(gitops_agent.vocabulary.__file__).parent
    sources = (
        sorted(Path(__file__).parent.glob("*.py"))
        + sorted(vocabulary.glob("*.py"))
        + [package / "errors.py"]
        + sorted(schema_dir().glob("*.json"))
    )
    for source in sources:
        digest.update(source.relative_to(package.parent).as_posix().encode() + b"\0" + source.read_bytes() + b"\0")
    return digest.digest()


class DiskFileStore:
    """Per-file results of :func:`~gitops_agent.spec.loader.check_file` as JSON files under
    ``directory``, keyed by ``fingerprint`` (see :func:`_code_fingerprint`), the file's
    display path and the SHA-256 of its bytes. Files with problems of their own, and files
    whose documents JSON cannot give back exactly (a float ``.inf``), are not stored; a
    missing, unreadable or corrupt entry is a miss; a directory that cannot be written is
    skipped silently."""

    def __init__(self, directory: Path, fingerprint: bytes) -> None:
        self.directory = directory
        self.fingerprint = fingerprint
        self._written = False

    def _entry(self, display: str, digest: str) -> Path:
        key = hashlib.sha256(self.fingerprint + display.encode() + b"\0" + digest.encode()).hexdigest()
        return self.directory / f"{key}.json"

    def get(self, display: str, digest: str) -> CheckedFile | None:
        try:
            stored = json.loads(self._entry(display, digest).read_text(encoding="utf-8"))
            if stored["file"] != display or stored["sha256"] != digest:
                return None
            return _checked_from_json(display, stored)
        except (OSError, ValueError, KeyError, TypeError, IndexError):
            return None

    def put(self, display: str, digest: str, checked: CheckedFile) -> None:
        entry = self._entry(display, digest)
        if entry.exists() or not _storable(checked):
            return
        body = {"file": display, "sha256": digest, **_checked_to_json(checked)}
        if _write_json(entry, body) and not self._written:
            self._written = True
            _prune(self.directory, KEEP_FILE_ENTRIES)


def _storable(checked: CheckedFile) -> bool:
    """Only files without problems of their own are stored (a refused file may hold a secret
    value the checks caught), and only when JSON gives their documents back exactly."""
    if checked.problems or any(d.problems for d in checked.documents):
        return False
    return all(_exact_in_json(d.document.data) for d in checked.documents)


def _diagnostics_to_json(problems: tuple[Diagnostic, ...]) -> list[list[Any]]:
    return [[p.file, p.line, p.col, p.field, p.message] for p in problems]


def _diagnostics_from_json(stored: list[list[Any]]) -> tuple[Diagnostic, ...]:
    return tuple(Diagnostic(str(f), int(line), int(col), str(fi), str(m)) for f, line, col, fi, m in stored)


def _positions_to_json(positions: Any) -> list[list[Any]]:
    return [[list(path), line, col] for path, (line, col) in positions.items()]


def _positions_from_json(stored: list[list[Any]]) -> dict[YamlPath, Position]:
    return {tuple(path): (int(line), int(col)) for path, line, col in stored}


def _checked_to_json(checked: CheckedFile) -> dict[str, Any]:
    documents = [
        {
            "kind": d.kind,
            "name": d.name,
            "data": d.document.data,
            "values": _positions_to_json(d.document.values),
            "keys": _positions_to_json(d.document.keys),
            "problems": _diagnostics_to_json(d.problems),
        }
        for d in checked.documents
    ]
    return {"documents": documents, "problems": _diagnostics_to_json(checked.problems)}


def _checked_from_json(display: str, stored: dict[str, Any]) -> CheckedFile:
    documents = tuple(
        CheckedDocument(
            Document(display, d["data"], _positions_from_json(d["values"]), _positions_from_json(d["keys"])),
            str(d["kind"]),
            d["name"] if isinstance(d["name"], str) else None,
            _diagnostics_from_json(d["problems"]),
        )
        for d in stored["documents"]
    )
    if not all(isinstance(d.document.data, dict) and d.kind in KINDS.values() for d in documents):
        raise TypeError("a stored spec document is not a workflow or environment mapping")
    return CheckedFile(documents, _diagnostics_from_json(stored["problems"]))


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
    if _write_json(entry, body):
        _prune(entry.parent, KEEP_ENTRIES)


def _write_json(entry: Path, body: Any) -> bool:
    """Write ``body`` to ``entry`` atomically; False when the cache cannot be written."""
    temporary: Path | None = None
    try:
        entry.parent.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(prefix=".entry-", dir=entry.parent)
        temporary = Path(name)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(json.dumps(body, separators=(",", ":")))  # dumps: the C encoder; dump streams in Python
        temporary.replace(entry)  # readers see the old entry or the whole new one
        return True
    except OSError:
        if temporary is not None:
            temporary.unlink(missing_ok=True)
        return False


def _prune(directory: Path, keep: int) -> None:
    try:
        entries = sorted(directory.glob("*.json"), key=lambda p: p.stat().st_mtime, reverse=True)
        for old in entries[keep:]:
            old.unlink(missing_ok=True)
    except OSError:
        return  # another process pruned the same entry first
