"""What gitops-agent owns: ownership labels plus a tracking id naming the object itself."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gitops_agent.vocabulary.labels import DEPENDS_ON_ANNOTATION, TRACKING_ANNOTATION, ownership
from gitops_agent.vocabulary.objects import ObjectRef, annotations_of, labels_of, ref_of


def has_ownership_labels(obj: Mapping[str, Any], environment: str) -> bool:
    """True when the object carries gitops-agent's ownership labels for ``environment``.

    Labels are what the API server can filter on (one labelled list per kind), but labels are
    copied along with templates: use :func:`is_owned` to decide what gitops-agent owns.
    """
    labels = labels_of(obj)
    return all(labels.get(key) == value for key, value in ownership(environment).items())


def tracking_id(environment: str, ref: ObjectRef) -> str:
    """The value of ``gitops-agent.io/tracking-id`` for ``ref`` in ``environment``
    (``dev:apps/Deployment:ml-dev/classifier``; the version is left out: one object, many versions)."""
    return f"{environment}:{ref.group}/{ref.kind}:{ref.namespace}/{ref.name}"


def controller_of(obj: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The ``ownerReferences`` entry with ``controller: true``, if any."""
    for owner in (obj.get("metadata") or {}).get("ownerReferences") or ():
        if isinstance(owner, Mapping) and owner.get("controller") is True:
            return owner
    return None


def is_owned(obj: Mapping[str, Any], environment: str) -> bool:
    """True when gitops-agent applied this very object for ``environment``.

    All three must hold: the ownership labels, a tracking id naming the object's own identity
    (a copy of an owned object carries its parent's id, not its own), and no controller
    ``ownerReference`` (an object a controller made is the controller's, never a top-level
    git object).
    """
    if not has_ownership_labels(obj, environment) or controller_of(obj) is not None:
        return False
    return annotations_of(obj).get(TRACKING_ANNOTATION) == tracking_id(environment, ref_of(obj))


def is_untracked_legacy(obj: Mapping[str, Any], environment: str) -> bool:
    """Labelled for ``environment`` but without any tracking id (applied before tracking ids
    existed, or copied from such an object): adopted when git declares it, never pruned."""
    return (
        has_ownership_labels(obj, environment)
        and TRACKING_ANNOTATION not in annotations_of(obj)
        and controller_of(obj) is None
    )


def depends_on(obj: Mapping[str, Any]) -> tuple[str, ...]:
    """Task names from the ``gitops-agent.io/depends-on`` annotation."""
    raw = annotations_of(obj).get(DEPENDS_ON_ANNOTATION, "")
    return tuple(part.strip() for part in str(raw).split(",") if part.strip())
