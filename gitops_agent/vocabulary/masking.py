"""Secret masking for diffs, the way ``kubectl diff`` does it (k8s.io/kubectl ``pkg/cmd/diff``,
``Masker``): every value of a Secret's ``data`` and ``stringData`` shows as ``***``; a key whose
value differs between the two sides shows as ``*** (before)`` and ``*** (after)``. Equal values
mask equal and different values mask different, so a changed value is still one changed line,
and no value — nor its length or hash — ever reaches a diff, a log or git.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from gitops_agent.vocabulary.objects import Manifest, copy_manifest

MASK = "***"
MASK_BEFORE = "*** (before)"
MASK_AFTER = "*** (after)"
SECRET_FIELDS = ("data", "stringData")


def is_secret(obj: Mapping[str, Any] | None) -> bool:
    """A core ``v1`` Secret."""
    return obj is not None and obj.get("kind") == "Secret" and str(obj.get("apiVersion", "")) == "v1"


def mask_secrets(before: Manifest | None, after: Manifest | None) -> tuple[Manifest | None, Manifest | None]:
    """Both sides of a diff with their Secret values masked (copies; other kinds are returned as
    they are). ``None`` stands for an absent side."""
    if not is_secret(before) and not is_secret(after):
        return before, after
    old = copy_manifest(before) if before is not None and is_secret(before) else before
    new = copy_manifest(after) if after is not None and is_secret(after) else after
    for field in SECRET_FIELDS:
        old_values = old.get(field) if old is not None and is_secret(old) else None
        new_values = new.get(field) if new is not None and is_secret(new) else None
        masked_old, masked_new = _mask_pair(old_values, new_values)
        if masked_old is not None and old is not None:
            old[field] = masked_old
        if masked_new is not None and new is not None:
            new[field] = masked_new
    return old, new


def _mask_pair(old: object, new: object) -> tuple[object, object]:
    """One field's values masked on both sides (None where that side has no such field)."""
    if not isinstance(old, Mapping) or not isinstance(new, Mapping):
        return _mask_whole(old, new)
    masked_old = dict.fromkeys(old, MASK)
    masked_new = dict.fromkeys(new, MASK)
    for key in old.keys() & new.keys():
        if old[key] != new[key]:
            masked_old[key], masked_new[key] = MASK_BEFORE, MASK_AFTER
    return masked_old, masked_new


def _mask_whole(old: object, new: object) -> tuple[object, object]:
    """A field that is not a mapping on some side (invalid, but never shown either)."""

    def masked(value: object) -> object:
        if value is None:
            return None
        return dict.fromkeys(value, MASK) if isinstance(value, Mapping) else MASK

    if old is not None and new is not None and old != new:
        return MASK_BEFORE, MASK_AFTER
    return masked(old), masked(new)


def mask_secrets_in_text(text: str) -> str:
    """``text`` with every Secret written into it as a JSON object (as kustomize writes the
    objects of an ID conflict into its error) masked like a diff's: each ``data`` and
    ``stringData`` value ``***``. Other text, and JSON that is not a Secret, is kept as it is."""
    decoder = json.JSONDecoder()
    parts: list[str] = []
    start = 0
    at = text.find("{")
    while at != -1:
        try:
            value, end = decoder.raw_decode(text, at)
        except ValueError:
            at = text.find("{", at + 1)
            continue
        if isinstance(value, dict) and is_secret(value):
            masked, _ = mask_secrets(value, value)
            parts += [text[start:at], json.dumps(masked, separators=(",", ":"), ensure_ascii=False)]
            start = end
        at = text.find("{", end if isinstance(value, dict) and is_secret(value) else at + 1)
    return "".join([*parts, text[start:]])
