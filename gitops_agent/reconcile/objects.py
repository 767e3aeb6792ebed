"""Object identity and the labels/annotations the reconciler relies on."""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from gitops_agent.errors import ClusterError

Manifest = dict[str, Any]
"""A Kubernetes object as plain JSON-compatible data."""

FIELD_MANAGER = "gitops-agent"
MANAGED_BY_LABEL = "app.kubernetes.io/managed-by"
MANAGED_BY_VALUE = "gitops-agent"
ENVIRONMENT_LABEL = "gitops-agent.io/environment"
PART_OF_LABEL = "app.kubernetes.io/part-of"
TASK_LABEL = "gitops-agent.io/task"
DEPENDS_ON_ANNOTATION = "gitops-agent.io/depends-on"
PRUNE_ANNOTATION = "gitops-agent.io/prune"
ADOPTED_ANNOTATION = "gitops-agent.io/adopted"
"""On a Namespace that existed before gitops-agent applied it: never pruned."""
TRACKING_ANNOTATION = "gitops-agent.io/tracking-id"
"""``<environment>:<group>/<kind>:<namespace>/<name>``: the object's own identity, stamped at
apply time. A copy (``kubectl create job --from=cronjob/...``, an operator copying its parent's
labels) carries another name or kind, so its value does not match it (Argo CD's annotation
tracking, ``argocd.argoproj.io/tracking-id``, exists for the same reason)."""
SSA_ANNOTATION = "gitops-agent.io/ssa"
"""Per-object apply policy, Flux's vocabulary (``kustomize.toolkit.fluxcd.io/ssa``):
``Override`` (default), ``Merge``, ``IfNotPresent`` or ``Ignore``."""


def copy_manifest(obj: Mapping[str, Any]) -> Manifest:
    """A deep copy of JSON-shaped data (several times faster than ``copy.deepcopy``)."""
    try:
        copied: Manifest = json.loads(json.dumps(obj))
    except (TypeError, ValueError):  # e.g. a timestamp a YAML loader turned into a datetime
        copied = copy.deepcopy(dict(obj))
    return copied


def ownership_selector(environment: str) -> str:
    """The label selector that finds what gitops-agent owns in one environment."""
    return f"{MANAGED_BY_LABEL}={MANAGED_BY_VALUE},{ENVIRONMENT_LABEL}={environment}"


def split_api_version(api_version: str) -> tuple[str, str]:
    """``apps/v1`` → (``apps``, ``v1``); ``v1`` → (``""``, ``v1``)."""
    group, _, version = api_version.rpartition("/")
    return group, version


@dataclass(frozen=True, order=True)
class ObjectRef:
    """Identity of one object; ``key`` ignores the version (one object, many versions)."""

    group: str
    version: str
    kind: str
    namespace: str
    name: str

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def key(self) -> tuple[str, str, str, str]:
        return (self.group, self.kind, self.namespace, self.name)

    def __str__(self) -> str:
        if self.namespace:
            return f"{self.kind}/{self.namespace}/{self.name}"
        return f"{self.kind}/{self.name}"


def ref_of(obj: Mapping[str, Any]) -> ObjectRef:
    """The identity of a manifest (missing parts become empty strings)."""
    group, version = split_api_version(str(obj.get("apiVersion", "")))
    meta = obj.get("metadata") or {}
    return ObjectRef(
        group=group,
        version=version,
        kind=str(obj.get("kind", "")),
        namespace=str(meta.get("namespace") or ""),
        name=str(meta.get("name", "")),
    )


def labels_of(obj: Mapping[str, Any]) -> Mapping[str, str]:
    labels = (obj.get("metadata") or {}).get("labels") or {}
    return labels if isinstance(labels, Mapping) else {}


def annotations_of(obj: Mapping[str, Any]) -> Mapping[str, str]:
    annotations = (obj.get("metadata") or {}).get("annotations") or {}
    return annotations if isinstance(annotations, Mapping) else {}


def has_ownership_labels(obj: Mapping[str, Any], environment: str) -> bool:
    """True when the object carries gitops-agent's ownership labels for ``environment``.

    Labels are what the API server can filter on (one labelled list per kind), but labels are
    copied along with templates: use :func:`is_owned` to decide what gitops-agent owns.
    """
    labels = labels_of(obj)
    return labels.get(MANAGED_BY_LABEL) == MANAGED_BY_VALUE and labels.get(ENVIRONMENT_LABEL) == environment


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


class ObjectError(ClusterError):
    """The API server refused or failed one request about one object.

    ``status`` is the HTTP status (0 when no answer came back).
    """

    def __init__(self, ref: ObjectRef | str, status: int, message: str) -> None:
        self.ref = str(ref)
        self.status = status
        self.detail = message
        super().__init__(f"{self.ref}: HTTP {status}: {message}" if status else f"{self.ref}: {message}")
