"""Planning (diff): desired x live -> a change per object, proven locally or confirmed with a
server-side apply dry-run. No writes."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from gitops_agent.errors import InvalidError, ObjectError
from gitops_agent.reconcile.changeset import Action, Change, ChangeSet, overall_health
from gitops_agent.reconcile.cluster import Cluster, ResourceInfo
from gitops_agent.reconcile.desired import prepare_desired, stamp_tracking_id
from gitops_agent.reconcile.diff import DiffResult
from gitops_agent.reconcile.fieldset import (
    ExtraItem,
    ManagerEntry,
    check_locally,
    drift_authors,
    extra_items,
    owned_by,
    release_fields,
)
from gitops_agent.reconcile.health import HealthStatus, health_of
from gitops_agent.reconcile.ignore import (
    LeftAlone,
    apply_policy,
    describe,
    exemptions_for,
    rebase_pointers,
)
from gitops_agent.reconcile.live import (
    Key,
    LiveState,
    absent_namespaces,
    crd_kinds,
    foreign_contents,
    parallel,
    read_live,
)
from gitops_agent.reconcile.memo import PlanMemo, verdict_key
from gitops_agent.reconcile.normalize import strip_noise
from gitops_agent.reconcile.objects import has_ownership_labels, is_owned, is_untracked_legacy
from gitops_agent.reconcile.options import Target
from gitops_agent.reconcile.pods import needs_pods, read_pods
from gitops_agent.reconcile.prune import plan_prune
from gitops_agent.reconcile.review import project
from gitops_agent.reconcile.runs import RunOutcome, TaskRun, observe, recorded_end, run_key, stand_in
from gitops_agent.reconcile.schema import UNKNOWN_NODE, NodeKind, SchemaNode
from gitops_agent.reconcile.transform import OWNERSHIP_FIELDS
from gitops_agent.reconcile.waves import apply_order, wave_of
from gitops_agent.vocabulary.labels import ADOPTED_ANNOTATION, TASK_LABEL, TRACKING_ANNOTATION, ApplyPolicy
from gitops_agent.vocabulary.masking import is_secret
from gitops_agent.vocabulary.objects import (
    Manifest,
    ObjectRef,
    annotations_of,
    copy_manifest,
    is_job,
    labels_of,
    ref_of,
    task_of,
)


@dataclass
class Planned:
    """One desired object: what to send, what is live, and the change."""

    ref: ObjectRef
    body: Manifest
    info: ResourceInfo | None
    live: Manifest | None
    change: Change
    root: SchemaNode = UNKNOWN_NODE
    live_extras: tuple[ExtraItem, ...] = ()
    live_missing: tuple[ExtraItem, ...] = ()
    replace_job: bool = False
    policy: ApplyPolicy = ApplyPolicy.OVERRIDE
    left_alone: LeftAlone = field(default_factory=LeftAlone)
    digest: str = ""
    """The prepared object's content digest (only when a :class:`PlanMemo` is used)."""
    shared: bool = False
    """``body`` is kept by a :class:`PlanMemo` for later rounds: change a copy (:func:`own_body`)."""


def own_body(item: Planned) -> Manifest:
    """``item.body``, copied first if it is shared with later rounds; safe to change."""
    if item.shared:
        item.body = copy_manifest(item.body)
        item.shared = False
    return item.body


@dataclass(frozen=True)
class Deletion:
    """A live object git no longer has (or an older revision's finished Job)."""

    obj: Manifest
    info: ResourceInfo
    change: Change
    history: bool = False


@dataclass
class SyncPlan:
    """Everything a diff found; a sync executes it."""

    target: Target
    objects: list[Planned]
    deletions: list[Deletion]
    live: dict[Key, Manifest]
    owned_count: int
    notes: list[str] = field(default_factory=list)
    prune_blocked: bool = False
    runs: list[TaskRun] = field(default_factory=list)
    """Task-run facts observed so far (see :mod:`gitops_agent.reconcile.runs`)."""
    pods: list[Manifest] = field(default_factory=list)
    """Pods of the namespaces of Deployments and Jobs that are not Healthy (for health)."""

    def change_set(self, changes: Iterable[Change] | None = None) -> ChangeSet:
        all_changes = list(changes) if changes is not None else self.all_changes()
        all_changes.sort(key=lambda c: (apply_order(c.ref), c.action))
        health = overall_health(c.health for c in all_changes if c.action is not Action.DELETE)
        return ChangeSet(
            self.target.environment,
            self.target.revision,
            tuple(all_changes),
            health,
            tuple(self.notes),
            tuple(self.runs),
        )

    def all_changes(self) -> list[Change]:
        return [p.change for p in self.objects] + [d.change for d in self.deletions]


def with_health(change: Change, live: Manifest | None, pods: Sequence[Manifest] = ()) -> Change:
    """``change`` with the health of ``live`` (``pods``: see ``health_of``); a Degraded
    object's reason becomes the message of an entry that has none."""
    if change.action in (Action.ERROR,):
        return change
    health = health_of(change.ref.group, change.ref.kind, live, pods)
    message = change.message or (health.message if health.status is HealthStatus.DEGRADED else "")
    return replace(change, health=health.status, message=message)


def deepest_first(extra: ExtraItem) -> tuple[int, str, int]:
    return (-extra.pointer.count("/"), extra.pointer, -extra.index)


def merge_locally(live: Any, desired: Any, node: SchemaNode) -> Any:
    """Desired merged onto live the way apply merges (used only to display a prediction)."""
    if (
        isinstance(desired, dict)
        and isinstance(live, dict)
        and node.kind
        in (
            NodeKind.STRUCT,
            NodeKind.MAP,
        )
    ):
        merged = dict(live)
        for name, value in desired.items():
            child = node.field(name) if node.kind is NodeKind.STRUCT else node.element()
            merged[name] = merge_locally(live.get(name), value, child)
        return merged
    if isinstance(desired, list) and isinstance(live, list) and node.kind is NodeKind.ASSOCIATIVE:
        element = node.element()

        def key(item: Any) -> tuple[Any, ...]:
            return (
                tuple(json.dumps(item.get(k, element.default(k)), sort_keys=True) for k in node.keys)
                if isinstance(item, dict)
                else (json.dumps(item),)
            )

        wanted = {key(item): item for item in desired}
        result = [merge_locally(item, wanted.pop(key(item)), element) if key(item) in wanted else item for item in live]
        result.extend(copy.deepcopy(item) for item in desired if key(item) in wanted)
        return result
    return copy.deepcopy(desired)


def remove_extras(obj: Manifest, extras: Sequence[ExtraItem]) -> Manifest:
    result = copy.deepcopy(obj)
    for extra in sorted(extras, key=deepest_first):
        container: Any = result
        try:
            for token in extra.pointer.strip("/").split("/"):
                token = token.replace("~1", "/").replace("~0", "~")
                container = container[int(token)] if isinstance(container, list) else container[token]
        except (KeyError, IndexError, ValueError, TypeError):
            continue
        if extra.key is not None and isinstance(container, dict):
            container.pop(extra.key, None)
        elif isinstance(container, list) and 0 <= extra.index < len(container):
            del container[extra.index]
    return result


def schema_root(cluster: Cluster, ref: ObjectRef) -> SchemaNode:
    document = cluster.schema(ref.group, ref.version)
    return UNKNOWN_NODE if document is None else document.root(ref.group, ref.version, ref.kind)


LIST_INSTEAD_OF_GETS = 5
"""More missing objects of one kind in one namespace than this: one list instead of GETs."""


def look_up_unlabelled(cluster: Cluster, missing: list[Planned], workers: int) -> None:
    """Find desired objects that exist without gitops-agent's labels (so "create" is true).

    Few of a kind: a GET each; many: one list of that kind in that namespace (no selector) of
    only what identifies an object (:data:`~gitops_agent.reconcile.transform.OWNERSHIP_FIELDS`,
    so neither a list nor the loop's cache holds whole objects gitops-agent does not own, nor
    Secret values), then a GET of each one found.
    """
    groups: dict[tuple[ResourceInfo, str], list[Planned]] = {}
    for item in missing:
        assert item.info is not None
        groups.setdefault((item.info, item.ref.namespace), []).append(item)
    singles: list[Planned] = []
    listed: list[tuple[ResourceInfo, str]] = []
    for key, items in groups.items():
        if len(items) > LIST_INSTEAD_OF_GETS:
            listed.append(key)
        else:
            singles.extend(items)

    def look_up(item: Planned) -> None:
        assert item.info is not None
        try:
            item.live = cluster.get(item.info, item.ref)
        except ObjectError as error:
            item.change = Change(item.ref, Action.ERROR, item.change.wave, message=str(error))

    def list_all(key: tuple[ResourceInfo, str]) -> list[Planned]:
        """The items of ``key`` that exist (each is read whole next)."""
        info, namespace = key
        try:
            present = {ref_of(o).key for o in cluster.list(info, namespace or None, "", fields=OWNERSHIP_FIELDS)}
        except ObjectError as error:
            for item in groups[key]:
                item.change = Change(item.ref, Action.ERROR, item.change.wave, message=str(error))
            return []
        return [item for item in groups[key] if item.ref.key in present]

    found = [item for items in parallel(workers, list_all, listed) for item in items]
    parallel(workers, look_up, singles + found)


def mark_adopted(item: Planned, environment: str) -> None:
    """A Namespace that existed before gitops-agent applied it keeps (or gets) the adopted
    annotation, so it is never pruned: gitops-agent did not create it."""
    live_annotations = annotations_of(item.live or {})
    if has_ownership_labels(item.live or {}, environment) and live_annotations.get(ADOPTED_ANNOTATION) != "true":
        return
    annotations = own_body(item).setdefault("metadata", {}).setdefault("annotations", {})
    annotations[ADOPTED_ANNOTATION] = "true"


def exempt_fields(item: Planned, target: Target) -> None:
    """Leave alone what git does not enforce on this existing object: controller-owned fields
    and the environment's ignore rules (rebased to live), and fields of the rules' managers
    (or, with ``Merge``, of every other manager) released to them."""
    assert item.live is not None
    exempt = exemptions_for(item.body, target.ignore_rules)
    if exempt.pointers:  # changes the body in place: a copy when it is shared with later rounds
        rebase_pointers(own_body(item), item.live, exempt.pointers)
    owned = frozenset[tuple[str, ...]]()
    if exempt.managers or exempt.all_other_managers:
        owned = owned_by(item.live, exempt.managers, all_others=exempt.all_other_managers)
        item.body = release_fields(item.body, item.root, owned)  # a new object; the body is not changed
    item.left_alone = LeftAlone(exempt.pointers, owned, exempt.managers, exempt.all_other_managers)


def task_name(job: Manifest) -> str:
    return str(labels_of(job).get(TASK_LABEL, ""))


def previous_task_job(job: Manifest, live: Iterable[Manifest]) -> Manifest | None:
    """The newest live Job of the same task (workflow and task labels) under another name."""
    task = task_of(job)
    if task is None:
        return None
    same_task = [other for other in live if task_of(other) == task and ref_of(other).name != ref_of(job).name]
    created = lambda obj: str((obj.get("metadata") or {}).get("creationTimestamp") or "")  # noqa: E731
    return max(same_task, key=created, default=None)


def refresh_if_stale(cluster: Cluster, item: Planned, result: Manifest) -> None:
    """A controller wrote the object between the list and the dry-run (the dry-run answers with
    the current ``resourceVersion``): read it again, so only git's changes count as drift."""
    assert item.info is not None and item.live is not None

    def version(obj: Manifest) -> str:
        return str((obj.get("metadata") or {}).get("resourceVersion") or "")

    if version(result) and version(result) != version(item.live):
        fresh = cluster.get(item.info, item.ref)
        if fresh is not None:
            item.live = fresh


def finished_and_gone(item: Planned, target: Target) -> bool:
    """A desired Job with no live object whose run is recorded as finished, or recorded as
    started and removed by its TTL (so it finished, outcome unseen): not created again; a
    stand-in carries its outcome for gating. A run seen starting and gone without a TTL (deleted
    while it ran, or with its namespace) is created again."""
    run = target.runs.get(run_key(item.body))
    if run is None or run.outcome is RunOutcome.RERUN:
        return False
    if run.outcome is RunOutcome.STARTED and not removed_by_ttl(item.body):
        return False  # seen starting, never seen finishing: deleted while it ran, or with its namespace
    item.live = stand_in(item.body, run)
    item.change = Change(item.ref, Action.COMPLETED, item.change.wave, message=recorded_end(run))
    return True


def removed_by_ttl(job: Manifest) -> bool:
    """The Job deletes itself once finished (``ttlSecondsAfterFinished``; the TTL controller
    removes only finished Jobs, Kubernetes docs 'Automatic Cleanup for Finished Jobs')."""
    return (job.get("spec") or {}).get("ttlSecondsAfterFinished") is not None


def rerun_requested(item: Planned, target: Target) -> bool:
    """A finished live Job whose run someone asked to repeat: deleted and created again."""
    run = target.runs.get(run_key(item.body))
    if run is None or run.outcome is not RunOutcome.RERUN or item.live is None:
        return False
    if health_of("batch", "Job", item.live).status not in (HealthStatus.HEALTHY, HealthStatus.DEGRADED):
        return False
    item.replace_job = True
    who = f" by {run.user}" if run.user else ""
    desired = strip_noise(item.body)
    item.change = Change(
        item.ref,
        Action.UPDATE,
        item.change.wave,
        # the same template runs again: only what git sets can differ, not the API server's defaults
        sides=DiffResult(item.ref, project(strip_noise(item.live), desired), desired),
        message=f"re-run requested{who} at {run.time}; the Job is deleted and created again",
        previous=strip_noise(item.live),
        rerun=True,
    )
    return True


def observe_jobs(live_objects: Iterable[Manifest], target: Target, seen: list[TaskRun]) -> list[TaskRun]:
    """New facts from live Jobs that finished (not yet recorded in ``target.runs`` or ``seen``)."""
    known = {**target.runs, **{fact.key: fact for fact in seen}}
    found: list[TaskRun] = []
    for live in live_objects:
        if not is_job(live) or not is_owned(live, target.environment):
            continue
        fact = observe(live, known, target.revision)
        if fact is not None:
            known[fact.key] = fact
            found.append(fact)
    return found


def name_drift_authors(item: Planned) -> None:
    """Who made an existing object drift (from ``managedFields``); adoption is said as such."""
    change = item.change
    if change.action is not Action.UPDATE or item.live is None or item.replace_job:
        return
    if item.left_alone.all_other_managers:
        authors: tuple[ManagerEntry, ...] = ()
    else:
        authors = drift_authors(item.body, item.live, item.root, item.left_alone.managers)
    message = change.message
    if not message and TRACKING_ANNOTATION not in annotations_of(item.live):
        message = "adopted: the tracking id is added"
    item.change = replace(change, changed_by=authors, message=message)


def plan(
    cluster: Cluster,
    desired: Sequence[Manifest],
    target: Target,
    *,
    workers: int = 16,
    memo: PlanMemo | None = None,
) -> SyncPlan:
    """Compare desired objects with the cluster; no writes (dry-runs only where needed).

    ``memo``: what earlier rounds of the same environment proved (the reconcile loop keeps
    one per environment); an object whose desired content, live ``resourceVersion``, ignore
    rules and schema are those of an earlier "unchanged" verdict is not walked again.
    """
    prepared, digests = prepare_with(memo, desired, target)
    live_state = read_live(cluster, prepared, target, workers=workers)
    planned, missing = pair_with_live(prepared, live_state, target, digests)
    read_what_the_lists_missed(cluster, planned, missing, live_state, target, workers)
    if memo is not None:
        memo.start_round()
    needs_server = [item for item in planned if not settled_locally(cluster, item, live_state, target, memo)]
    parallel(workers, lambda item: confirm_with_server(cluster, item), needs_server)
    pods = read_pods(cluster, {p.ref.namespace for p in planned if needs_pods(p.ref, p.live)}, workers)
    for item in planned:
        name_drift_authors(item)
        item.change = with_health(item.change, item.live, pods)
    desired_keys = {ref_of(o).key for o in prepared}
    live_only = [obj for key, obj in live_state.objects.items() if key not in desired_keys]
    owned_count = len(live_state.objects) - len(live_only) + sum(is_owned(o, target.environment) for o in live_only)
    plan_result = SyncPlan(target, planned, [], dict(live_state.objects), owned_count, pods=pods)
    plan_result.runs = observe_jobs(live_state.objects.values(), target, [])
    plan_result.notes.extend(untracked_notes(live_only, target.environment))
    if live_state.failures:
        plan_result.prune_blocked = True
        plan_result.notes.extend(listing_failure_notes(live_state))
    plan_deletions(cluster, plan_result, live_only, prepared, live_state)
    return plan_result


def prepare_with(
    memo: PlanMemo | None, desired: Sequence[Manifest], target: Target
) -> tuple[list[Manifest], list[str] | None]:
    """The prepared desired objects, and their digests when ``memo`` keeps them (then the
    objects are shared with later rounds: reused while ``desired`` is the same render)."""
    if memo is None:
        return prepare_desired(desired, target), None
    scope = (target.environment, target.namespace)
    kept = memo.prepared(desired, scope)
    if kept is not None:
        return kept
    # kept next to the render for the revision's rounds: share what preparing does not change
    prepared = prepare_desired(desired, target, share=True)
    return prepared, memo.keep_prepared(desired, scope, prepared)


def pair_with_live(
    prepared: Sequence[Manifest], live_state: LiveState, target: Target, digests: Sequence[str] | None = None
) -> tuple[list[Planned], list[Planned]]:
    """One :class:`Planned` per desired object, paired with its live object; and the ones
    whose live object the labelled lists did not find. With ``digests`` (one per prepared
    object) the objects are shared with later rounds and carry their digest."""
    pending_kinds = crd_kinds(prepared)
    planned: list[Planned] = []
    missing: list[Planned] = []
    for index, obj in enumerate(prepared):
        ref = ref_of(obj)
        info = live_state.infos.get((ref.group, ref.version, ref.kind))
        if info is None:
            planned.append(unserved(obj, pending_kinds))
            continue
        if info.namespaced and not ref.namespace:
            # the same namespace every round (it is part of the memo's scope): safe on a shared object
            obj["metadata"]["namespace"] = target.namespace
            stamp_tracking_id(obj, target)
            ref = ref_of(obj)
        failure = live_state.failures.get((ref.kind, ref.namespace if info.namespaced else ""))
        if failure is not None:
            message = f"{ref}: cannot read live state: HTTP {failure.status}: {failure.detail}"
            planned.append(Planned(ref, obj, info, None, Change(ref, Action.ERROR, wave_of(ref), message=message)))
            continue
        live = live_state.objects.get(ref.key)
        item = Planned(ref, obj, info, live, Change(ref, Action.UNCHANGED, wave_of(ref)), policy=apply_policy(obj))
        if digests is not None:
            item.digest, item.shared = digests[index], True
        planned.append(item)
        if live is None:
            missing.append(item)
    return planned, missing


def unserved(obj: Manifest, pending_kinds: set[tuple[str, str]]) -> Planned:
    """An object of a kind the cluster does not serve: created after its CRD, or an error."""
    ref = ref_of(obj)
    if (ref.group, ref.kind) in pending_kinds:
        change = Change(
            ref,
            Action.CREATE,
            wave_of(ref),
            sides=DiffResult(ref, None, strip_noise(obj)),
            message="its CustomResourceDefinition is created first",
            health=HealthStatus.MISSING,
        )
    else:
        message = f"{ref}: the cluster does not serve {ref.api_version} {ref.kind}"
        change = Change(ref, Action.ERROR, wave_of(ref), message=message)
    return Planned(ref, obj, None, None, change)


def read_what_the_lists_missed(
    cluster: Cluster,
    planned: Sequence[Planned],
    missing: Sequence[Planned],
    live_state: LiveState,
    target: Target,
    workers: int,
) -> None:
    """Objects the labelled lists cannot find (unlabelled ones, in namespaces that exist), the
    Namespaces to adopt, and the schemas of every kind that has a live object."""
    absent = absent_namespaces(cluster, live_state, {m.ref.namespace for m in missing} - {""})
    look_up_unlabelled(cluster, [m for m in missing if m.ref.namespace not in absent], workers)
    for item in planned:
        if item.ref.kind == "Namespace" and not item.ref.group and item.live is not None:
            mark_adopted(item, target.environment)
    present = [(p.ref.group, p.ref.version) for p in planned if p.live is not None and p.info is not None]
    parallel(workers, lambda gv: cluster.schema(*gv), sorted(set(present)))


def settled_locally(
    cluster: Cluster, item: Planned, live_state: LiveState, target: Target, memo: PlanMemo | None = None
) -> bool:
    """Decide ``item`` without the server where possible (errors, apply policies, creates,
    finished or re-run Jobs, objects that match git, or that ``memo`` proved to); False when
    a dry-run must tell."""
    if item.change.action is Action.ERROR or item.info is None:
        return True
    if item.policy is ApplyPolicy.IGNORE or (item.policy is ApplyPolicy.IF_NOT_PRESENT and item.live):
        item.change = item.change.with_action(Action.UNCHANGED, describe(item.ref, item.policy))
        return True
    if item.live is None and is_job(item.body) and finished_and_gone(item, target):
        return True
    if item.live is None:
        plan_create(item, live_state)
        return True
    if is_job(item.body) and rerun_requested(item, target):
        return True
    key = None
    if memo is not None and item.digest and (memo.keeps_secrets or not is_secret(item.body)):
        schema = cluster.schema(item.ref.group, item.ref.version)
        key = verdict_key(item.digest, item.live, target.ignore_rules, "" if schema is None else schema.digest)
        if memo.proven_unchanged(key):
            return True
    item.root = schema_root(cluster, item.ref)
    exempt_fields(item, target)
    if item.policy is ApplyPolicy.MERGE:  # items others added stay: only the server can tell
        return False
    local = check_locally(item.body, item.live, item.root, item.left_alone)
    if local.unchanged:
        if memo is not None:
            memo.remember_unchanged(key)
        return True
    item.live_extras = local.extras
    pointers = {extra.pointer for extra in local.extras}
    item.live_missing = tuple(m for m in local.missing if m.pointer in pointers)
    return False


def plan_create(item: Planned, live_state: LiveState) -> None:
    """A create; a task's Job names the Job of the same task it re-runs."""
    task = task_of(item.body)
    previous = None if task is None else previous_task_job(item.body, live_state.task_jobs(task))
    item.change = Change(
        item.ref,
        Action.CREATE,
        item.change.wave,
        sides=DiffResult(item.ref, None, strip_noise(item.body)),
        previous=None if previous is None else strip_noise(previous),
        message="" if previous is None else f"re-runs task {task_name(item.body)!r} "
        f"(previous Job {ref_of(previous).name})",
    )


def confirm_with_server(cluster: Cluster, item: Planned) -> None:
    """A server-side dry-run apply: the predicted object, compared with the live one."""
    assert item.info is not None and item.live is not None
    try:
        result = cluster.apply(item.info, item.body, dry_run=True, force=item.policy is not ApplyPolicy.MERGE)
    except InvalidError as error:
        if is_job(item.body):
            plan_job_replacement(item)
        elif item.live_extras:
            predict_without_extras(item)
        else:
            item.change = Change(item.ref, Action.ERROR, item.change.wave, message=str(error))
        return
    except ObjectError as error:
        item.change = Change(item.ref, Action.ERROR, item.change.wave, message=str(error))
        return
    refresh_if_stale(cluster, item, result)
    extras = () if item.policy is ApplyPolicy.MERGE else extra_items(item.body, result, item.root, item.left_alone)
    predicted = strip_noise(remove_extras(result, extras))
    outcome = DiffResult(item.ref, strip_noise(item.live), predicted)
    if outcome.changed:
        item.change = Change(item.ref, Action.UPDATE, item.change.wave, sides=outcome)


def plan_job_replacement(item: Planned) -> None:
    """A Job template is immutable: a changed one is deleted and created again."""
    assert item.live is not None
    item.replace_job = True
    live_clean = strip_noise(item.live)
    item.change = Change(
        item.ref,
        Action.UPDATE,
        item.change.wave,
        sides=DiffResult(item.ref, live_clean, strip_noise(item.body)),
        message="the Job's template changed; it is deleted and created again",
        previous=live_clean,
        rerun=True,
    )


def predict_without_extras(item: Planned) -> None:
    """The server judges live + git together and the items other managers added make that
    invalid (e.g. a second port named like git's): predicted locally, as sync removes them first."""
    assert item.live is not None
    base = strip_noise(remove_extras(item.live, item.live_extras))
    predicted = merge_locally(base, strip_noise(item.body), item.root)
    item.change = Change(
        item.ref,
        Action.UPDATE,
        item.change.wave,
        sides=DiffResult(item.ref, strip_noise(item.live), predicted),
        message="predicted locally: items other managers added are removed first",
    )


def untracked_notes(live_only: Sequence[Manifest], environment: str) -> list[str]:
    """Labelled objects without a tracking id: never pruned, said once."""
    untracked = [str(ref_of(o)) for o in live_only if is_untracked_legacy(o, environment)]
    if not untracked:
        return []
    return [
        f"not pruned: {len(untracked)} object(s) carry this environment's labels but no tracking id "
        f"(applied before tracking ids, or copied from an owned object): {', '.join(untracked[:3])}"
        f"{', …' if len(untracked) > 3 else ''}"
    ]


def listing_failure_notes(live_state: LiveState) -> list[str]:
    """One note per kind and namespace that could not be listed (prune is skipped)."""
    notes = []
    for (kind, namespace), failure in sorted(live_state.failures.items()):
        where = f" in {namespace}" if namespace else ""
        notes.append(f"cannot list {kind}{where} (HTTP {failure.status}); prune skipped")
    return notes


def plan_deletions(
    cluster: Cluster,
    plan_result: SyncPlan,
    live_only: Sequence[Manifest],
    prepared: Sequence[Manifest],
    live_state: LiveState,
) -> None:
    """What prune deletes: owned objects git no longer has, and finished Jobs of older revisions
    beyond the history kept; a Namespace holding objects gitops-agent does not own is kept."""
    target = plan_result.target
    pruning = plan_prune(
        live_only,
        prepared,
        live_state.objects,
        environment=target.environment,
        job_history=target.job_history,
    )
    infos_by_kind = {(i.group, i.kind): i for i in live_state.infos.values()}
    for obj, history in [(o, False) for o in pruning.prune] + [(o, True) for o in pruning.job_history]:
        ref = ref_of(obj)
        info = infos_by_kind.get((ref.group, ref.kind))
        if info is None:
            continue
        if ref.kind == "Namespace" and not ref.group:
            foreign = foreign_contents(cluster, ref.name, target.environment, live_state.infos)
            if foreign:
                plan_result.notes.append(
                    f"Namespace/{ref.name} is not pruned: it holds objects gitops-agent does not own "
                    f"({', '.join(foreign[:3])}{', …' if len(foreign) > 3 else ''})"
                )
                continue
        reason = "finished Job of an older revision" if history else "not in git"
        change = Change(ref, Action.DELETE, wave_of(ref), sides=DiffResult(ref, strip_noise(obj), None), message=reason)
        plan_result.deletions.append(Deletion(obj, info, change, history))


def diff(
    cluster: Cluster, desired: Sequence[Manifest], target: Target, *, workers: int = 16, memo: PlanMemo | None = None
) -> ChangeSet:
    """What a sync with pruning would change (no writes); ``memo``: see :func:`plan`."""
    return plan(cluster, desired, target, workers=workers, memo=memo).change_set()
