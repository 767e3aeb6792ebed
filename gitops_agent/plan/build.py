"""``plan``: what a change to the specs does to every environment's rendered manifests.

Both revisions are exported from git, loaded, compiled and rendered with the real
kustomize; then, per environment, objects are paired by identity (API group, kind,
namespace, name) and reported as added, changed (with a unified diff of their YAML) or
removed. Secret ``data`` and ``stringData`` values never appear: they are masked before
any diff is taken, and a masked value only says whether it changed.
"""

from __future__ import annotations

import difflib
import functools
import tempfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from enum import StrEnum
from pathlib import Path
from typing import Any

from gitops_agent.adapters import git as gitops_git
from gitops_agent.compile import CompileMemo, compile_environment
from gitops_agent.errors import InvalidInputError, SpecError
from gitops_agent.reconcile.review import FieldChange, Reviewed, field_changes, risk_summary
from gitops_agent.render.cache import RenderCache
from gitops_agent.render.overlay import cache_for, render_files
from gitops_agent.spec import load_specs
from gitops_agent.spec.model import Environment
from gitops_agent.vocabulary.masking import mask_secrets
from gitops_agent.vocabulary.objects import Manifest, ObjectKey, ref_of, task_of
from gitops_agent.vocabulary.yaml import manifest_lines

RENDER_WORKERS = 4
"""Environments rendered at once (each render is one ``kubectl kustomize`` process)."""


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
    selected = [env for name, env in sorted(specs.environments.items()) if not only or name in only]

    def build(env: Environment) -> RenderedEnvironment:
        tree = compile_environment(specs, env, source_commit=None, repo_root=root, memo=memo)
        return RenderedEnvironment(env, tuple(render_files(dict(tree), env.name, cache)))

    with ThreadPoolExecutor(max_workers=RENDER_WORKERS) as pool:
        return {r.environment.name: r for r in pool.map(build, selected)}


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
        try:
            return dict(render(root, only))
        except SpecError as error:
            located = [replace(d, file=f"{ref[:12]}:{d.file}") for d in error.diagnostics]
            raise SpecError(located) from error


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

    With ``live``, each environment of head is also compared with its cluster.
    """
    handle = gitops_git.open_repo(repo)
    shas: list[str] = []
    for flag, ref in (("--base", base), ("--head", head)):
        sha = gitops_git.rev_parse(handle, ref)
        if sha is None:
            raise InvalidInputError(f"{flag} {ref}: no such revision in {repo}")
        shas.append(sha)
    only = list(environments) or None
    if render is None:  # base and head share their compiled workflows and the render cache
        render = functools.partial(render_environments, cache=cache_for(repo), memo=CompileMemo())
    old = render_revision(repo, shas[0], only, render)
    new = old if shas[1] == shas[0] else render_revision(repo, shas[1], only, render)
    if only:
        unknown = sorted(set(only) - old.keys() - new.keys())
        if unknown:
            names = ", ".join(unknown)
            raise InvalidInputError(f"--env {names}: no such environment at either revision")
    plans = []
    for name in sorted(old.keys() | new.keys()):
        note = None
        if name not in old:
            note = "new environment"
        elif name not in new:
            note = "environment removed"
        before = old[name].objects if name in old else ()
        after = new[name].objects if name in new else ()
        plans.append(diff_environment(name, before, after, note=note))
    live_plans = tuple(live(new[name], shas[1]) for name in sorted(new)) if live else ()
    return Plan(base=shas[0], head=shas[1], environments=tuple(plans), live=live_plans)
