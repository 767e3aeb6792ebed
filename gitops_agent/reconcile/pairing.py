"""Pair desired objects with live ones (pure): a missing side means create or prune."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from gitops_agent.vocabulary.objects import Manifest, ObjectRef, ref_of


@dataclass(frozen=True)
class Pair:
    """One object as git wants it and as the cluster has it (either may be missing)."""

    ref: ObjectRef
    desired: Manifest | None
    live: Manifest | None


def pair_objects(desired: Iterable[Manifest], live: Iterable[Manifest]) -> list[Pair]:
    """Every desired object paired with its live counterpart, then live-only objects.

    Objects are matched by group, kind, namespace and name (not version). The desired
    object's reference (with its version) wins; live-only pairs keep the live reference.
    """
    live_by_key: dict[tuple[str, str, str, str], Manifest] = {}
    for obj in live:
        live_by_key[ref_of(obj).key] = obj
    pairs: list[Pair] = []
    seen: set[tuple[str, str, str, str]] = set()
    for obj in desired:
        ref = ref_of(obj)
        seen.add(ref.key)
        pairs.append(Pair(ref, obj, live_by_key.get(ref.key)))
    for key, obj in live_by_key.items():
        if key not in seen:
            pairs.append(Pair(ref_of(obj), None, obj))
    return pairs
