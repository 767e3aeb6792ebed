"""Recommended quantities: CPU and memory rounded up to steps a person would write, and formatted."""

from __future__ import annotations

import math

MI = 1024 * 1024
GI = 1024 * MI
EPSILON = 1e-9


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
