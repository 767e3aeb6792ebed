"""``plan``: what a change to the specs does to every environment's rendered manifests.

Both revisions are exported from git and loaded, then compiled and rendered with the real
kustomize; then, per environment, objects are paired by identity (API group, kind,
namespace, name) and reported as added, changed (with a unified diff of their YAML) or
removed. Only what differs is compiled and built (:func:`incremental_plan`): a workflow
equal at both revisions is counted and checked from the compiler's objects, with the
result of rendering both revisions whole. Secret ``data`` and ``stringData`` values never appear: they are masked before
any diff is taken, and a masked value only says whether it changed.
"""

from __future__ import annotations

import contextlib
import difflib
import functools
import logging
import tempfile
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from enum import StrEnum
from pathlib import Path
from typing import Any

from gitops_agent.adapters import git as gitops_git
from gitops_agent.compile import CompileMemo, compile_environment, outline_workflow, workflow_inputs
from gitops_agent.compile.objects import identity
from gitops_agent.compile.slices import outline_problem, workflow_slice_problem
from gitops_agent.errors import GitOpsAgentError, InvalidInputError, SpecError
from gitops_agent.reconcile.review import FieldChange, Reviewed, field_changes, risk_summary
from gitops_agent.render.cache import RenderCache
from gitops_agent.render.overlay import BuiltSlices, build_slices, cache_for, render_files
from gitops_agent.spec import load_specs
from gitops_agent.spec.model import Environment, SpecSet
from gitops_agent.vocabulary.masking import mask_secrets
from gitops_agent.vocabulary.objects import Manifest, ObjectKey, ref_of, task_of
from gitops_agent.vocabulary.yaml import manifest_lines

RENDER_WORKERS = 4
"""Environments rendered at once (each render is one ``kubectl kustomize`` process)."""
_LOG = logging.getLogger(__name__)


class ChangeKind(StrEnum):
    """How one object differs between base and head."""

    ADDED = "added"
    CHANGED = "changed"
    REMOVED = "removed"
    RERUNS = "re-runs"
    """A task's Job replaced by the new revision's Job of the same task (the name carries the
    template hash): one entry instead of one removed and one added object."""


_REVIEW_ACTION = {
    ChangeKind.ADDED: "create",
    ChangeKind.CHANGED: "update",
    ChangeKind.REMOVED: "delete",
    ChangeKind.RERUNS: "re-run",
}


@dataclass(frozen=True)
class ObjectDiff:
    """One added, changed or removed object and the unified diff of its (masked) YAML."""

    change: ChangeKind
    key: ObjectKey
    api_version: str
    diff: str
    fields: tuple[FieldChange, ...] = ()
    """Changed fields (``changed`` and ``re-runs``), Secret values masked."""
    replaces: str | None = None
    """For ``re-runs``: the name of the task's Job in base."""

    def to_json(self) -> dict[str, Any]:
        document: dict[str, Any] = {
            "action": self.change.value,
            "apiVersion": self.api_version,
            "kind": self.key.kind,
            "namespace": self.key.namespace or None,
            "name": self.key.name,
            "diff": self.diff,
        }
        if self.fields:
            document["fields"] = [f.to_json() for f in self.fields]
        if self.replaces:
            document["replaces"] = self.replaces
        return document

    def reviewed(self) -> Reviewed:
        key = self.key
        return Reviewed(_REVIEW_ACTION[self.change], key.group, key.kind, key.namespace, key.name, self.fields)


@dataclass(frozen=True)
class EnvironmentPlan:
    """The differences of one environment, in a stable order (removed, changed, added)."""

    environment: str
    changes: tuple[ObjectDiff, ...] = ()
    unchanged: int = 0
    note: str | None = None

    def count(self, change: ChangeKind) -> int:
        return sum(1 for c in self.changes if c.change is change)

    @property
    def summary(self) -> dict[str, int]:
        counts = {change.value: self.count(change) for change in ChangeKind}
        return {**counts, "unchanged": self.unchanged}

    def risks(self) -> list[str]:
        """The risk summary of this environment's differences (see ``review.risk_summary``)."""
        return risk_summary(c.reviewed() for c in self.changes)

    def to_json(self) -> dict[str, Any]:
        return {
            "environment": self.environment,
            "summary": self.summary,
            "note": self.note,
            "risks": self.risks(),
            "changes": [c.to_json() for c in self.changes],
        }


@dataclass(frozen=True)
class Plan:
    """Every selected environment's differences between ``base`` and ``head``.

    ``live`` holds head-against-cluster differences when they were asked for.
    """

    base: str
    head: str
    environments: tuple[EnvironmentPlan, ...]
    live: tuple[EnvironmentPlan, ...] = field(default=())

    @property
    def changed(self) -> bool:
        return any(env.changes for env in (*self.environments, *self.live))

    def to_json(self) -> dict[str, Any]:
        document: dict[str, Any] = {
            "base": self.base,
            "head": self.head,
            "changed": self.changed,
            "environments": [env.to_json() for env in self.environments],
        }
        if self.live:
            document["live"] = [env.to_json() for env in self.live]
        return document


def unified_diff(key: ObjectKey, base: Manifest | None, head: Manifest | None) -> str:
    """The unified diff of two versions of one object, Secret values masked.

    Values show as ``***``; a value that differs shows as ``*** (before)`` and
    ``*** (after)``, so a changed secret value still shows up as one changed line
    (see :mod:`gitops_agent.vocabulary.masking`).
    """
    old, new = mask_secrets(base, head)
    lines = difflib.unified_diff(
        manifest_lines(old),
        manifest_lines(new),
        fromfile=f"base/{key}" if base is not None else "/dev/null",
        tofile=f"head/{key}" if head is not None else "/dev/null",
    )
    return "".join(line if line.endswith("\n") else line + "\n" for line in lines)


def _index(objects: Iterable[Manifest]) -> dict[ObjectKey, Manifest]:
    return {ObjectKey.of(obj): obj for obj in objects}


def _task(obj: Mapping[str, Any]) -> tuple[str, str, str] | None:
    task = task_of(obj)
    return None if task is None else (ref_of(obj).namespace, *task)


def pair_task_jobs(
    old: Mapping[ObjectKey, Manifest], new: Mapping[ObjectKey, Manifest]
) -> list[tuple[ObjectKey, ObjectKey]]:
    """(removed, added) Job keys of the same task (namespace, workflow, task labels)."""
    removed = {_task(old[k]): k for k in sorted(old.keys() - new.keys()) if _task(old[k]) is not None}
    pairs = []
    for key in sorted(new.keys() - old.keys()):
        task = _task(new[key])
        if task is not None and task in removed:
            pairs.append((removed.pop(task), key))
    return pairs


def diff_environment(
    environment: str,
    base: Iterable[Manifest],
    head: Iterable[Manifest],
    *,
    note: str | None = None,
) -> EnvironmentPlan:
    """Pair the rendered objects of two revisions and describe every difference (pure)."""
    old, new = _index(base), _index(head)
    changes: list[ObjectDiff] = []
    unchanged = 0
    for old_key, new_key in pair_task_jobs(old, new):
        before, after = old.pop(old_key), new.pop(new_key)
        shape = {k: v for k, v in after.items() if k != "metadata"}
        changes.append(
            ObjectDiff(
                ChangeKind.RERUNS,
                new_key,
                str(after.get("apiVersion", "")),
                unified_diff(new_key, before, after),
                fields=field_changes({k: v for k, v in before.items() if k != "metadata"}, shape),
                replaces=old_key.name,
            )
        )
    for key in sorted(old.keys() - new.keys()):
        changes.append(
            ObjectDiff(ChangeKind.REMOVED, key, str(old[key].get("apiVersion", "")), unified_diff(key, old[key], None))
        )
    for key in sorted(old.keys() & new.keys()):
        if old[key] == new[key]:
            unchanged += 1
            continue
        changes.append(
            ObjectDiff(
                ChangeKind.CHANGED,
                key,
                str(new[key].get("apiVersion", "")),
                unified_diff(key, old[key], new[key]),
                fields=field_changes(old[key], new[key]),
            )
        )
    for key in sorted(new.keys() - old.keys()):
        changes.append(
            ObjectDiff(ChangeKind.ADDED, key, str(new[key].get("apiVersion", "")), unified_diff(key, None, new[key]))
        )
    return EnvironmentPlan(environment, tuple(changes), unchanged, note)


@dataclass(frozen=True)
class RenderedEnvironment:
    """One environment's spec and its rendered objects at one revision."""

    environment: Environment
    objects: tuple[Manifest, ...]


RenderAll = Callable[[Path, Sequence[str] | None], Mapping[str, RenderedEnvironment]]
"""Renders every (selected) environment of the GitOps repository at a directory."""

LiveDiff = Callable[[RenderedEnvironment, str], EnvironmentPlan]
"""Head's rendered objects of one environment (and the head sha) against its live cluster."""


def render_environments(
    root: Path, only: Sequence[str] | None, *, cache: RenderCache | None = None, memo: CompileMemo | None = None
) -> dict[str, RenderedEnvironment]:
    """Load, compile and render each environment of the GitOps repository at ``root``.

    With ``cache``, a compiled tree already rendered (same content, same kustomize) is not
    rendered again; with ``memo``, a workflow already compiled from equal inputs (by an
    earlier call with the same memo) is not compiled again.
    """
    if not (root / "environments").is_dir():
        return {}
    specs = load_specs(root)
    return render_specs(specs, root, _selected(specs, only), cache=cache, memo=memo)


def render_specs(
    specs: SpecSet,
    root: Path,
    names: Sequence[str],
    *,
    cache: RenderCache | None = None,
    memo: CompileMemo | None = None,
) -> dict[str, RenderedEnvironment]:
    """Compile and render environments ``names`` of ``specs`` (loaded from ``root``), a few at once."""

    def build(name: str) -> RenderedEnvironment:
        env = specs.environments[name]
        tree = compile_environment(specs, env, source_commit=None, repo_root=root, memo=memo)
        return RenderedEnvironment(env, tuple(render_files(dict(tree), env.name, cache)))

    with ThreadPoolExecutor(max_workers=RENDER_WORKERS) as pool:
        return {r.environment.name: r for r in pool.map(build, names)}


def _selected(specs: SpecSet, only: Sequence[str] | None) -> list[str]:
    return [name for name in sorted(specs.environments) if not only or name in only]


@contextlib.contextmanager
def _located(ref: str) -> Iterator[None]:
    """Spec problems raised inside, each located in revision ``ref`` (``<sha12>:<file>``)."""
    try:
        yield
    except SpecError as error:
        located = [replace(d, file=f"{ref[:12]}:{d.file}") for d in error.diagnostics]
        raise SpecError(located) from error


def render_revision(
    repo: Path, ref: str, only: Sequence[str] | None, render: RenderAll | None = None
) -> dict[str, RenderedEnvironment]:
    """Export ``ref``'s tree to a temporary directory and render its environments there
    (by default with :func:`render_environments` and the repository's render cache)."""
    if render is None:
        render = functools.partial(render_environments, cache=cache_for(repo))
    handle = gitops_git.open_repo(repo)
    with tempfile.TemporaryDirectory(prefix="gitops-agent-plan-") as tmp:
        root = Path(tmp)
        gitops_git.export_tree(handle, ref, root)
        with _located(ref):
            return dict(render(root, only))


@dataclass(frozen=True)
class LoadedRevision:
    """One revision's tree, exported to ``root``, and its specs (None: no ``environments/``)."""

    sha: str
    root: Path
    specs: SpecSet | None

    def environments(self, only: Sequence[str] | None) -> list[str]:
        """The names of its environments (those in ``only`` when given), sorted."""
        return [] if self.specs is None else _selected(self.specs, only)

    def render(
        self, names: Sequence[str], cache: RenderCache | None, memo: CompileMemo
    ) -> dict[str, RenderedEnvironment]:
        """Environments ``names`` compiled and rendered whole (spec problems located in this revision)."""
        if self.specs is None or not names:
            return {}
        with _located(self.sha):
            return render_specs(self.specs, self.root, names, cache=cache, memo=memo)


def load_revision(repo: Path, sha: str, root: Path) -> LoadedRevision:
    """Export ``sha``'s tree to ``root`` (empty or absent) and load its specs.

    :raises SpecError: every spec problem of the revision, each located as ``<sha12>:<file>``.
    """
    gitops_git.export_tree(gitops_git.open_repo(repo), sha, root)
    if not (root / "environments").is_dir():
        return LoadedRevision(sha, root, None)
    with _located(sha):
        return LoadedRevision(sha, root, load_specs(root))


def incremental_plan(
    name: str, base: LoadedRevision, head: LoadedRevision, *, cache: RenderCache | None, memo: CompileMemo
) -> EnvironmentPlan | str:
    """Environment ``name``'s plan, built from what differs between ``base`` and ``head``; or
    why it must be rendered whole.

    A workflow deployed with equal inputs at both revisions
    (:func:`~gitops_agent.compile.workflow_inputs`) under equal overlay settings has a slice
    with the same key, hence the same objects, at both: it is neither written as YAML nor
    built. The compiler's objects (:func:`~gitops_agent.compile.outline_workflow`) count its
    unchanged objects and take part in the cross-slice checks
    (:func:`~gitops_agent.compile.slices.outline_problem`). The other workflows, the Namespace
    and the environment's ``resources:`` are compiled and built slice by slice, as
    :func:`~gitops_agent.render.overlay.render_sliced` builds them (same cache). The result
    is what :func:`diff_environment` gives for the two whole renders.

    A reason is returned where that is not shown: no workflow equal at both revisions, an
    overlay that cannot be sliced, a batch kustomize failed on, a cross-slice problem (built or
    outlined), other overlay settings. Compile and render errors propagate.
    """
    assert base.specs is not None and head.specs is not None, "both revisions have environments"
    envs = (base.specs.environments[name], head.specs.environments[name])
    before, after = workflow_inputs(base.specs, envs[0]), workflow_inputs(head.specs, envs[1])
    same = [workflow for workflow, inputs in after.items() if workflow in before and before[workflow].key == inputs.key]
    if not same:
        return "no workflow is deployed with equal inputs at both revisions"
    problem = next(filter(None, map(workflow_slice_problem, same)), None)
    if problem is not None:
        return problem
    outlines = {workflow: outline_workflow(after[workflow], envs[1]) for workflow in same}
    identities = {workflow: [identity(obj) for obj in objects] for workflow, objects in outlines.items()}
    built: list[BuiltSlices] = []
    for revision, specs, env in ((base, base.specs, envs[0]), (head, head.specs, envs[1])):
        tree = compile_environment(
            specs, env, source_commit=None, repo_root=revision.root, memo=memo, outlined=identities
        )
        sliced = build_slices(tree, name, cache)
        if isinstance(sliced, str):
            return sliced
        problem = outline_problem(sliced.overlay.slices, sliced.objects, outlines)
        if problem is not None:
            return problem
        built.append(sliced)
    if built[0].overlay.header != built[1].overlay.header:
        return "the overlay's namespace, labels or images differ"
    plan = diff_environment(name, built[0].ordered(), built[1].ordered())
    return replace(plan, unchanged=plan.unchanged + sum(len(objects) for objects in outlines.values()))


def incremental_plans(
    base: LoadedRevision, head: LoadedRevision, names: Sequence[str], *, cache: RenderCache | None, memo: CompileMemo
) -> dict[str, EnvironmentPlan]:
    """The plan of each environment of ``names`` that :func:`incremental_plan` can give; the
    others (a reason, or an error of ours, which rendering whole reports as it should) are left out."""

    def attempt(name: str) -> EnvironmentPlan | None:
        try:
            result = incremental_plan(name, base, head, cache=cache, memo=memo)
        except GitOpsAgentError as error:
            result = f"{type(error).__name__}: {error}"
        if isinstance(result, str):
            _LOG.debug("plan: environment %s rendered whole: %s", name, result)
            return None
        return result

    with ThreadPoolExecutor(max_workers=RENDER_WORKERS) as pool:
        found = list(pool.map(attempt, names))
    return {name: plan for name, plan in zip(names, found, strict=True) if plan is not None}


def _diff_rendered(
    name: str, old: Mapping[str, RenderedEnvironment], new: Mapping[str, RenderedEnvironment]
) -> EnvironmentPlan:
    note = "new environment" if name not in old else ("environment removed" if name not in new else None)
    before = old[name].objects if name in old else ()
    after = new[name].objects if name in new else ()
    return diff_environment(name, before, after, note=note)


def _refuse_unknown(only: Sequence[str] | None, known: Iterable[str]) -> None:
    unknown = sorted(set(only or ()) - set(known))
    if unknown:
        names = ", ".join(unknown)
        raise InvalidInputError(f"--env {names}: no such environment at either revision")


def _plan_revisions(
    base: LoadedRevision,
    head: LoadedRevision,
    cache: RenderCache | None,
    only: Sequence[str] | None,
    *,
    incremental: bool,
) -> tuple[dict[str, EnvironmentPlan], dict[str, RenderedEnvironment], dict[str, RenderedEnvironment]]:
    """Each environment's plan, and the environments of each revision rendered whole."""
    names = base.environments(only), head.environments(only)
    _refuse_unknown(only, {*names[0], *names[1]})
    memo = CompileMemo()
    both = sorted(set(names[0]) & set(names[1])) if incremental else []
    plans = incremental_plans(base, head, both, cache=cache, memo=memo)
    old = base.render([name for name in names[0] if name not in plans], cache, memo)
    new = old if head is base else head.render([name for name in names[1] if name not in plans], cache, memo)
    plans.update((name, _diff_rendered(name, old, new)) for name in old.keys() | new.keys())
    return plans, old, new


def compute_plan(
    repo: Path,
    base: str,
    head: str,
    *,
    environments: Sequence[str] = (),
    render: RenderAll | None = None,
    live: LiveDiff | None = None,
) -> Plan:
    """Render both revisions and diff each environment present in either.

    The specs of both revisions are loaded first, so a spec problem of either is reported
    before anything is compiled. An environment present at both is planned from what differs
    (:func:`incremental_plan`); the others are compiled and rendered whole, base before head,
    and so is every environment when :func:`incremental_plan` gives a reason or meets an
    error (the whole render then reports it). With ``render``, both revisions are rendered
    whole by it instead. With ``live``, each environment of head is rendered whole and
    also compared with its cluster.

    :raises InvalidInputError: a revision that does not resolve, an ``--env`` at neither
        revision, a spec problem (:class:`SpecError`, ``<sha12>:<file>:line:col: ...``).
    :raises KustomizeError: kustomize failed on a whole overlay.
    """
    handle = gitops_git.open_repo(repo)
    shas: list[str] = []
    for flag, ref in (("--base", base), ("--head", head)):
        sha = gitops_git.rev_parse(handle, ref)
        if sha is None:
            raise InvalidInputError(f"{flag} {ref}: no such revision in {repo}")
        shas.append(sha)
    only = list(environments) or None
    if render is not None:
        old = render_revision(repo, shas[0], only, render)
        new = old if shas[1] == shas[0] else render_revision(repo, shas[1], only, render)
        _refuse_unknown(only, old.keys() | new.keys())
        plans = {name: _diff_rendered(name, old, new) for name in old.keys() | new.keys()}
    else:
        with tempfile.TemporaryDirectory(prefix="gitops-agent-plan-") as tmp:
            revisions = [load_revision(repo, shas[0], Path(tmp) / "base")]
            same = shas[1] == shas[0]
            revisions.append(revisions[0] if same else load_revision(repo, shas[1], Path(tmp) / "head"))
            plans, old, new = _plan_revisions(revisions[0], revisions[1], cache_for(repo), only, incremental=not live)
    live_plans = tuple(live(new[name], shas[1]) for name in sorted(new)) if live else ()
    return Plan(base=shas[0], head=shas[1], environments=tuple(plans[n] for n in sorted(plans)), live=live_plans)
