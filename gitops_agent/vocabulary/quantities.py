"""Kubernetes resource quantities (``500m``, ``2``, ``512Mi``, ``1e3``) as exact decimals.

The grammar is apimachinery's ``resource.Quantity`` (k8s.io/apimachinery ``pkg/api/resource``,
``quantity.go``): an optionally signed decimal number, then a binary-SI suffix (``Ki`` … ``Ei``),
a decimal-SI suffix (``n``, ``u``, ``m``, ``k``, ``M``, ``G``, ``T``, ``P``, ``E``) or a decimal
exponent (``e3``, ``E-2``). Values are ``Decimal`` so ``1000m`` equals ``1`` and ``1Gi`` equals
``1073741824`` exactly (the same values ``kubernetes.utils.parse_quantity`` returns, without
importing the Kubernetes client at start-up). Exponents beyond ±30 are refused: no resource
needs them and they would make a huge number out of a few bytes of input.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

_QUANTITY = re.compile(
    r"^(?P<number>[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+))"
    r"(?:[eE](?P<exponent>[+-]?[0-9]+)|(?P<suffix>Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E))?$"
)
_MAX_EXPONENT = 30
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
    """The quantity as a string (YAML numbers as written: ``2`` → ``"2"``, ``0.25`` →
    ``"0.25"``, ``1e-05`` → ``"0.00001"``), or None when ``value`` is not a scalar."""
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
    """The quantity's value in base units (cores, bytes), or None when ``value`` is not one
    (booleans, other types, ``1GB``, ``1gi``, ``""``, exponents beyond ±30)."""
    text = quantity_text(value)
    match = _QUANTITY.match(text) if text is not None else None
    if match is None:
        return None
    try:
        number = Decimal(match.group("number"))
    except InvalidOperation:
        return None
    if match.group("exponent") is not None:
        exponent = int(match.group("exponent"))
        return number.scaleb(exponent) if abs(exponent) <= _MAX_EXPONENT else None
    return number * _MULTIPLIERS[match.group("suffix") or ""]


def quantity_float(value: object) -> float:
    """:func:`parse_quantity` as a float (for statistics over metrics); ValueError when
    ``value`` is not a quantity."""
    parsed = parse_quantity(value)
    if parsed is None:
        raise ValueError(f"not a Kubernetes quantity: {value!r}")
    return float(parsed)


def quantities_equal(a: object, b: object) -> bool:
    """Two quantities with the same value, however written (``1000m`` and ``1``)."""
    if a == b:
        return True
    qa, qb = parse_quantity(a), parse_quantity(b)
    return qa is not None and qa == qb
