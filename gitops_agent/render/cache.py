"""A commit's rendered objects never change: keep them, keyed by what decides them.

The key is the environment, the git tree (or the hash of an in-memory compiled tree), the
kustomize build (kubectl's version and kustomize's) and the version of the reader of its
output. An entry is the objects as one JSON document, written atomically (a temporary file
renamed over the final name) with mode 0600 under ``<git dir>/gitops-agent/render-cache/``,
the same trust boundary as the git objects it is derived from. Rendered slices of an overlay
(one workflow's objects, :mod:`gitops_agent.compile.slices`) are kept the same way under
``render-cache/slices/``, keyed by the slice's content. A corrupt or unreadable entry
is ignored and rebuilt; a cache that cannot be written is skipped. The newest
``MAX_ENTRIES`` entries are kept.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from gitops_agent.vocabulary.objects import Manifest

MAX_ENTRIES = 64
"""Whole renders kept per repository (the least recently written are removed first)."""
MAX_SLICE_ENTRIES = 10_000
"""Rendered overlay slices kept per repository (:mod:`gitops_agent.compile.slices`; about
10 KB each for a workflow of ten objects), the least recently used removed first."""

_LOG = logging.getLogger(__name__)
_SUFFIX = ".json"


def files_digest(files: Mapping[str, bytes]) -> str:
    """SHA-256 (hex) of a tree held in memory: every path and its content, in path order."""
    digest = hashlib.sha256()
    for path in sorted(files):
        content = files[path]
        digest.update(f"{len(path)}:{path}:{len(content)}:".encode())
        digest.update(content)
    return digest.hexdigest()


def encode(objects: list[Manifest] | tuple[Manifest, ...]) -> bytes:
    """The cache's JSON form of rendered objects (keys in their order; no NaN or infinity)."""
    return json.dumps(list(objects), ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode()


@dataclass(frozen=True)
class RenderCache:
    """Rendered objects on disk under ``directory`` (created on the first store)."""

    directory: Path
    max_entries: int = MAX_ENTRIES

    @staticmethod
    def key(*, environment: str, tree: str, kustomize: str, reader: str) -> str:
        """The entry name of one render: SHA-256 (hex) of every input that decides its objects."""
        parts = ("render", environment, tree, kustomize, reader)
        return hashlib.sha256("\0".join(parts).encode()).hexdigest()

    def _path(self, key: str) -> Path:
        return self.directory / f"{key}{_SUFFIX}"

    def load(self, key: str) -> list[Manifest] | None:
        """The cached objects of ``key``, or None when absent, unreadable or corrupt."""
        try:
            data = self._path(key).read_bytes()
        except OSError:
            return None
        try:
            objects = json.loads(data)
        except ValueError:
            _LOG.debug("render cache: ignoring corrupt entry %s", key)
            return None
        if not isinstance(objects, list) or not all(isinstance(obj, dict) for obj in objects):
            return None
        return objects

    def store(self, key: str, objects: list[Manifest] | tuple[Manifest, ...]) -> None:
        """Write the entry atomically; a failure to write only means no cache."""
        if self._write(key, objects):
            self._prune_quietly()

    def _write(self, key: str, objects: list[Manifest] | tuple[Manifest, ...]) -> bool:
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            handle, temporary = tempfile.mkstemp(prefix=".tmp-", suffix=_SUFFIX, dir=self.directory)
            try:
                with os.fdopen(handle, "wb") as out:
                    out.write(encode(objects))
                Path(temporary).replace(self._path(key))
            except BaseException:
                Path(temporary).unlink(missing_ok=True)
                raise
        except (OSError, ValueError) as error:  # ValueError: a value JSON cannot carry
            _LOG.debug("render cache: not stored (%s)", error)
            return False
        return True

    def _prune_quietly(self) -> None:
        try:
            self._prune()
        except OSError as error:
            _LOG.debug("render cache: not pruned (%s)", error)

    def store_many(self, entries: Mapping[str, list[Manifest]]) -> None:
        """Write several entries (each atomically), then keep the newest ``max_entries``."""
        for key, objects in entries.items():
            self._write(key, objects)
        self._prune_quietly()

    def touch(self, keys: Iterable[str]) -> None:
        """Mark entries as used now, so the ones still read are the last to be removed."""
        for key in keys:
            with contextlib.suppress(OSError):
                os.utime(self._path(key))

    def load_note(self, name: str) -> str | None:
        """A small text remembered under ``name`` (such as a binary's version), or None."""
        try:
            return (self.directory / f"{name}.txt").read_text().strip() or None
        except (OSError, UnicodeDecodeError):
            return None

    def store_note(self, name: str, text: str) -> None:
        """Remember ``text`` under ``name`` (atomically; a failure to write is ignored)."""
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            handle, temporary = tempfile.mkstemp(prefix=".tmp-", suffix=".txt", dir=self.directory)
            with os.fdopen(handle, "w") as out:
                out.write(text + "\n")
            Path(temporary).replace(self.directory / f"{name}.txt")
        except OSError as error:
            _LOG.debug("render cache: note not stored (%s)", error)

    def _prune(self) -> None:
        entries = [path for path in self.directory.glob(f"*{_SUFFIX}") if not path.name.startswith(".tmp-")]
        if len(entries) <= self.max_entries:
            return
        entries.sort(key=lambda path: path.stat().st_mtime_ns)
        for path in entries[: len(entries) - self.max_entries]:
            path.unlink(missing_ok=True)
