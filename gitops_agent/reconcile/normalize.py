"""Canonical values and noise-free objects: quantities and server metadata."""

from __future__ import annotations

import re
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from gitops_agent.vocabulary.objects import Manifest, copy_manifest

_QUANTITY = re.compile(r"^([+-]?[0-9.]+)(([eE][+-]?[0-9]+)|Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E)?$")
_BINARY = {"Ki": 1, "Mi": 2, "Gi": 3, "Ti": 4, "Pi": 5, "Ei": 6}
_DECIMAL = {"n": -9, "u": -6, "m": -3, "": 0, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15, "E": 18}

NOISE_METADATA = (
    "managedFields",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "uid",
    "selfLink",
)
NOISE_ANNOTATIONS = ("kubectl.kubernetes.io/last-applied-configuration",)


def parse_quantity(value: object) -> Decimal | None:
    """The exact value of a Kubernetes quantity (``1000m`` → 1, ``1Gi`` → 1073741824)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return Decimal(str(value))
    if not isinstance(value, str):
        return None
    match = _QUANTITY.match(value.strip())
    if match is None:
        return None
    try:
        number = Decimal(match.group(1))
    except InvalidOperation:
        return None
    suffix = match.group(2) or ""
    if suffix in _BINARY:
        return number * (Decimal(1024) ** _BINARY[suffix])
    if match.group(3):
        return number * (Decimal(10) ** int(suffix[1:]))
    return number * (Decimal(10) ** _DECIMAL[suffix])


def quantities_equal(a: object, b: object) -> bool:
    """Two quantities with the same value, however written."""
    if a == b:
        return True
    qa, qb = parse_quantity(a), parse_quantity(b)
    return qa is not None and qa == qb


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
