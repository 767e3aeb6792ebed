"""Which fields of an object a function reads: the object wrapped in mappings and lists that
record every key looked up (present or not), as a path of names (``*`` for a list item); a
mapping iterated or measured is read whole (the path ends in :data:`WHOLE`). Truth tests
(``x or {}``) read nothing: an emptied mapping and an absent one answer every later lookup alike."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from gitops_agent.reconcile.transform import Fields

Path = tuple[str, ...]
WHOLE = "<whole>"


class Recorded(Mapping[str, Any]):
    """A read-only mapping that adds the path of every key read to ``reads``."""

    def __init__(self, data: Mapping[str, Any], reads: set[Path], path: Path = ()) -> None:
        self._data, self._reads, self._path = data, reads, path

    def _wrap(self, name: str, value: Any) -> Any:
        return recorded(value, self._reads, (*self._path, name))

    def __getitem__(self, name: str) -> Any:
        self._reads.add((*self._path, name))
        return self._wrap(name, self._data[name])

    def get(self, name: str, default: Any = None) -> Any:
        self._reads.add((*self._path, name))
        return self._wrap(name, self._data[name]) if name in self._data else default

    def __contains__(self, name: object) -> bool:
        self._reads.add((*self._path, str(name)))
        return name in self._data

    def __iter__(self) -> Iterator[str]:
        self._reads.add((*self._path, WHOLE))
        return iter(self._data)

    def __len__(self) -> int:
        self._reads.add((*self._path, WHOLE))
        return len(self._data)

    def __bool__(self) -> bool:
        return bool(self._data)

    def items(self) -> Any:
        return [(name, self[name]) for name in self]

    def values(self) -> Any:
        return [self[name] for name in self]

    def keys(self) -> Any:
        return list(self)


class RecordedList(list[Any]):
    """A list whose items record their reads under ``*``."""


def recorded(value: Any, reads: set[Path], path: Path = ()) -> Any:
    """``value`` wrapped so that reads of it are recorded (scalars as they are)."""
    if isinstance(value, Mapping):
        return Recorded(value, reads, path)
    if isinstance(value, list):
        return RecordedList(recorded(item, reads, (*path, "*")) for item in value)
    return value


def kept_by(fields: Fields | None, path: Path) -> bool:
    """Does keeping ``fields`` keep the field at ``path`` (a list item: ``*``, transparent; a
    path ending in :data:`WHOLE`: the whole value)?"""
    for name in path:
        if fields is None:
            return True
        if name == WHOLE:
            return False
        if name == "*":
            continue
        if name not in fields:
            return False
        fields = fields[name]
    return True
