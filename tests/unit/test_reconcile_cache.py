"""The watch-fed cache: one list, then events; relist when the watch expires (410)."""

from __future__ import annotations

import queue
import time
from collections.abc import Iterator

from gitops_agent.errors import ClusterError, api_error
from gitops_agent.reconcile.cache import CachedCluster
from gitops_agent.reconcile.cluster import ResourceInfo, WatchEvent
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

    def list_with_version(self, info: ResourceInfo, namespace: str | None, selector: str) -> tuple[list[Manifest], str]:
        self.list_calls += 1
        items = self.lists[min(self.list_calls, len(self.lists)) - 1]
        return [dict(i) for i in items], str(10 * self.list_calls)

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
