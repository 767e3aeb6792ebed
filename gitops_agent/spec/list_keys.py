"""Duplicate keys in the lists that Kubernetes merges by key.

Source of the table: the Kubernetes OpenAPI (``/openapi/v3/api/v1``), where these lists
carry ``x-kubernetes-list-type: map`` with ``x-kubernetes-list-map-keys`` (and the matching
``x-kubernetes-patch-merge-key``), from the ``+listType=map`` / ``+listMapKey`` markers of
``k8s.io/api/core/v1/types.go``. Server-side apply (structured-merge-diff) refuses an
object whose such list holds two entries with the same key (``duplicate entries for key``),
and a strategic merge patch silently drops one of them; so a duplicate is a located error
at ``validate`` and ``compile`` time instead of a failed sync.

A key field the server defaults is compared with its default filled in (``protocol``
defaults to ``TCP``, as the API server does before merging).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from gitops_agent.spec.yaml_positions import YamlPath

ListKeys = Mapping[str, tuple[str, ...]]

POD_SPEC_LISTS: ListKeys = {
    "containers": ("name",),
    "initContainers": ("name",),
    "ephemeralContainers": ("name",),
    "volumes": ("name",),
    "imagePullSecrets": ("name",),
    "hostAliases": ("ip",),
    "topologySpreadConstraints": ("topologyKey", "whenUnsatisfiable"),
    "resourceClaims": ("name",),
    "schedulingGates": ("name",),
}
"""``PodSpec`` lists and their keys."""

CONTAINER_LISTS: ListKeys = {
    "env": ("name",),
    "ports": ("containerPort", "protocol"),
    "volumeMounts": ("mountPath",),
    "volumeDevices": ("devicePath",),
}
"""``Container`` (and init/ephemeral container) lists and their keys."""

SERVICE_SPEC_LISTS: ListKeys = {"ports": ("port", "protocol")}
"""``ServiceSpec`` lists and their keys."""

DEFAULTS: Mapping[str, str] = {"protocol": "TCP"}
"""Key fields the API server defaults before merging, with their defaults."""

# Where the pod spec sits in each built-in workload kind.
POD_SPEC_PATHS: Mapping[str, YamlPath] = {
    "Pod": ("spec",),
    "PodTemplate": ("template", "spec"),
    "ReplicationController": ("spec", "template", "spec"),
    "ReplicaSet": ("spec", "template", "spec"),
    "Deployment": ("spec", "template", "spec"),
    "StatefulSet": ("spec", "template", "spec"),
    "DaemonSet": ("spec", "template", "spec"),
    "Job": ("spec", "template", "spec"),
    "CronJob": ("spec", "jobTemplate", "spec", "template", "spec"),
}

Duplicate = tuple[YamlPath, YamlPath, str]
"""(path of the later entry, path of the first entry, description such as
``env name 'FOO'``)."""


def _get(value: Any, path: YamlPath) -> Any:
    for part in path:
        if isinstance(part, str) and isinstance(value, dict):
            value = value.get(part)
        elif isinstance(part, int) and isinstance(value, list) and part < len(value):
            value = value[part]
        else:
            return None
    return value


def _key_of(entry: Any, fields: tuple[str, ...]) -> tuple[Any, ...] | None:
    if not isinstance(entry, dict):
        return None
    values = tuple(entry.get(f, DEFAULTS.get(f)) for f in fields)
    if all(v is None for v in values):
        return None
    return tuple(str(v) for v in values)


def _describe(name: str, fields: tuple[str, ...], key: tuple[Any, ...]) -> str:
    if len(fields) == 1:
        return f"{name} {fields[0]} {key[0]!r}"
    return f"{name} " + ", ".join(f"{f} {v!r}" for f, v in zip(fields, key, strict=True))


def _in_lists(value: Any, at: YamlPath, lists: ListKeys) -> Iterator[Duplicate]:
    if not isinstance(value, dict):
        return
    for name, fields in lists.items():
        entries = value.get(name)
        if not isinstance(entries, list):
            continue
        seen: dict[tuple[Any, ...], int] = {}
        for index, entry in enumerate(entries):
            key = _key_of(entry, fields)
            if key is None:
                continue
            if key in seen:
                yield (*at, name, index), (*at, name, seen[key]), _describe(name, fields, key)
            else:
                seen[key] = index


def duplicate_list_keys(obj: Any) -> Iterator[Duplicate]:
    """Every entry of a keyed list that repeats an earlier entry's key, in ``obj``
    (one Kubernetes object as a plain value; a ``v1 List`` is searched item by item).

    Paths are relative to ``obj``. Kinds without a pod spec or Service spec yield nothing.
    """
    if not isinstance(obj, dict):
        return
    kind = obj.get("kind")
    if isinstance(kind, str) and kind.endswith("List") and isinstance(obj.get("items"), list):
        for index, item in enumerate(obj["items"]):
            for later, first, what in duplicate_list_keys(item):
                yield ("items", index, *later), ("items", index, *first), what
        return
    if kind == "Service" and str(obj.get("apiVersion")) == "v1":
        yield from _in_lists(obj.get("spec"), ("spec",), SERVICE_SPEC_LISTS)
        return
    at = POD_SPEC_PATHS.get(kind) if isinstance(kind, str) else None
    if at is None:
        return
    pod_spec = _get(obj, at)
    yield from _in_lists(pod_spec, at, POD_SPEC_LISTS)
    if not isinstance(pod_spec, dict):
        return
    for section in ("initContainers", "containers", "ephemeralContainers"):
        containers = pod_spec.get(section)
        for index, container in enumerate(containers if isinstance(containers, list) else []):
            yield from _in_lists(container, (*at, section, index), CONTAINER_LISTS)
