"""The reconcile loop with an in-memory cluster: self-heal, git outages, backoff, metrics."""

from __future__ import annotations

import copy
import threading
from collections.abc import Iterator, Sequence
from typing import Any

from gitops_agent.errors import ClusterError, GitError
from gitops_agent.reconcile.cluster import ResourceInfo, WatchEvent
from gitops_agent.reconcile.engine import Target
from gitops_agent.reconcile.loop import Desired, LoopEnvironment, LoopSettings, Metrics, Reconciler, StatusServer
from gitops_agent.reconcile.schema import OpenAPIDocument
from gitops_agent.reconcile.transform import Fields, keep_fields
from gitops_agent.vocabulary.objects import Manifest, ObjectRef, ref_of

CONFIGMAPS = ResourceInfo("", "v1", "ConfigMap", "configmaps", True)


class MemoryCluster:
    """Just enough of an API server: ConfigMaps, apply stores, dry-run echoes."""

    server = "memory://"

    def __init__(self) -> None:
        self.objects: dict[tuple[str, str], Manifest] = {}
        self.down = False
        self.writes = 0

    def _check(self) -> None:
        if self.down:
            raise ClusterError("cluster unreachable at memory://: connection refused")

    def resource(self, group: str, version: str, kind: str) -> ResourceInfo | None:
        self._check()
        return CONFIGMAPS if (group, version, kind) == ("", "v1", "ConfigMap") else None

    def schema(self, group: str, version: str) -> OpenAPIDocument | None:
        return None

    def forget_discovery(self) -> None:
        pass

    def list(
        self, info: ResourceInfo, namespace: str | None, selector: str, *, fields: Fields | None = None
    ) -> list[Manifest]:
        self._check()
        return [keep_fields(copy.deepcopy(o), fields) for (ns, _), o in self.objects.items() if namespace in (None, ns)]

    def list_with_version(self, info: ResourceInfo, namespace: str | None, selector: str, *,
                          fields: Fields | None = None) -> tuple[list[Manifest], str]:
        return self.list(info, namespace, selector, fields=fields), "1"

    def watch(self, info: ResourceInfo, namespace: str | None, selector: str, resource_version: str,
              timeout_seconds: int) -> Iterator[WatchEvent]:
        return iter(())

    def get(self, info: ResourceInfo, ref: ObjectRef) -> Manifest | None:
        self._check()
        return copy.deepcopy(self.objects.get((ref.namespace, ref.name)))

    def apply(self, info: ResourceInfo, obj: Manifest, *, dry_run: bool, force: bool) -> Manifest:
        self._check()
        if not dry_run:
            self.writes += 1
            self.objects[(ref_of(obj).namespace, ref_of(obj).name)] = copy.deepcopy(obj)
        return copy.deepcopy(obj)

    def json_patch(self, info: ResourceInfo, ref: ObjectRef, ops: Sequence[dict[str, Any]]) -> Manifest:
        raise AssertionError("not used")

    def delete(self, info: ResourceInfo, ref: ObjectRef) -> None:
        self.objects.pop((ref.namespace, ref.name), None)


def configmap(value: str) -> Manifest:
    return {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "settings", "namespace": "ml", "labels": {"app.kubernetes.io/name": "settings"}},
            "data": {"mode": value}}


class Git:
    def __init__(self) -> None:
        self.revision = "r1"
        self.values = {"r1": "fast", "r2": "slow"}
        self.reachable = True
        self.renders = 0

    def head(self) -> str:
        if not self.reachable:
            raise GitError("git fetch origin: could not read from remote repository")
        return self.revision

    def render(self, revision: str) -> Desired:
        self.renders += 1
        return Desired(revision, (configmap(self.values[revision]),))


def setup(self_heal: bool = True) -> tuple[Reconciler, MemoryCluster, Git, LoopEnvironment]:
    cluster, git = MemoryCluster(), Git()
    env = LoopEnvironment("dev", Target(environment="dev", namespace="ml"), self_heal, git.head, git.render, cluster)
    return Reconciler([env], LoopSettings(interval=10, jitter=0.0)), cluster, git, env


def stored(cluster: MemoryCluster) -> str | None:
    found = cluster.objects.get(("ml", "settings"))
    return None if found is None else found["data"]["mode"]


def round_(reconciler: Reconciler, env: LoopEnvironment) -> bool:
    from gitops_agent.reconcile.loop import _EnvState

    state = reconciler._states.setdefault(env.name, _EnvState())
    return reconciler.round(env, state)


def test_new_revisions_are_deployed_and_drift_is_healed() -> None:
    reconciler, cluster, git, env = setup()
    assert round_(reconciler, env) and stored(cluster) == "fast"
    writes = cluster.writes
    assert round_(reconciler, env) and cluster.writes == writes  # nothing drifted: nothing written
    cluster.objects.clear()  # someone deleted it
    assert round_(reconciler, env) and stored(cluster) == "fast"
    assert reconciler.metrics.value("gitops_agent_drift_found_total", environment="dev") == 1
    assert reconciler.metrics.value("gitops_agent_drift_fixed_total", environment="dev") == 1
    assert git.renders == 1  # re-rendered only when the branch moves
    git.revision = "r2"
    assert round_(reconciler, env) and stored(cluster) == "slow"
    assert git.renders == 2
    assert reconciler.metrics.value("gitops_agent_syncs_total", environment="dev", result="success") == 3


def test_without_self_heal_drift_is_only_counted() -> None:
    reconciler, cluster, _, env = setup(self_heal=False)
    round_(reconciler, env)
    cluster.objects[("ml", "settings")]["data"]["mode"] = "edited"
    assert round_(reconciler, env)
    assert stored(cluster) == "edited"
    assert reconciler.metrics.value("gitops_agent_drifted_objects", environment="dev") == 1


def test_git_outage_keeps_enforcing_the_last_rendered_state() -> None:
    reconciler, cluster, git, env = setup()
    round_(reconciler, env)
    git.reachable = False
    cluster.objects.clear()
    assert round_(reconciler, env) and stored(cluster) == "fast"
    assert reconciler.metrics.value("gitops_agent_reconcile_errors_total", environment="dev", source="git") == 1


def test_cluster_outage_fails_the_round_and_backs_off() -> None:
    reconciler, cluster, _, env = setup()
    cluster.down = True
    assert not round_(reconciler, env)
    assert reconciler.metrics.value("gitops_agent_reconcile_errors_total", environment="dev", source="cluster") == 1
    from gitops_agent.reconcile.loop import _EnvState

    assert reconciler._delay(_EnvState(failures=0)) == 10
    assert reconciler._delay(_EnvState(failures=3)) == 80
    assert reconciler._delay(_EnvState(failures=30)) == reconciler.settings.max_backoff
    cluster.down = False
    assert round_(reconciler, env) and stored(cluster) == "fast"


def test_run_once_and_stop() -> None:
    _, cluster, _, env = setup()
    once = Reconciler([env], LoopSettings(interval=10, once=True))
    assert once.run() == 0 and stored(cluster) == "fast"
    cluster.down = True
    assert Reconciler([env], LoopSettings(interval=10, once=True)).run() == 3
    cluster.down = False
    stopper = Reconciler([env], LoopSettings(interval=3600))
    thread = threading.Thread(target=stopper.run)
    thread.start()
    stopper.stop.set()
    thread.join(timeout=5)
    assert not thread.is_alive()


def test_metrics_text_format_and_status_server() -> None:
    import urllib.request

    metrics = Metrics()
    metrics.add("gitops_agent_syncs_total", environment="prod", result="success")
    metrics.observe("gitops_agent_sync_duration_seconds", 1.5, environment="prod")
    text = metrics.render()
    assert "# TYPE gitops_agent_syncs_total counter\n" in text
    assert 'gitops_agent_syncs_total{environment="prod",result="success"} 1.0\n' in text
    assert "# TYPE gitops_agent_sync_duration_seconds summary\n" in text
    assert 'gitops_agent_sync_duration_seconds_sum{environment="prod"} 1.5\n' in text
    assert 'gitops_agent_sync_duration_seconds_count{environment="prod"} 1.0\n' in text
    assert "_created" not in text
    healthy = {"ok": True}
    server = StatusServer(metrics, lambda: healthy["ok"], 0, host="127.0.0.1")
    server.start()
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{server.port}/metrics", timeout=5) as response:
            assert response.status == 200 and "gitops_agent_syncs_total" in response.read().decode()
        healthy["ok"] = False
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{server.port}/healthz", timeout=5)
            raise AssertionError("expected 503")
        except urllib.error.HTTPError as error:
            assert error.code == 503
    finally:
        server.stop()


def test_freeze_heap_keeps_a_new_revision_s_objects_out_of_collections() -> None:
    """With ``freeze_heap`` the first round of each new revision freezes what is alive (so the
    collector's full passes skip it); the next revision's first round collects and freezes
    again; without it nothing is frozen."""
    import gc

    gc.unfreeze()
    try:
        cluster, git = MemoryCluster(), Git()
        env = LoopEnvironment("dev", Target(environment="dev", namespace="ml"), True, git.head, git.render, cluster)
        plain = Reconciler([env], LoopSettings(interval=0, jitter=0.0, once=True))
        assert plain.run() == 0 and gc.get_freeze_count() == 0

        frozen = Reconciler([env], LoopSettings(interval=0, jitter=0.0, once=True, freeze_heap=True))
        assert frozen.run() == 0
        first = gc.get_freeze_count()
        assert first > 0
        assert frozen.run() == 0  # same revision: nothing frozen again
        assert gc.get_freeze_count() <= first  # frozen objects released since are freed all the same
        git.revision = "r2"
        assert frozen.run() == 0 and stored(cluster) == "slow"
        assert gc.get_freeze_count() > 0
        assert frozen.observed("dev") is not None
    finally:
        gc.unfreeze()
