"""Kubernetes quantities: parse CPU to cores and memory to bytes; format rounded values."""

from __future__ import annotations

import math
import re

MI = 1024 * 1024
GI = 1024 * MI
_SUFFIX = {
    "": 1.0,
    "m": 1e-3,
    "k": 1e3,
    "M": 1e6,
    "G": 1e9,
    "T": 1e12,
    "P": 1e15,
    "E": 1e18,
    "Ki": 1024.0,
    "Mi": float(MI),
    "Gi": float(GI),
    "Ti": 1024.0**4,
    "Pi": 1024.0**5,
    "Ei": 1024.0**6,
}
_QUANTITY = re.compile(r"^([+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)(Ki|Mi|Gi|Ti|Pi|Ei|m|k|M|G|T|P|E)?$")
EPSILON = 1e-9


def parse_quantity(text: str | int | float) -> float:
    """``"500m"`` → 0.5, ``"1Gi"`` → 1073741824.0, ``2`` → 2.0; ValueError otherwise."""
    if isinstance(text, int | float):
        return float(text)
    match = _QUANTITY.match(text.strip())
    if not match:
        raise ValueError(f"not a Kubernetes quantity: {text!r}")
    return float(match.group(1)) * _SUFFIX[match.group(2) or ""]


def round_cpu(cores: float) -> int:
    """Millicores rounded *up*: to 5m steps below one core, to 50m steps from one core."""
    milli = cores * 1000
    step = 5 if milli < 1000 - EPSILON else 50
    return max(step, math.ceil(milli / step - EPSILON) * step)


def format_cpu(millicores: int) -> str:
    """``250`` → ``"250m"``, ``2000`` → ``"2"``."""
    return str(millicores // 1000) if millicores % 1000 == 0 else f"{millicores}m"


def round_memory(size: float) -> int:
    """Bytes rounded *up* to a whole MiB, in MiB."""
    return max(1, math.ceil(size / MI - EPSILON))


def format_memory(mebibytes: int) -> str:
    """``1024`` → ``"1Gi"``, ``600`` → ``"600Mi"``."""
    return f"{mebibytes // 1024}Gi" if mebibytes % 1024 == 0 else f"{mebibytes}Mi"
