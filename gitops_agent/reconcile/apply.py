"""Sync: execute a plan in waves and task order, remove what other managers added to lists git
sets wholly, prune with guards, wait for health."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from gitops_agent.errors import ConflictError, ObjectError
from gitops_agent.reconcile.changeset import CHANGING, Action, ChangeSet
from gitops_agent.reconcile.cluster import Cluster
from gitops_agent.reconcile.dag import Gate, gate, task_jobs
from gitops_agent.reconcile.desired import stamp_tracking_id
from gitops_agent.reconcile.fieldset import ExtraItem, extra_items
from gitops_agent.reconcile.health import HealthStatus, health_of
from gitops_agent.reconcile.live import Key, parallel
from gitops_agent.reconcile.objects import depends_on
from gitops_agent.reconcile.options import SyncOptions, Target
from gitops_agent.reconcile.planning import (
    Deletion,
    Planned,
    SyncPlan,
    deepest_first,
    observe_jobs,
    plan,
    schema_root,
    with_health,
)
from gitops_agent.reconcile.pods import needs_pods, read_pods
from gitops_agent.reconcile.prune import check_guards
from gitops_agent.reconcile.runs import started as run_started
from gitops_agent.reconcile.schema import UNKNOWN_NODE
from gitops_agent.reconcile.waves import JOBS, NAMESPACES_AND_CRDS, apply_order
from gitops_agent.vocabulary.labels import ApplyPolicy, ownership_selector
from gitops_agent.vocabulary.objects import Manifest, is_job, ref_of, task_of


@dataclass
class _SyncRun:
    cluster: Cluster
    plan: SyncPlan
    options: SyncOptions
    force: bool
    progress: Callable[[str], None]
    deadline: float
    failed_wave: int | None = None
    total: int = 0
    """Objects this sync writes or deletes (for "applied N of total" progress)."""
    done: int = 0
    pods: list[Manifest] = field(default_factory=list)
    """The Pods of the tasks' namespaces, as last read (for Job health in the DAG gates)."""

    def apply(self, item: Planned) -> None:
        """Apply one object; remove list items other managers added; record the outcome."""
        change = item.change
        if item.info is None and not self._discover(item):
            item.change = change.with_action(Action.ERROR, f"{item.ref}: kind still not served")
            return
        try:
            result = self._write(item)
        except ObjectError as error:
            message = str(error)
            if isinstance(error, ConflictError):
                message += (
                    " (another field manager owns these fields and sync.force is false;"
                    " pass --force-conflicts to take them over)"
                )
            item.change = change.with_action(Action.ERROR, message)
            return
        item.live = result
        item.change = with_health(change, result)
        if is_job(item.body) and (change.action is Action.CREATE or item.replace_job):
            self.plan.runs.append(run_started(item.body, self.plan.target.revision))

    def _discover(self, item: Planned) -> bool:
        """The kind of an object planned before its CRD was served; False when still not served."""
        item.info = self.cluster.resource(item.ref.group, item.ref.version, item.ref.kind)
        if item.info is None:
            return False
        if item.info.namespaced and not item.ref.namespace:
            item.body["metadata"]["namespace"] = self.plan.target.namespace
            stamp_tracking_id(item.body, self.plan.target)
        return True

    def _write(self, item: Planned) -> Manifest:
        """Remove the items other managers added (guarded), replace a changed Job, apply, and
        remove what other managers still hold in lists git sets wholly; the object as written."""
        assert item.info is not None
        merge = item.policy is ApplyPolicy.MERGE
        if item.live_extras and not merge:
            ops = removal_ops(item.live_extras) + [
                {"op": "add", "path": f"{m.pointer}/-", "value": m.item} for m in item.live_missing
            ]
            self.cluster.json_patch(item.info, item.ref, ops)
        if item.replace_job:
            self._replace_job(item)
        result = self.cluster.apply(item.info, item.body, dry_run=False, force=self.force and not merge)
        if item.live is None or merge:  # a fresh object holds nothing another manager added
            return result
        if item.root.kind == UNKNOWN_NODE.kind:
            item.root = schema_root(self.cluster, item.ref)
        extras = extra_items(item.body, result, item.root, item.left_alone)
        if extras:
            result = self.cluster.json_patch(item.info, item.ref, removal_ops(extras))
        return result

    def _replace_job(self, item: Planned) -> None:
        assert item.info is not None
        self.cluster.delete(item.info, item.ref)
        while self.cluster.get(item.info, item.ref) is not None:
            if time.monotonic() > self.deadline:
                raise ObjectError(item.ref, 504, "timed out waiting for the old Job to be deleted")
            time.sleep(0.2)

    def apply_all(self, items: Sequence[Planned]) -> bool:
        todo = [i for i in items if i.change.action in (Action.CREATE, Action.UPDATE)]
        for item in todo:
            self.done += 1
            self.progress(f"[{self.done}/{self.total}] {item.change.action} {item.ref}")
        parallel(self.options.workers, self.apply, todo)
        return all(i.change.action is not Action.ERROR for i in todo)

    def wait_established(self, items: Sequence[Planned]) -> None:
        """Wait until created CRDs are Established and Namespaces are Active."""
        pending = [
            i
            for i in items
            if i.ref.kind in ("CustomResourceDefinition", "Namespace")
            and i.info is not None
            and i.change.action is not Action.ERROR
        ]
        while pending:
            still: list[Planned] = []
            for item in pending:
                assert item.info is not None
                live = self.cluster.get(item.info, item.ref)
                status = health_of(item.ref.group, item.ref.kind, live).status
                if status is HealthStatus.HEALTHY:
                    item.live = live
                    item.change = with_health(item.change, live)
                else:
                    still.append(item)
            if not still:
                break
            if time.monotonic() > self.deadline:
                for item in still:
                    item.change = item.change.with_action(Action.ERROR, f"{item.ref}: not ready before the timeout")
                return
            time.sleep(0.2)
            pending = still
        if any(i.ref.kind == "CustomResourceDefinition" for i in items):
            self.cluster.forget_discovery()

    def run_dag(self, gated: list[Planned]) -> None:
        """Apply Jobs and dependent objects in dependency order (waiting only with --wait)."""
        desired = [p.body for p in self.plan.objects]
        jobs = task_jobs(desired)
        live_by_key: dict[Key, Manifest] = {p.ref.key: p.live for p in self.plan.objects if p.live is not None}
        # only what has to be written waits for its tasks; an unchanged object stays as it is
        remaining = [p for p in gated if p.change.action in (Action.CREATE, Action.UPDATE)]
        while True:
            ready, waiting = self._gate(remaining, jobs, live_by_key)
            self.apply_all(ready)
            for item in ready:
                if item.live is not None:
                    live_by_key[item.ref.key] = item.live
            remaining = [item for item, _ in waiting]
            if not remaining:
                return
            if not self.options.wait or time.monotonic() > self.deadline:
                self._stop_waiting(waiting)
                return
            time.sleep(self.options.poll_interval)
            self._refresh_jobs(live_by_key, jobs.values())

    def _gate(
        self,
        remaining: Sequence[Planned],
        jobs: Mapping[tuple[str, str], Manifest],
        live_by_key: Mapping[Key, Manifest],
    ) -> tuple[list[Planned], list[tuple[Planned, str]]]:
        """Split ``remaining`` into ready and waiting (with why); blocked items are marked."""
        blocked_tasks: set[tuple[str, str]] = set()
        ready: list[Planned] = []
        waiting: list[tuple[Planned, str]] = []
        for item in sorted(remaining, key=lambda p: apply_order(p.ref)):
            decision = gate(item.body, jobs, live_by_key, blocked_tasks, self.pods)
            if decision.gate is Gate.BLOCKED:
                item.change = item.change.with_action(Action.BLOCKED, decision.message)
                task = task_of(item.body)
                if task is not None:
                    blocked_tasks.add(task)
            elif decision.gate is Gate.WAITING:
                waiting.append((item, decision.message))
            else:
                ready.append(item)
        # a blocked task blocks its dependents transitively: re-gate the waiting ones
        for item, message in list(waiting):
            decision = gate(item.body, jobs, live_by_key, blocked_tasks, self.pods)
            if decision.gate is Gate.BLOCKED:
                item.change = item.change.with_action(Action.BLOCKED, decision.message)
                waiting.remove((item, message))
        return ready, waiting

    def _stop_waiting(self, waiting: Sequence[tuple[Planned, str]]) -> None:
        """Without --wait what waits is reported as waiting; with it, past the deadline, as an error."""
        for item, message in waiting:
            if self.options.wait:
                item.change = item.change.with_action(Action.ERROR, f"{item.ref}: timed out, {message}")
            else:
                item.change = item.change.with_action(Action.WAITING, message)

    def _refresh_jobs(self, live_by_key: dict[Key, Manifest], jobs: Iterable[Manifest]) -> None:
        selector = ownership_selector(self.plan.target.environment)
        namespaces = {ref_of(j).namespace for j in jobs}
        info = self.cluster.resource("batch", "v1", "Job")
        if info is None:
            return
        for namespace in sorted(namespaces):
            for obj in self.cluster.list(info, namespace, selector):
                live_by_key[ref_of(obj).key] = obj
        self.pods = read_pods(self.cluster, namespaces, self.options.workers)

    def prune(self) -> None:
        """Delete in reverse wave order (one wave at a time, in parallel within a wave)."""
        by_wave: dict[int, list[Deletion]] = {}
        for deletion in self.plan.deletions:
            by_wave.setdefault(deletion.change.wave, []).append(deletion)

        def delete(deletion: Deletion) -> Deletion:
            try:
                self.done += 1
                self.progress(f"[{self.done}/{self.total}] delete {deletion.change.ref}")
                self.cluster.delete(deletion.info, deletion.change.ref)
            except ObjectError as error:
                return replace(deletion, change=deletion.change.with_action(Action.ERROR, str(error)))
            return deletion

        done: list[Deletion] = []
        for wave in sorted(by_wave, reverse=True):
            done.extend(parallel(self.options.workers, delete, by_wave[wave]))
        self.plan.deletions = done

    def wait_healthy(self) -> None:
        """Poll (one list per kind and namespace) until every object is healthy or failed."""
        selector = ownership_selector(self.plan.target.environment)
        while True:
            watched = [
                p
                for p in self.plan.objects
                if p.info is not None and p.change.action not in (Action.ERROR, Action.BLOCKED, Action.WAITING)
            ]
            pending = [p for p in watched if p.change.health in (HealthStatus.PROGRESSING, HealthStatus.MISSING)]
            if not pending:
                return
            names = ", ".join(str(p.ref) for p in pending[:3]) + (", …" if len(pending) > 3 else "")
            self.progress(f"waiting for {len(pending)} of {len(watched)} objects to be healthy: {names}")
            if time.monotonic() > self.deadline:
                for item in pending:
                    item.change = item.change.with_action(
                        Action.ERROR,
                        f"{item.ref}: not healthy before the timeout ({item.change.health})",
                    )
                return
            time.sleep(self.options.poll_interval)
            lists: dict[tuple[str, str, str, str], list[Manifest]] = {}
            for item in pending:
                assert item.info is not None
                key = (item.info.group, item.info.version, item.info.kind, item.ref.namespace)
                if key not in lists:
                    lists[key] = self.cluster.list(item.info, item.ref.namespace or None, selector)
                found = {ref_of(o).key: o for o in lists[key]}
                item.live = found.get(item.ref.key)
            pods = read_pods(self.cluster, {p.ref.namespace for p in pending if needs_pods(p.ref, p.live)})
            for item in pending:
                item.change = with_health(item.change, item.live, pods)


def is_service_account_token(obj: Manifest) -> bool:
    """A ``kubernetes.io/service-account-token`` Secret (it names a ServiceAccount that must exist)."""
    return obj.get("kind") == "Secret" and obj.get("type") == "kubernetes.io/service-account-token"


def apply_waves(run: _SyncRun, the_plan: SyncPlan) -> None:
    """Each wave in order (Jobs and objects that wait for tasks in DAG order, in the Jobs
    wave); after a wave fails, what the later ones would change is blocked."""
    gated = [p for p in the_plan.objects if is_job(p.body) or depends_on(p.body)]
    gated_keys = {p.ref.key for p in gated}
    by_wave: dict[int, list[Planned]] = {}
    for item in the_plan.objects:
        if item.ref.key not in gated_keys:
            by_wave.setdefault(item.change.wave, []).append(item)
    failed = False
    for wave in sorted(set(by_wave) | {JOBS}):
        items = by_wave.get(wave, [])
        if failed:
            block_after_failure(items + (gated if wave == JOBS else []))
        elif not apply_wave(run, wave, items, gated):
            failed = True


def apply_wave(run: _SyncRun, wave: int, items: list[Planned], gated: list[Planned]) -> bool:
    """One wave; False when an object of it failed."""
    # a service-account token Secret created before its ServiceAccount is deleted by the
    # token controller: such Secrets follow the rest of their wave
    tokens = [i for i in items if is_service_account_token(i.body)]
    ok = run.apply_all([i for i in items if not is_service_account_token(i.body)])
    ok = run.apply_all(tokens) and ok
    if wave == NAMESPACES_AND_CRDS:
        run.wait_established(items)
        ok = ok and all(i.change.action is not Action.ERROR for i in items)
    if wave == JOBS:
        run.run_dag(gated)
        ok = ok and all(i.change.action is not Action.ERROR for i in gated)
    return ok


def block_after_failure(items: Sequence[Planned]) -> None:
    for item in items:
        if item.change.action in CHANGING:
            item.change = item.change.with_action(Action.BLOCKED, "not applied: an earlier wave failed")


def removal_ops(extras: Sequence[ExtraItem]) -> list[dict[str, Any]]:
    """A JSON patch removing ``extras`` (each guarded by a ``test`` of its current value)."""
    ops: list[dict[str, Any]] = []
    for extra in sorted(extras, key=deepest_first):
        ops.append({"op": "test", "path": extra.path, "value": extra.item})
        ops.append({"op": "remove", "path": extra.path})
    return ops


def sync(
    cluster: Cluster,
    desired: Sequence[Manifest],
    target: Target,
    options: SyncOptions,
    *,
    progress: Callable[[str], None] | None = None,
) -> ChangeSet:
    """Apply what differs, in waves and DAG order; prune with guards; optionally wait."""
    say = progress or (lambda _message: None)
    started = time.monotonic()
    the_plan = plan(cluster, desired, target, workers=options.workers)
    if not (options.prune or target.prune):
        the_plan.deletions = [d for d in the_plan.deletions if d.history]
    if the_plan.prune_blocked:  # some kind could not be listed: nothing is deleted at all
        the_plan.deletions = []
    check_guards(
        desired_count=len(desired),
        owned_count=the_plan.owned_count,
        prune_count=sum(1 for d in the_plan.deletions if not d.history),
        allow_empty=target.allow_empty,
        allow_mass_prune=options.allow_mass_prune,
        max_prune_percent=target.max_prune_percent,
    )
    planning_errors = [p for p in the_plan.objects if p.change.action is Action.ERROR]
    if options.dry_run:
        return the_plan.change_set()
    if planning_errors:
        the_plan.notes.append("nothing was applied: the plan has errors")
        the_plan.deletions = []
        return the_plan.change_set()
    run = _SyncRun(
        cluster,
        the_plan,
        options,
        target.force if options.force_conflicts is None else options.force_conflicts,
        say,
        started + options.timeout,
        total=sum(1 for c in the_plan.all_changes() if c.action in CHANGING),
        pods=the_plan.pods,
    )
    apply_waves(run, the_plan)
    errors = any(p.change.action in (Action.ERROR,) for p in the_plan.objects)
    if errors or the_plan.prune_blocked:
        if the_plan.deletions:
            the_plan.notes.append("nothing was pruned: the sync had errors")
        the_plan.deletions = []
    else:
        run.prune()
    if options.wait and not errors:
        run.wait_healthy()
    lives = [p.live for p in the_plan.objects if p.live is not None and p.change.action is not Action.COMPLETED]
    the_plan.runs.extend(observe_jobs(lives, target, the_plan.runs))
    return the_plan.change_set()
