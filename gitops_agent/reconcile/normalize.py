"""Canonical values and noise-free objects: quantities and server metadata."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gitops_agent.vocabulary.objects import Manifest, copy_manifest

NOISE_METADATA = (
    "managedFields",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "uid",
    "selfLink",
)
NOISE_ANNOTATIONS = ("kubectl.kubernetes.io/last-applied-configuration",)


def scalars_equal(a: object, b: object) -> bool:
    """Equal JSON scalars (an int and a float with the same value are equal; bools are not ints)."""
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b or (isinstance(a, bool) and isinstance(b, bool) and a == b)
    if isinstance(a, int | float) and isinstance(b, int | float):
        return a == b
    return type(a) is type(b) and a == b


def strip_noise(obj: Mapping[str, Any]) -> Manifest:
    """A deep copy without server bookkeeping: managedFields, versions, timestamps, status."""
    clean: Manifest = copy_manifest(obj)
    clean.pop("status", None)
    meta = clean.get("metadata")
    if isinstance(meta, dict):
        for key in NOISE_METADATA:
            meta.pop(key, None)
        annotations = meta.get("annotations")
        if isinstance(annotations, dict):
            for key in NOISE_ANNOTATIONS:
                annotations.pop(key, None)
            if not annotations:
                meta.pop("annotations", None)
    return clean
