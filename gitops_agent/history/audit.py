"""``audit``: who changed what, when, and what the cluster got, from git history alone.

The timeline joins four sources, newest first:

- spec commits: commits of the checked-out branch touching ``workflows/``, ``environments/``
  or an environment's extra ``resources``;
- environment commits on each ``env.branch``; their ``Source-Commit`` trailer names the spec
  commit they were compiled from, a ``Rollback-To`` trailer marks a rollback;
- syncs, drift fixes and rollback syncs recorded as notes (``refs/notes/gitops-agent``) on the
  environment commit that was applied;
- optimization proposals: commits of ``gitops-agent/optimize/*`` branches not on the
  checked-out branch.

Git stores commit times in whole seconds; events within one second are ordered by kind
(a sync after the environment commit after the spec commit) and then by history order.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any

from gitops_agent.adapters import git as gitops_git
from gitops_agent.adapters import git_notes
from gitops_agent.adapters.git import CommitInfo
from gitops_agent.errors import GitError, InvalidInputError
from gitops_agent.history.notes import SyncEvent, SyncNote, format_time, parse_time, read_all_task_runs, read_sync_notes
from gitops_agent.history.trailers import PROPOSAL_ENVIRONMENT, ROLLBACK_TO, SOURCE_COMMIT, SPEC_DIGEST
from gitops_agent.reconcile.runs import FINISHED, RunKey, RunOutcome, TaskRun
from gitops_agent.spec.model import Environment, SpecSet, frozen_map
from gitops_agent.vocabulary.durations import parse_duration

OPTIMIZE_PREFIX = "gitops-agent/optimize/"


class EventKind(StrEnum):
    SPEC_COMMIT = "spec-commit"
    COMPILE = "compile"
    ROLLBACK = "rollback"
    SYNC = "sync"
    DRIFT_FIX = "drift-fix"
    ROLLBACK_SYNC = "rollback-sync"
    PROPOSAL = "optimize-proposal"
    TASK_RUN = "task-run"
    RERUN_REQUEST = "rerun-requested"


_RANK = {
    EventKind.SPEC_COMMIT: 0,
    EventKind.PROPOSAL: 0,
    EventKind.COMPILE: 1,
    EventKind.ROLLBACK: 1,
    EventKind.SYNC: 2,
    EventKind.DRIFT_FIX: 2,
    EventKind.ROLLBACK_SYNC: 2,
    EventKind.TASK_RUN: 3,
    EventKind.RERUN_REQUEST: 3,
}
_NOTE_KIND = {
    SyncEvent.SYNC: EventKind.SYNC,
    SyncEvent.DRIFT_FIX: EventKind.DRIFT_FIX,
    SyncEvent.ROLLBACK: EventKind.ROLLBACK_SYNC,
}


@dataclass(frozen=True)
class AuditEvent:
    """One thing that happened: a commit, a sync or a proposal.

    ``commit`` is the commit the event is about (spec, environment or proposal commit);
    ``source_commit`` the spec commit behind an environment commit or a sync.
    """

    time: datetime
    kind: EventKind
    environment: str | None
    commit: str | None
    author: str
    message: str
    source_commit: str | None = None
    details: Mapping[str, Any] = field(default_factory=frozen_map)
    order: int = 0

    def sort_key(self) -> tuple[datetime, int, int]:
        return (self.time.replace(microsecond=0), _RANK[self.kind], self.order)

    def to_json(self) -> dict[str, Any]:
        return {
            "time": format_time(self.time),
            "kind": self.kind.value,
            "environment": self.environment,
            "commit": self.commit,
            "source_commit": self.source_commit,
            "author": self.author,
            "message": self.message,
            "details": dict(self.details),
        }


def parse_since(value: str | None, *, now: datetime | None = None) -> datetime | None:
    """``7d``/``12h`` (ago) or an ISO date/time; None for no limit."""
    if value is None:
        return None
    seconds = parse_duration(value)
    if seconds is not None:
        return (now or datetime.now(UTC)) - timedelta(seconds=seconds)
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise InvalidInputError(
            f"--since {value}: expected a duration such as 7d or a date such as 2026-01-31"
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _when(info: CommitInfo) -> datetime:
    return datetime.fromtimestamp(info.timestamp, UTC)


def _person(info: CommitInfo) -> str:
    return f"{info.author} <{info.author_email}>"


def _fetch(handle: gitops_git.Repo, repo: Path, branches: Iterable[str]) -> None:
    refspecs = [f"+refs/heads/{b}:refs/remotes/origin/{b}" for b in branches]
    refspecs.append(f"+refs/heads/{OPTIMIZE_PREFIX}*:refs/remotes/origin/{OPTIMIZE_PREFIX}*")
    try:
        gitops_git.fetch(handle, refspecs)
        git_notes.fetch_notes(repo)
    except GitError as error:
        raise GitError(f"{error} (audit --no-fetch reads the local refs only)") from error


def branch_tip(handle: gitops_git.Repo, branch: str) -> str | None:
    """The newer of the local branch and its ``origin`` copy (None when neither exists)."""
    local = gitops_git.rev_parse(handle, f"refs/heads/{branch}")
    remote = gitops_git.rev_parse(handle, f"refs/remotes/origin/{branch}")
    if local is None or remote is None:
        return local or remote
    return remote if gitops_git.is_ancestor(handle, local, remote) else local


def _spec_paths(specs: SpecSet) -> list[str]:
    extra = {r for env in specs.environments.values() for r in env.resources}
    return ["workflows", "environments", *sorted(extra)]


def _env_commit_events(handle: gitops_git.Repo, env: Environment) -> list[tuple[AuditEvent, CommitInfo]]:
    tip = branch_tip(handle, env.branch)
    if tip is None:
        return []
    commits = gitops_git.log(handle, tip)
    events = []
    for index, info in enumerate(commits):
        rollback_to = info.trailer(ROLLBACK_TO)
        details: dict[str, Any] = {"branch": env.branch, "spec_digest": info.trailer(SPEC_DIGEST)}
        if rollback_to:
            details["rollback_to"] = rollback_to
        event = AuditEvent(
            time=_when(info),
            kind=EventKind.ROLLBACK if rollback_to else EventKind.COMPILE,
            environment=env.name,
            commit=info.sha,
            author=_person(info),
            message=info.subject,
            source_commit=info.trailer(SOURCE_COMMIT),
            details=frozen_map(details),
            order=len(commits) - index,
        )
        events.append((event, info))
    return events


def _note_event(note: SyncNote, source: str | None) -> AuditEvent:
    details: dict[str, Any] = {
        "context": note.context,
        "summary": dict(note.summary),
        "health": note.health,
        "changes": list(note.changes),
    }
    if note.drift:
        details["drift"] = [dict(entry) for entry in note.drift]
    return AuditEvent(
        time=note.time,
        kind=_NOTE_KIND[note.event],
        environment=note.environment,
        commit=note.revision,
        author=note.user,
        message=note.result,
        source_commit=source,
        details=frozen_map(details),
        order=int(note.time.microsecond),
    )


def _proposal_events(handle: gitops_git.Repo, env_name: str | None, since: datetime | None) -> list[AuditEvent]:
    tips: dict[str, str] = {}
    for name, sha in gitops_git.branch_heads(handle, OPTIMIZE_PREFIX).items():
        tips[name] = sha
    remote_prefix = f"origin/{OPTIMIZE_PREFIX}"
    remote = gitops_git.run(
        handle,
        "for-each-ref",
        "--format=%(refname:short) %(objectname)",
        f"refs/remotes/{remote_prefix}",
    )
    for line in remote.splitlines():
        name, _, sha = line.partition(" ")
        tips.setdefault(name.removeprefix("origin/"), sha)
    events: list[AuditEvent] = []
    seen: set[str] = set()
    for branch, tip in sorted(tips.items()):
        commits = gitops_git.log(handle, f"HEAD..{tip}")
        for index, info in enumerate(commits):
            proposal_env = info.trailer(PROPOSAL_ENVIRONMENT)
            if info.sha in seen or (since is not None and _when(info) < since):
                continue
            if env_name is not None and proposal_env not in (None, env_name):
                continue
            if env_name is not None and proposal_env is None and f"/{env_name}-" not in f"/{branch}":
                continue
            seen.add(info.sha)
            events.append(
                AuditEvent(
                    time=_when(info),
                    kind=EventKind.PROPOSAL,
                    environment=proposal_env,
                    commit=info.sha,
                    author=_person(info),
                    message=info.subject,
                    details=frozen_map({"branch": branch}),
                    order=len(commits) - index,
                )
            )
    return events


def timeline(
    repo: Path,
    specs: SpecSet,
    *,
    environment: str | None = None,
    since: datetime | None = None,
    fetch: bool = True,
) -> list[AuditEvent]:
    """Every event of the repository (or of one environment), newest first."""
    if environment is not None and environment not in specs.environments:
        known = ", ".join(sorted(specs.environments)) or "none"
        raise InvalidInputError(f"environment {environment!r} not found (known: {known})")
    envs = [env for name, env in sorted(specs.environments.items()) if environment is None or name == environment]
    handle = gitops_git.open_repo(repo)
    if fetch and gitops_git.has_remote(handle):
        _fetch(handle, repo, [env.branch for env in specs.environments.values()])

    events: list[AuditEvent] = []
    env_commits: dict[str, CommitInfo] = {}
    produced: dict[str, set[str]] = {}
    for env in envs:
        for event, info in _env_commit_events(handle, env):
            env_commits[info.sha] = info
            if event.source_commit:
                produced.setdefault(event.source_commit, set()).add(env.name)
            if since is None or event.time >= since:
                events.append(event)

    for note in read_sync_notes(repo, environment):
        if since is not None and note.time < since:
            continue
        synced = env_commits.get(note.revision)
        events.append(_note_event(note, synced.trailer(SOURCE_COMMIT) if synced else None))

    events.extend(e for e in _run_events(repo, environment) if since is None or e.time >= since)
    events.extend(_spec_events(handle, specs, environment, since, produced))
    events.extend(_proposal_events(handle, environment, since))
    return sorted(events, key=AuditEvent.sort_key, reverse=True)


def group_runs(facts: Sequence[TaskRun]) -> list[list[TaskRun]]:
    """Facts of one run identity (oldest first) split into runs: a run ends with its first
    finished fact; a re-run request stands alone and starts the next run. Facts that repeat
    what is known (two replicas observing the same finish) are dropped."""
    runs: list[list[TaskRun]] = []
    current: list[TaskRun] = []
    for fact in facts:
        if fact.outcome is RunOutcome.RERUN:
            if current:
                runs.append(current)
            runs.append([fact])
            current = []
            continue
        if current and current[-1].outcome in FINISHED:
            if fact.outcome is current[-1].outcome or fact.outcome is not RunOutcome.STARTED:
                continue
            runs.append(current)
            current = []
        current.append(fact)
    if current:
        runs.append(current)
    return runs


def _task_name(fact: TaskRun) -> str:
    """``WORKFLOW/TASK`` as ``rerun`` takes it (two workflows may both have a ``train``); the
    Job's name when the fact does not know its task."""
    if not fact.task:
        return fact.job
    return f"{fact.workflow}/{fact.task}" if fact.workflow else fact.task


def _run_event(env: str, run: list[TaskRun]) -> AuditEvent:
    first, last = run[0], run[-1]
    name = _task_name(last)
    if last.outcome is RunOutcome.RERUN:
        return AuditEvent(
            time=parse_time(last.time), kind=EventKind.RERUN_REQUEST, environment=env, commit=last.revision or None,
            author=last.user, message=f"re-run of {name} requested", details=frozen_map(last.to_json()),
        )
    began = next((f.started for f in run if f.started), "") or first.time
    finish = last.finished if last.outcome in FINISHED else ""
    duration = (parse_time(finish) - parse_time(began)).total_seconds() if finish and began else None
    outcome = last.outcome.value if last.outcome in FINISHED else "running (no outcome seen yet)"
    details = {**last.to_json(), "started": began, "finished": finish, "durationSeconds": duration}
    took = f" in {duration:.0f}s" if duration is not None else ""
    return AuditEvent(
        time=parse_time(finish or began), kind=EventKind.TASK_RUN, environment=env,
        commit=first.revision or None, author=first.user,
        message=f"{name} {outcome}{took}" + (f": {last.reason}" if last.reason else ""),
        details=frozen_map(details),
    )


def _run_events(repo: Path, environment: str | None) -> list[AuditEvent]:
    """One event per task run (start to finish), one per re-run request."""
    by_key: dict[tuple[str, RunKey], list[TaskRun]] = {}
    for env, fact in read_all_task_runs(repo):
        if environment is None or env == environment:
            by_key.setdefault((env, fact.key), []).append(fact)
    return [_run_event(env, run) for (env, _), facts in sorted(by_key.items()) for run in group_runs(facts)]


def _spec_events(
    handle: gitops_git.Repo,
    specs: SpecSet,
    environment: str | None,
    since: datetime | None,
    produced: Mapping[str, set[str]],
) -> list[AuditEvent]:
    if gitops_git.head_commit(handle) is None:
        return []
    commits = gitops_git.log(handle, "HEAD", paths=_spec_paths(specs))
    touching_env: set[str] = set()
    if environment is not None:
        env_file = _relative_source(specs.environments[environment].source)
        if env_file is not None:
            listed = gitops_git.run(handle, "log", "--format=%H", "HEAD", "--", env_file)
            touching_env = set(listed.split())
    events = []
    for index, info in enumerate(commits):
        if since is not None and _when(info) < since:
            continue
        environments = sorted(produced.get(info.sha, set()))
        compiled_here = environment is None or environment in environments
        if not compiled_here and info.sha not in touching_env:
            continue
        events.append(
            AuditEvent(
                time=_when(info),
                kind=EventKind.SPEC_COMMIT,
                environment=None,
                commit=info.sha,
                author=_person(info),
                message=info.subject,
                details=frozen_map({"environments": environments}),
                order=len(commits) - index,
            )
        )
    return events


def _relative_source(source: str) -> str | None:
    """``environments/<env>.yaml`` from the loader's source path, when it has that shape."""
    match = re.search(r"(environments/[^/]+\.ya?ml)$", source.replace("\\", "/"))
    return match.group(1) if match else None


def format_event(event: AuditEvent) -> str:
    """One line for people."""
    when = event.time.strftime("%Y-%m-%d %H:%M:%S")
    env = event.environment or "-"
    commit = (event.commit or "")[:12]
    line = f"{when}  {event.kind.value:<17} {env:<10} {commit:<12}  {event.author}: {event.message}"
    summary = event.details.get("summary")
    if isinstance(summary, Mapping) and summary:
        line += " (" + ", ".join(f"{k} {v}" for k, v in summary.items() if v) + ")"
    if event.source_commit:
        line += f"  <- {event.source_commit[:12]}"
    rollback_to = event.details.get("rollback_to")
    if rollback_to:
        line += f"  restores {str(rollback_to)[:12]}"
    for healed in event.details.get("drift") or ():
        authors = ", ".join(
            f"{a.get('manager')} ({a.get('operation')}, {a.get('time')})" for a in healed.get("changedBy") or ()
        )
        line += f"\n    healed {healed.get('object')}: changed out of band by {authors}"
    return line


def to_json(events: Sequence[AuditEvent], environment: str | None) -> dict[str, Any]:
    return {"environment": environment, "events": [event.to_json() for event in events]}
