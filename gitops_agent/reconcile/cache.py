"""A watch-fed cache of owned objects: the loop lists each kind once, then follows a watch.

``CachedCluster`` wraps a ``Cluster``: ``list`` answers from the cache (starting a watcher for
that kind, namespace, selector and set of fields on first use); every other call goes to the
server. The cache keeps of each object what :func:`~gitops_agent.reconcile.transform.kept`
keeps (the fields asked for; never the status writers' ``managedFields``; short strings
interned), as client-go's informers keep what their transform returns.
"""

from __future__ import annotations

import builtins
import logging
import threading
from collections.abc import Iterator, Sequence
from typing import Any

from gitops_agent.errors import ClusterError, ExpiredError
from gitops_agent.reconcile.cluster import Cluster, ResourceInfo, WatchEvent
from gitops_agent.reconcile.schema import OpenAPIDocument
from gitops_agent.reconcile.transform import Fields, kept, kept_list
from gitops_agent.vocabulary.objects import Manifest, ObjectRef, ref_of

log = logging.getLogger(__name__)

WatchKey = tuple[str, str, str, str, str, int]
"""(group, version, kind, namespace, selector, ``id`` of the fields kept (0: whole objects))."""


class _Watcher:
    """One list + watch loop for one kind in one namespace, in a daemon thread."""

    def __init__(
        self,
        cluster: Cluster,
        info: ResourceInfo,
        namespace: str | None,
        selector: str,
        stop: threading.Event,
        watch_seconds: int,
        fields: Fields | None = None,
    ) -> None:
        self._cluster = cluster
        self._fields = fields
        self._info = info
        self._namespace = namespace
        self._selector = selector
        self._stop = stop
        self._watch_seconds = watch_seconds
        self._lock = threading.Lock()
        self._objects: dict[tuple[str, str], Manifest] = {}
        self._synced = False
        self._error: ClusterError | None = None
        self._resource_version = ""
        self.ready = threading.Event()
        self.thread = threading.Thread(target=self._run, name=f"watch-{info.kind}", daemon=True)

    def start(self) -> None:
        self.thread.start()

    def snapshot(self) -> list[Manifest]:
        with self._lock:
            if self._error is not None and not self._synced:
                raise self._error
            return list(self._objects.values())

    def _relist(self) -> None:
        # the list keeps the fields asked for itself, page by page (the whole list is never held)
        items, version = self._cluster.list_with_version(
            self._info, self._namespace, self._selector, fields=self._fields
        )
        objects = {(ref_of(o).namespace, ref_of(o).name): o for o in kept_list(items, self._fields)}
        with self._lock:
            self._objects = objects
            self._resource_version = version
            self._synced = True
            self._error = None
        self.ready.set()

    def _apply(self, event: WatchEvent) -> None:
        obj = event.object
        version = str((obj.get("metadata") or {}).get("resourceVersion", ""))
        with self._lock:
            if version:
                self._resource_version = version
            if event.type == "BOOKMARK":
                return
            obj.setdefault("apiVersion", self._info.api_version)
            obj.setdefault("kind", self._info.kind)
            key = (ref_of(obj).namespace, ref_of(obj).name)
            if event.type == "DELETED":
                self._objects.pop(key, None)
            else:
                self._objects[key] = kept(obj, self._fields)

    def _run(self) -> None:
        delay = 0.5
        while not self._stop.is_set():
            try:
                if not self._synced:
                    self._relist()
                for event in self._cluster.watch(
                    self._info,
                    self._namespace,
                    self._selector,
                    self._resource_version,
                    self._watch_seconds,
                ):
                    self._apply(event)
                    if self._stop.is_set():
                        return
                delay = 0.5
            except ClusterError as error:
                expired = isinstance(error, ExpiredError)
                with self._lock:
                    self._synced = False  # start over with a fresh list
                    # an expired watch is routine: readers keep the last state until the relist;
                    # any other failure is what they get until the server answers again
                    self._error = None if expired else error
                self.ready.set()
                if expired:
                    continue
                log.debug("watch of %s failed: %s; retrying in %.1fs", self._info.kind, error, delay)
                self._stop.wait(delay)
                delay = min(delay * 2, 30.0)


class CachedCluster:
    """A ``Cluster`` whose ``list`` reads a watch-fed cache (one list, then watch events)."""

    def __init__(self, cluster: Cluster, *, watch_seconds: int = 60, wait_seconds: float = 30.0) -> None:
        self._cluster = cluster
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._watchers: dict[WatchKey, _Watcher] = {}
        self._watch_seconds = watch_seconds
        self._wait_seconds = wait_seconds

    @property
    def server(self) -> str:
        return self._cluster.server

    def close(self) -> None:
        """Stop every watcher (threads end at their next event or watch timeout)."""
        self._stop.set()

    def list(
        self, info: ResourceInfo, namespace: str | None, selector: str, *, fields: Fields | None = None
    ) -> list[Manifest]:
        # ``fields`` are constants (transform's): one watch per set of fields, by identity
        key = (info.group, info.version, info.kind, namespace or "", selector, 0 if fields is None else id(fields))
        with self._lock:
            watcher = self._watchers.get(key)
            if watcher is None:
                watcher = _Watcher(self._cluster, info, namespace, selector, self._stop, self._watch_seconds, fields)
                self._watchers[key] = watcher
                watcher.start()
        if not watcher.ready.wait(self._wait_seconds):
            raise ClusterError(f"no answer from {self.server} listing {info.kind}")
        return watcher.snapshot()

    def list_with_version(
        self, info: ResourceInfo, namespace: str | None, selector: str, *, fields: Fields | None = None
    ) -> tuple[builtins.list[Manifest], str]:
        return self._cluster.list_with_version(info, namespace, selector, fields=fields)

    def watch(
        self,
        info: ResourceInfo,
        namespace: str | None,
        selector: str,
        resource_version: str,
        timeout_seconds: int,
    ) -> Iterator[WatchEvent]:
        return self._cluster.watch(info, namespace, selector, resource_version, timeout_seconds)

    def resource(self, group: str, version: str, kind: str) -> ResourceInfo | None:
        return self._cluster.resource(group, version, kind)

    def schema(self, group: str, version: str) -> OpenAPIDocument | None:
        return self._cluster.schema(group, version)

    def forget_discovery(self) -> None:
        self._cluster.forget_discovery()

    def get(self, info: ResourceInfo, ref: ObjectRef) -> Manifest | None:
        return self._cluster.get(info, ref)

    def apply(self, info: ResourceInfo, obj: Manifest, *, dry_run: bool, force: bool) -> Manifest:
        return self._cluster.apply(info, obj, dry_run=dry_run, force=force)

    def json_patch(self, info: ResourceInfo, ref: ObjectRef, ops: Sequence[dict[str, Any]]) -> Manifest:
        return self._cluster.json_patch(info, ref, ops)

    def delete(self, info: ResourceInfo, ref: ObjectRef) -> None:
        self._cluster.delete(info, ref)
