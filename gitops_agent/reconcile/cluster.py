"""What the reconciler needs from a cluster (implemented by ``gitops_agent.adapters.kube``)."""

from __future__ import annotations

import builtins
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from gitops_agent.reconcile.schema import OpenAPIDocument
from gitops_agent.reconcile.transform import Fields
from gitops_agent.vocabulary.objects import Manifest, ObjectRef


@dataclass(frozen=True)
class ResourceInfo:
    """How the API server serves one kind."""

    group: str
    version: str
    kind: str
    plural: str
    namespaced: bool

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version


@dataclass(frozen=True)
class WatchEvent:
    """One event of a watch: ADDED, MODIFIED, DELETED (or BOOKMARK)."""

    type: str
    object: Manifest


class Cluster(Protocol):
    """The API calls the reconciler makes. Failures raise ``ObjectError`` (one object) or
    ``ClusterError`` (the server as a whole)."""

    @property
    def server(self) -> str: ...

    def resource(self, group: str, version: str, kind: str) -> ResourceInfo | None:
        """How ``kind`` is served, or None when the server does not serve it."""

    def schema(self, group: str, version: str) -> OpenAPIDocument | None:
        """The OpenAPI v3 document of one group-version (None when unavailable)."""

    def forget_discovery(self) -> None:
        """Drop cached discovery (after CRDs were created)."""

    def list(
        self, info: ResourceInfo, namespace: str | None, selector: str, *, fields: Fields | None = None
    ) -> list[Manifest]:
        """One list request: objects of a kind matching ``selector`` (all namespaces when None);
        of each only ``fields`` when given (see :mod:`gitops_agent.reconcile.transform`)."""

    def list_with_version(
        self, info: ResourceInfo, namespace: str | None, selector: str, *, fields: Fields | None = None
    ) -> tuple[builtins.list[Manifest], str]:
        """Like ``list``, also returning the list's resourceVersion (to start a watch)."""

    def watch(
        self,
        info: ResourceInfo,
        namespace: str | None,
        selector: str,
        resource_version: str,
        timeout_seconds: int,
    ) -> Iterator[WatchEvent]:
        """Events after ``resource_version`` until the server ends the watch."""

    def get(self, info: ResourceInfo, ref: ObjectRef) -> Manifest | None:
        """One object, or None when it does not exist."""

    def apply(self, info: ResourceInfo, obj: Manifest, *, dry_run: bool, force: bool) -> Manifest:
        """Server-side apply as field manager ``gitops-agent``; returns the resulting object."""

    def json_patch(self, info: ResourceInfo, ref: ObjectRef, ops: Sequence[dict[str, Any]]) -> Manifest:
        """An RFC 6902 JSON patch (used to remove list items other managers added)."""

    def delete(self, info: ResourceInfo, ref: ObjectRef) -> None:
        """Delete with background propagation (a missing object is not an error)."""
