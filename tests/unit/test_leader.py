"""Leader election logic against an in-memory Lease store with the API server's
resourceVersion compare-and-swap (the real API server is in test_leader_election.py)."""

from __future__ import annotations

import copy
import threading
import time
from datetime import UTC, datetime, timedelta

import pytest

from gitops_agent.errors import ClusterError, ConflictError
from gitops_agent.reconcile.cluster import ResourceInfo
from gitops_agent.reconcile.leader import LeaderElector, LeaderSettings, lease_expired, run_as_leader
from gitops_agent.vocabulary.objects import Manifest, ObjectRef

FAST = {"lease_duration": 0.6, "renew_deadline": 0.4, "retry_period": 0.1}


class MemoryLeases:
    """get/create/replace with 409 on a stale resourceVersion; ``broken`` fails every call."""

    def __init__(self) -> None:
        self.objects: dict[tuple[str, str], Manifest] = {}
        self.version = 0
        self.broken = False
        self.lock = threading.Lock()

    def _check(self) -> None:
        if self.broken:
            raise ClusterError("cluster unreachable at https://127.0.0.1:1: connection refused")

    def get(self, info: ResourceInfo, ref: ObjectRef) -> Manifest | None:
        self._check()
        with self.lock:
            found = self.objects.get((ref.namespace, ref.name))
            return copy.deepcopy(found)

    def create(self, info: ResourceInfo, obj: Manifest) -> Manifest:
        self._check()
        key = (obj["metadata"]["namespace"], obj["metadata"]["name"])
        with self.lock:
            if key in self.objects:
                raise ConflictError(f"Lease/{key[0]}/{key[1]}", 409, "already exists")
            return self._store(key, obj)

    def replace(self, info: ResourceInfo, obj: Manifest) -> Manifest:
        self._check()
        key = (obj["metadata"]["namespace"], obj["metadata"]["name"])
        with self.lock:
            current = self.objects[key]
            if obj["metadata"].get("resourceVersion") != current["metadata"]["resourceVersion"]:
                raise ConflictError(f"Lease/{key[0]}/{key[1]}", 409, "the object has been modified")
            return self._store(key, obj)

    def _store(self, key: tuple[str, str], obj: Manifest) -> Manifest:
        self.version += 1
        stored = copy.deepcopy(obj)
        stored["metadata"]["resourceVersion"] = str(self.version)
        self.objects[key] = stored
        return copy.deepcopy(stored)


def elector(store: MemoryLeases, identity: str, **kwargs: object) -> LeaderElector:
    settings = LeaderSettings(namespace="ns", identity=identity, **{**FAST, **kwargs})  # type: ignore[arg-type]
    return LeaderElector(store, settings)


def test_first_candidate_leads_others_wait_until_expiry() -> None:
    store = MemoryLeases()
    a, b = elector(store, "a"), elector(store, "b")
    assert a.try_acquire_or_renew()
    assert not b.try_acquire_or_renew()
    assert a.try_acquire_or_renew()  # renewal
    assert a.holder() == "a"
    time.sleep(1.1)  # leaseDurationSeconds is whole seconds (at least 1)
    assert b.try_acquire_or_renew()
    assert a.holder() == "b"
    lease = next(iter(store.objects.values()))
    assert lease["spec"]["leaseTransitions"] == 1


def test_lost_race_is_a_409_not_a_second_leader() -> None:
    store = MemoryLeases()
    a = elector(store, "a")
    assert a.try_acquire_or_renew()
    stale = copy.deepcopy(next(iter(store.objects.values())))
    assert a.try_acquire_or_renew()  # the Lease moved on
    late = LeaderElector(
        StaleStore(store, stale),
        LeaderSettings(namespace="ns", identity="b", **FAST),  # type: ignore[arg-type]
        clock=lambda: datetime.now(UTC) + timedelta(minutes=5),
    )
    assert not late.try_acquire_or_renew()
    assert a.holder() == "a"


class StaleStore(MemoryLeases):
    def __init__(self, real: MemoryLeases, stale: Manifest) -> None:
        super().__init__()
        self.real = real
        self.stale = stale

    def get(self, info: ResourceInfo, ref: ObjectRef) -> Manifest | None:
        return copy.deepcopy(self.stale)

    def replace(self, info: ResourceInfo, obj: Manifest) -> Manifest:
        return self.real.replace(info, obj)


def test_expiry_rules() -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    fresh = {"holderIdentity": "a", "leaseDurationSeconds": 15, "renewTime": "2025-12-31T23:59:50.000000Z"}
    assert not lease_expired(fresh, now)
    assert lease_expired({**fresh, "renewTime": "2025-12-31T23:59:40.000000Z"}, now)
    assert lease_expired({**fresh, "holderIdentity": None}, now)
    assert lease_expired({"holderIdentity": "a"}, now)


def test_leader_stops_working_when_renewal_fails_past_the_deadline() -> None:
    store = MemoryLeases()
    leader = elector(store, "a")
    stopped_after: list[float] = []

    def work(stop: threading.Event) -> int:
        store.broken = True  # the API server goes away while we lead
        started = time.monotonic()
        stop.wait(10)
        stopped_after.append(time.monotonic() - started)
        return 0

    with pytest.raises(ClusterError, match="lost leadership"):
        run_as_leader(leader, work, threading.Event(), progress=lambda _: None)
    assert stopped_after and stopped_after[0] < FAST["renew_deadline"] + 3 * FAST["retry_period"]
    assert stopped_after[0] < FAST["lease_duration"]  # before anyone else may take over


def test_clean_stop_releases_the_lease() -> None:
    store = MemoryLeases()
    leader = elector(store, "a")
    outer = threading.Event()

    def work(stop: threading.Event) -> int:
        threading.Timer(0.3, outer.set).start()
        stop.wait(10)
        return 0

    assert run_as_leader(leader, work, outer, progress=lambda _: None) == 0
    assert leader.holder() is None
    assert elector(store, "b").try_acquire_or_renew()  # at once, no waiting for expiry


def test_a_stopped_candidate_never_leads() -> None:
    store = MemoryLeases()
    assert elector(store, "a").try_acquire_or_renew()
    stop = threading.Event()
    threading.Timer(0.3, stop.set).start()
    ran: list[bool] = []
    assert run_as_leader(elector(store, "b"), lambda _: ran.append(True) or 0, stop, progress=lambda _: None) == 0
    assert ran == []
