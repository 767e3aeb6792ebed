"""The difference of one object: normalized live, predicted result and a unified diff."""

from __future__ import annotations

import difflib
import io
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ruamel.yaml import YAML

from gitops_agent.reconcile.normalize import mask_secrets
from gitops_agent.reconcile.objects import Manifest, ObjectRef


@dataclass(frozen=True)
class DiffResult:
    """``live`` and ``predicted`` are noise-free (None when the object is absent on that side)."""

    ref: ObjectRef
    live: Manifest | None
    predicted: Manifest | None

    @property
    def changed(self) -> bool:
        return self.live != self.predicted

    def unified(self) -> str:
        """A unified diff of the two sides as YAML, Secret values masked."""
        return unified_diff(self.ref, self.live, self.predicted)


def _sorted(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {key: _sorted(value[key]) for key in sorted(value)}
    if isinstance(value, list):
        return [_sorted(item) for item in value]
    return value


def to_yaml(obj: Manifest | None) -> str:
    if obj is None:
        return ""
    yaml = YAML(typ="safe", pure=True)
    yaml.default_flow_style = False
    stream = io.StringIO()
    yaml.dump(_sorted(obj), stream)
    return stream.getvalue()


def unified_diff(ref: ObjectRef, live: Manifest | None, predicted: Manifest | None) -> str:
    before, after = mask_secrets(live, predicted)
    name = str(ref)
    lines = difflib.unified_diff(
        to_yaml(before).splitlines(keepends=True),
        to_yaml(after).splitlines(keepends=True),
        fromfile=f"live/{name}" if live is not None else "/dev/null",
        tofile=f"git/{name}" if predicted is not None else "/dev/null",
    )
    return "".join(lines)
