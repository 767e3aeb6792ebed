"""The watch-fed cache: one list, then events; relist when the watch expires (410)."""

from __future__ import annotations

import queue
import time
from collections.abc import Iterator

from gitops_agent.errors import ClusterError, api_error
from gitops_agent.reconcile.cache import CachedCluster
from gitops_agent.reconcile.cluster import ResourceInfo, WatchEvent
from gitops_agent.reconcile.transform import POD_HEALTH_FIELDS, Fields, keep_fields
from gitops_agent.vocabulary.objects import Manifest

INFO = ResourceInfo("", "v1", "ConfigMap", "configmaps", True)


def cm(name: str, version: str) -> Manifest:
    return {"metadata": {"name": name, "namespace": "ml", "resourceVersion": version}, "data": {"v": version}}


class Feed:
    """A server whose lists and watches the test scripts."""

    def __init__(self) -> None:
        self.lists: list[list[Manifest]] = [[cm("a", "1")]]
        self.events: queue.Queue[WatchEvent | Exception | None] = queue.Queue()
        self.list_calls = 0
        self.watch_from: list[str] = []

    def list_with_version(self, info: ResourceInfo, namespace: str | None, selector: str, *,
                          fields: Fields | None = None) -> tuple[list[Manifest], str]:
        self.list_calls += 1
        items = self.lists[min(self.list_calls, len(self.lists)) - 1]
        return [keep_fields(dict(i), fields) for i in items], str(10 * self.list_calls)

    def watch(self, info: ResourceInfo, namespace: str | None, selector: str, resource_version: str,
              timeout_seconds: int) -> Iterator[WatchEvent]:
        self.watch_from.append(resource_version)
        while True:
            event = self.events.get()
            if event is None:
                return
            if isinstance(event, Exception):
                raise event
            yield event

    server = "feed://"


def names(cache: CachedCluster) -> dict[str, str]:
    return {o["metadata"]["name"]: o["data"]["v"] for o in cache.list(INFO, "ml", "sel")}


def eventually(check, timeout: float = 5.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline
        time.sleep(0.01)


def test_one_list_then_events_then_relist_after_410() -> None:
    feed = Feed()
    cache = CachedCluster(feed, watch_seconds=30)  # type: ignore[arg-type]
    try:
        assert names(cache) == {"a": "1"}
        feed.events.put(WatchEvent("ADDED", cm("b", "11")))
        feed.events.put(WatchEvent("MODIFIED", cm("a", "12")))
        eventually(lambda: names(cache) == {"a": "12", "b": "11"})
        feed.events.put(WatchEvent("DELETED", cm("b", "13")))
        eventually(lambda: names(cache) == {"a": "12"})
        assert feed.list_calls == 1 and feed.watch_from == ["10"]
        # the watch ends normally: it resumes from the last version it saw, no new list
        feed.events.put(WatchEvent("BOOKMARK", {"metadata": {"resourceVersion": "14"}}))
        feed.events.put(None)
        eventually(lambda: feed.watch_from == ["10", "14"])
        assert feed.list_calls == 1
        # the version expired: list again
        feed.lists.append([cm("c", "20")])
        feed.events.put(api_error("watch ConfigMap", 410, "too old resource version"))
        eventually(lambda: feed.list_calls == 2)
        eventually(lambda: names(cache) == {"c": "20"})
    finally:
        cache.close()
        feed.events.put(None)


def test_a_failed_watch_is_reported_to_readers_until_the_server_answers_again() -> None:
    feed = Feed()
    cache = CachedCluster(feed, watch_seconds=30)  # type: ignore[arg-type]
    try:
        assert names(cache) == {"a": "1"}
        feed.lists.append([cm("a", "2")])
        feed.events.put(ClusterError("cluster unreachable at feed://: connection refused"))

        def failing() -> bool:
            try:
                names(cache)
            except ClusterError:
                return True
            return False

        eventually(failing)
        eventually(lambda: not failing() and names(cache) == {"a": "2"})  # relisted after a backoff
    finally:
        cache.close()
        feed.events.put(None)


POD_INFO = ResourceInfo("", "v1", "Pod", "pods", True)
STATUS_WRITER = {"manager": "kube-controller-manager", "operation": "Update", "subresource": "status",
                 "fieldsV1": {"f:status": {"f:phase": {}}}}
APPLIER = {"manager": "gitops-agent", "operation": "Apply", "fieldsV1": {"f:data": {"f:v": {}}}}


def whole_pod(name: str, version: str, phase: str) -> Manifest:
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": "ml", "resourceVersion": version, "labels": {"app": "web"},
                         "managedFields": [dict(APPLIER), dict(STATUS_WRITER)]},
            "spec": {"containers": [{"name": "main", "image": "img:1"}]},
            "status": {"phase": phase, "podIP": "10.244.0.3"}}


def test_the_cache_keeps_the_fields_asked_for_from_the_list_and_from_events() -> None:
    feed = Feed()
    feed.lists = [[whole_pod("web-1", "1", "Pending")]]
    cache = CachedCluster(feed, watch_seconds=30)  # type: ignore[arg-type]
    try:
        [listed] = cache.list(POD_INFO, "ml", "", fields=POD_HEALTH_FIELDS)
        assert listed == keep_fields(whole_pod("web-1", "1", "Pending"), POD_HEALTH_FIELDS)
        assert "spec" not in listed and "managedFields" not in listed["metadata"] and "podIP" not in listed["status"]
        feed.events.put(WatchEvent("MODIFIED", whole_pod("web-1", "2", "Running")))
        running = {"phase": "Running"}
        eventually(lambda: cache.list(POD_INFO, "ml", "", fields=POD_HEALTH_FIELDS)[0]["status"] == running)
        # whole objects are another watch: the same list, without the status writers' managedFields only
        [entire] = cache.list(POD_INFO, "ml", "")
        assert entire["spec"] == {"containers": [{"name": "main", "image": "img:1"}]}
        assert entire["metadata"]["managedFields"] == [APPLIER]
        assert feed.list_calls == 2
    finally:
        cache.close()
        for _ in range(2):
            feed.events.put(None)


def test_the_cache_drops_the_status_writers_managed_fields_of_listed_and_watched_objects() -> None:
    feed = Feed()
    written = cm("a", "1")
    written["metadata"]["managedFields"] = [APPLIER, STATUS_WRITER]
    feed.lists = [[written]]
    cache = CachedCluster(feed, watch_seconds=30)  # type: ignore[arg-type]
    try:
        [listed] = cache.list(INFO, "ml", "sel")
        assert listed["metadata"]["managedFields"] == [APPLIER]
        changed = cm("a", "2")
        changed["metadata"]["managedFields"] = [APPLIER, STATUS_WRITER, {**STATUS_WRITER, "subresource": "scale"}]
        feed.events.put(WatchEvent("MODIFIED", changed))
        eventually(lambda: cache.list(INFO, "ml", "sel")[0]["data"] == {"v": "2"})
        kept_entries = cache.list(INFO, "ml", "sel")[0]["metadata"]["managedFields"]
        assert kept_entries == [APPLIER, {**STATUS_WRITER, "subresource": "scale"}]
    finally:
        cache.close()
        feed.events.put(None)


def test_equal_short_strings_of_listed_and_watched_objects_are_one_object() -> None:
    def made(name: str, version: str) -> Manifest:  # strings made at run time, as a JSON parser makes them
        found = cm(name, version)
        found["data"] = {"v": "".join(["fa", "st"])}
        return found

    feed = Feed()
    feed.lists = [[made("a", "1"), made("b", "1")]]
    cache = CachedCluster(feed, watch_seconds=30)  # type: ignore[arg-type]
    try:
        first, second = cache.list(INFO, "ml", "sel")
        assert first["data"]["v"] is second["data"]["v"]
        feed.events.put(WatchEvent("ADDED", made("c", "2")))
        eventually(lambda: len(cache.list(INFO, "ml", "sel")) == 3)
        assert cache.list(INFO, "ml", "sel")[2]["data"]["v"] is first["data"]["v"]
    finally:
        cache.close()
        feed.events.put(None)
