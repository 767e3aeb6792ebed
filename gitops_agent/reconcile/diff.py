"""The difference of one object: normalized live, predicted result and a unified diff."""

from __future__ import annotations

import difflib
from dataclasses import dataclass

from gitops_agent.vocabulary.masking import mask_secrets
from gitops_agent.vocabulary.objects import Manifest, ObjectRef
from gitops_agent.vocabulary.yaml import manifest_lines


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


def to_yaml(obj: Manifest | None) -> str:
    """Block-style YAML with sorted keys ("" for an absent object)."""
    return "".join(manifest_lines(obj, sort_keys=True))


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
