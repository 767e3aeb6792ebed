"""Leader election on a ``coordination.k8s.io/v1`` Lease, the way client-go does it.

One Lease names the holder (``holderIdentity``), when it last renewed (``renewTime``) and
for how long that counts (``leaseDurationSeconds``). A candidate takes the Lease when it is
free or expired; every write is a PUT carrying the ``resourceVersion`` that was read, so two
candidates can never both win (the API server answers 409 to the slower one). The leader
renews every ``retry_period``; when it cannot renew for ``renew_deadline`` it stops leading
(before the Lease can expire and another replica take over). On a clean stop it releases
the Lease so a follower takes over at once.

Also here: environment sharding (``crc32(name) % count``), so replicas can split work.
"""

from __future__ import annotations

import logging
import threading
import time
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from gitops_agent.errors import ClusterError, ConflictError, InvalidError, InvalidInputError
from gitops_agent.reconcile.cluster import ResourceInfo
from gitops_agent.vocabulary.objects import Manifest, ObjectRef

log = logging.getLogger(__name__)

LEASE = ResourceInfo("coordination.k8s.io", "v1", "Lease", "leases", True)
DEFAULT_LEASE_NAME = "gitops-agent"
MICRO_TIME = "%Y-%m-%dT%H:%M:%S.%fZ"


@dataclass(frozen=True)
class LeaderSettings:
    """client-go's defaults: lease 15 s, renew deadline 10 s, retry every 2 s."""

    namespace: str
    identity: str
    name: str = DEFAULT_LEASE_NAME
    lease_duration: float = 15.0
    renew_deadline: float = 10.0
    retry_period: float = 2.0

    def __post_init__(self) -> None:
        if not (self.lease_duration > self.renew_deadline > self.retry_period > 0):
            raise InvalidInputError(
                "leader election needs lease duration > renew deadline > retry period > 0 "
                f"(got {self.lease_duration}s, {self.renew_deadline}s, {self.retry_period}s)"
            )


class LeaseStore(Protocol):
    """What leader election needs of the API (``KubeCluster`` has it)."""

    def get(self, info: ResourceInfo, ref: ObjectRef) -> Manifest | None: ...

    def create(self, info: ResourceInfo, obj: Manifest) -> Manifest: ...

    def replace(self, info: ResourceInfo, obj: Manifest) -> Manifest: ...


def _now() -> datetime:
    return datetime.now(UTC)


def _format(moment: datetime) -> str:
    return moment.strftime(MICRO_TIME)


def _parse(text: Any) -> datetime | None:
    if not isinstance(text, str) or not text:
        return None
    for pattern in (MICRO_TIME, "%Y-%m-%dT%H:%M:%SZ"):
        try:
            return datetime.strptime(text, pattern).replace(tzinfo=UTC)
        except ValueError:
            continue
    return None


def lease_expired(spec: dict[str, Any], now: datetime) -> bool:
    """A Lease with no holder, no renew time, or a renew time older than its duration."""
    if not spec.get("holderIdentity"):
        return True
    renewed = _parse(spec.get("renewTime")) or _parse(spec.get("acquireTime"))
    if renewed is None:
        return True
    return (now - renewed).total_seconds() > float(spec.get("leaseDurationSeconds") or 0)


class LeaderElector:
    """Acquire, renew and release one Lease for one identity."""

    def __init__(self, store: LeaseStore, settings: LeaderSettings, *, clock: Callable[[], datetime] = _now) -> None:
        self._store = store
        self.settings = settings
        self._clock = clock
        self._ref = ObjectRef("coordination.k8s.io", "v1", "Lease", settings.namespace, settings.name)
        self.transitions = 0

    def _body(self, current: Manifest | None, *, acquire: bool) -> Manifest:
        now = _format(self._clock())
        spec = dict((current or {}).get("spec") or {})
        if acquire:
            spec["acquireTime"] = now
            spec["leaseTransitions"] = int(spec.get("leaseTransitions") or 0) + (1 if current else 0)
        spec["holderIdentity"] = self.settings.identity
        spec["leaseDurationSeconds"] = max(1, round(self.settings.lease_duration))
        spec["renewTime"] = now
        metadata: dict[str, Any] = {"name": self.settings.name, "namespace": self.settings.namespace}
        if current is not None:
            metadata["resourceVersion"] = current["metadata"]["resourceVersion"]
        return {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": metadata, "spec": spec}

    def try_acquire_or_renew(self) -> bool:
        """One attempt: True when this identity holds the Lease afterwards."""
        try:
            current = self._store.get(LEASE, self._ref)
            if current is None:
                self._store.create(LEASE, self._body(None, acquire=True))
                self.transitions += 1
                return True
            spec = current.get("spec") or {}
            mine = spec.get("holderIdentity") == self.settings.identity
            if not mine and not lease_expired(spec, self._clock()):
                return False
            self._store.replace(LEASE, self._body(current, acquire=not mine))
            if not mine:
                self.transitions += 1
            return True
        except (ConflictError, InvalidError):  # someone else wrote first (or created it first)
            return False
        except ClusterError as error:
            log.warning("leader election: %s", error)
            return False

    def holder(self) -> str | None:
        current = self._store.get(LEASE, self._ref)
        return None if current is None else (current.get("spec") or {}).get("holderIdentity")

    def release(self) -> None:
        """Give the Lease up (only if still ours) so that a follower takes over at once."""
        try:
            current = self._store.get(LEASE, self._ref)
            if current is None or (current.get("spec") or {}).get("holderIdentity") != self.settings.identity:
                return
            body = self._body(current, acquire=False)
            body["spec"]["holderIdentity"] = None
            body["spec"]["leaseDurationSeconds"] = 1
            self._store.replace(LEASE, body)
        except ClusterError as error:
            log.warning("leader election: could not release the Lease: %s", error)

    def acquire(self, stop: threading.Event) -> bool:
        """Block until this identity leads (True) or ``stop`` is set (False)."""
        while not stop.is_set():
            if self.try_acquire_or_renew():
                return True
            stop.wait(self.settings.retry_period)
        return False

    def keep_renewing(self, stop: threading.Event, lost: Callable[[], None]) -> None:
        """Renew every retry period until ``stop``; call ``lost`` (once) when renewing has
        failed for longer than the renew deadline or another holder took the Lease."""
        last = time.monotonic()
        while not stop.wait(self.settings.retry_period):
            if self.try_acquire_or_renew():
                last = time.monotonic()
                continue
            if time.monotonic() - last > self.settings.renew_deadline or self._taken_by_other():
                lost()
                return

    def _taken_by_other(self) -> bool:
        try:
            holder = self.holder()
        except ClusterError:
            return False
        return holder not in (None, self.settings.identity)


def run_as_leader(
    elector: LeaderElector,
    work: Callable[[threading.Event], int],
    stop: threading.Event,
    *,
    progress: Callable[[str], None] = log.info,
) -> int:
    """Wait to lead, then run ``work(stop_work)`` while renewing; stop it when leadership is
    lost (exit 3: the process should restart and campaign again). Releases on the way out."""
    progress(f"leader election: {elector.settings.identity} waiting for Lease {elector.settings.name}")
    if not elector.acquire(stop):
        return 0
    progress(f"leader election: {elector.settings.identity} is the leader")
    stop_work = threading.Event()
    lost = threading.Event()

    def on_lost() -> None:
        progress(f"leader election: {elector.settings.identity} lost the Lease; stopping")
        lost.set()
        stop_work.set()

    def forward_stop() -> None:
        stop.wait()
        stop_work.set()

    renewer = threading.Thread(target=elector.keep_renewing, args=(stop_work, on_lost), daemon=True)
    forwarder = threading.Thread(target=forward_stop, daemon=True)
    renewer.start()
    forwarder.start()
    try:
        code = work(stop_work)
    finally:
        stop_work.set()
        renewer.join(timeout=elector.settings.retry_period + 5)
        if not lost.is_set():
            elector.release()
    if lost.is_set():
        raise ClusterError(f"lost leadership of Lease {elector.settings.namespace}/{elector.settings.name}")
    return code


def shard_of(name: str, count: int) -> int:
    """The shard an environment belongs to: ``crc32(name) % count`` (stable across runs)."""
    return zlib.crc32(name.encode()) % count


def select_shard(names: Iterable[str], index: int, count: int) -> list[str]:
    """The environments of shard ``index`` of ``count``."""
    if count < 1 or not 0 <= index < count:
        raise InvalidInputError(f"--shard-index {index} --shard-count {count}: need 0 <= index < count")
    return [name for name in names if shard_of(name, count) == index]
