"""Kubernetes resource quantities (``500m``, ``2``, ``512Mi``, ``1e3``)."""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

_QUANTITY = re.compile(
    r"^(?P<number>[+]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+))"
    r"(?P<suffix>Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E|[eE][+-]?[0-9]+)?$"
)
_MULTIPLIERS = {
    "": Decimal(1),
    "n": Decimal("1e-9"),
    "u": Decimal("1e-6"),
    "m": Decimal("1e-3"),
    "k": Decimal("1e3"),
    "M": Decimal("1e6"),
    "G": Decimal("1e9"),
    "T": Decimal("1e12"),
    "P": Decimal("1e15"),
    "E": Decimal("1e18"),
    "Ki": Decimal(2**10),
    "Mi": Decimal(2**20),
    "Gi": Decimal(2**30),
    "Ti": Decimal(2**40),
    "Pi": Decimal(2**50),
    "Ei": Decimal(2**60),
}


def quantity_text(value: object) -> str | None:
    """The quantity as a string (numbers as written by YAML), or None if not a scalar."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        text = repr(value)
        return text.removesuffix(".0") if "e" not in text else format(Decimal(text), "f")
    if isinstance(value, str):
        return value
    return None


def parse_quantity(value: object) -> Decimal | None:
    """The quantity's value in base units (cores, bytes), or None when it is not one."""
    text = quantity_text(value)
    if text is None:
        return None
    match = _QUANTITY.match(text)
    if not match:
        return None
    suffix = match.group("suffix") or ""
    try:
        number = Decimal(match.group("number"))
        if suffix[:1] in ("e", "E"):
            exponent = int(suffix[1:])
            if abs(exponent) > 30:
                return None
            return number.scaleb(exponent)
        return number * _MULTIPLIERS[suffix]
    except (InvalidOperation, ValueError):
        return None
