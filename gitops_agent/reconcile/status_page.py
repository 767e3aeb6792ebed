"""The reconcile loop's read-only status page: what a round saw → a snapshot → HTML. Pure.

``Observed`` is what the loop keeps per environment (replaced whole each round, so a page read
from another thread never sees half of one). ``snapshot`` turns it, the environment's settings
and its audit events into an ``EnvironmentSnapshot``; ``render_index``/``render_environment``
turn snapshots into server-rendered HTML with the task graph as inline SVG. Every text that
comes from git or the cluster is HTML-escaped; field values come from ``Change.fields``, which
masks Secret values. The page carries no script; a ``<meta http-equiv="refresh">`` reloads it.

Task states (one per task Job, the ``gitops-agent.io/task`` label, grouped by workflow,
``app.kubernetes.io/part-of``; edges from ``gitops-agent.io/depends-on``):

- ``completed``: the Job finished as recorded and is gone (not created again);
- ``succeeded`` / ``failed``: the live Job's ``Complete`` / ``Failed`` condition (Kubernetes
  Job API), or the API server refused the Job (``failed``, with its message);
- ``running``: the Job exists and has not finished;
- ``blocked``: a dependency failed or is blocked (it will not run at this revision);
- ``waiting``: not created yet, its dependencies have not all succeeded.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from enum import StrEnum
from html import escape
from urllib.parse import quote

from gitops_agent.reconcile.changeset import CHANGING, Action, Change, ChangeSet
from gitops_agent.reconcile.dag import task_jobs
from gitops_agent.reconcile.health import HealthStatus
from gitops_agent.reconcile.objects import depends_on
from gitops_agent.vocabulary.objects import Manifest, is_job, ref_of

MAX_EVENTS = 30
"""At most this many audit events on a page (newest first)."""
MAX_FIELDS = 8
"""At most this many changed fields shown per drifted object."""


# --- what the loop keeps ----------------------------------------------------------------------


@dataclass(frozen=True)
class SyncFact:
    """One sync the loop ran: when (Unix seconds), what it did, and whether it fixed drift."""

    at: float
    result: ChangeSet
    drift_fix: bool


@dataclass(frozen=True)
class Observed:
    """The newest facts of one environment, kept by the loop for the page."""

    at: float
    """Unix seconds of the round."""
    revision: str = ""
    objects: tuple[Manifest, ...] = ()
    """The desired objects of ``revision``."""
    changes: ChangeSet | None = None
    """The newest state: the sync's result when the round synced, else what the diff found."""
    synced: bool = False
    last_sync: SyncFact | None = None
    last_drift_fix: SyncFact | None = None
    error: str = ""
    """Why the last round failed (empty when it succeeded)."""


def observe(
    previous: Observed | None,
    revision: str,
    objects: tuple[Manifest, ...],
    found: ChangeSet,
    synced: ChangeSet | None,
    *,
    drift_fix: bool,
    at: float,
) -> Observed:
    """The record after a round that diffed (``found``) and maybe synced (``synced``).

    A sync counts as a drift fix only when it changed something: the loop syncs again each
    round while tasks wait, and such a sync must not hide the last real fix.
    """
    last_sync = previous.last_sync if previous else None
    last_fix = previous.last_drift_fix if previous else None
    if synced is not None:
        fixed = drift_fix and bool(real_drift(synced.changes, objects))
        last_sync = SyncFact(at, synced, fixed)
        last_fix = last_sync if fixed else last_fix
    return Observed(at, revision, objects, synced or found, synced is not None, last_sync, last_fix)


def real_drift(changes: Iterable[Change], objects: Iterable[Manifest]) -> list[Change]:
    """The changes that undo drift: creating a task's Job or an object that depends on tasks
    is the revision's scheduled work, not drift (the loop's rule for its drift metrics)."""
    scheduled = {(ref_of(o).kind, ref_of(o).name) for o in objects if is_job(o) or depends_on(o)}
    return [c for c in changes if c.action in CHANGING
            and not (c.action is Action.CREATE and (c.ref.kind, c.ref.name) in scheduled)]


def observe_failure(previous: Observed | None, revision: str, objects: tuple[Manifest, ...],
                    error: str, *, at: float) -> Observed:
    """The record after a failed round: what was known before, and why it failed."""
    base = previous or Observed(at)
    return replace(base, at=at, revision=revision or base.revision, objects=objects or base.objects, error=error)


# --- the snapshot -----------------------------------------------------------------------------


class TaskState(StrEnum):
    WAITING = "waiting"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    BLOCKED = "blocked"
    COMPLETED = "completed"


_STOPS = frozenset({TaskState.FAILED, TaskState.BLOCKED})


@dataclass(frozen=True)
class TaskNode:
    workflow: str
    task: str
    needs: tuple[str, ...]
    state: TaskState
    job: str = ""
    message: str = ""

    @property
    def key(self) -> tuple[str, str]:
        return (self.workflow, self.task)


@dataclass(frozen=True)
class ObjectRow:
    kind: str
    namespace: str
    name: str
    action: str
    health: str
    message: str = ""


@dataclass(frozen=True)
class DriftRow:
    """A drifted object: what changed (masked field paths) and who changed it."""

    object: str
    action: str
    changed_by: str
    fields: tuple[str, ...]
    healed: bool


@dataclass(frozen=True)
class SyncRow:
    time: datetime
    result: str
    """``success`` or ``error``."""
    drift_fix: bool
    summary: Mapping[str, int]
    errors: tuple[str, ...] = ()


@dataclass(frozen=True)
class TimelineRow:
    time: datetime
    kind: str
    author: str
    message: str
    commit: str = ""


@dataclass(frozen=True)
class EnvironmentSnapshot:
    name: str
    namespace: str
    branch: str
    revision: str = ""
    source_commit: str = ""
    observed_at: datetime | None = None
    health: str = ""
    last_sync: SyncRow | None = None
    drift: tuple[DriftRow, ...] = ()
    objects: tuple[ObjectRow, ...] = ()
    tasks: tuple[TaskNode, ...] = ()
    timeline: tuple[TimelineRow, ...] = ()
    error: str = ""
    timeline_error: str = ""
    self_heal: bool = False
    refresh_seconds: int = 10
    counts: Mapping[str, int] = field(default_factory=dict)


def _state_of(change: Change | None) -> TaskState | None:
    """A task's state from its Job's change entry (None: not created, decided by its needs)."""
    if change is None:
        return None
    direct = {Action.COMPLETED: TaskState.COMPLETED, Action.BLOCKED: TaskState.BLOCKED,
              Action.WAITING: TaskState.WAITING, Action.ERROR: TaskState.FAILED}
    if change.action in direct:
        return direct[change.action]
    by_health = {HealthStatus.HEALTHY: TaskState.SUCCEEDED, HealthStatus.DEGRADED: TaskState.FAILED,
                 HealthStatus.PROGRESSING: TaskState.RUNNING}
    return by_health.get(change.health) if change.health is not None else None


def task_nodes(objects: Iterable[Manifest], changes: ChangeSet | None) -> tuple[TaskNode, ...]:
    """One node per desired task Job, in workflow and task order.

    A Job not created yet is ``blocked`` when a dependency (transitively) failed or is blocked,
    else ``waiting`` (the rule of ``reconcile.dag.gate``).
    """
    by_name = {(c.ref.kind, c.ref.name): c for c in (changes.changes if changes else ())}
    known: dict[tuple[str, str], TaskNode] = {}
    undecided: set[tuple[str, str]] = set()
    for key, job in sorted(task_jobs(objects).items()):
        ref = ref_of(job)
        change = by_name.get((ref.kind, ref.name))
        state = _state_of(change)
        if state is None:
            undecided.add(key)
            message = "not observed yet" if change is None else "not created yet"
        else:
            message = change.message if change else ""
        known[key] = TaskNode(key[0], key[1], depends_on(job), state or TaskState.WAITING, ref.name, message)
    return tuple(_settle(known, undecided)[key] for key in known)


def _settle(nodes: dict[tuple[str, str], TaskNode], undecided: set[tuple[str, str]]) -> dict[tuple[str, str], TaskNode]:
    """Undecided tasks behind a failed or blocked dependency are blocked, transitively."""
    changed = True
    while changed:
        changed = False
        for key in sorted(undecided):
            node = nodes[key]
            stopped = [n for n in node.needs if (key[0], n) in nodes and nodes[(key[0], n)].state in _STOPS]
            missing = [n for n in node.needs if (key[0], n) not in nodes]
            if node.state is TaskState.WAITING and (stopped or missing):
                why = (f"dependency {stopped[0]!r} {nodes[(key[0], stopped[0])].state}" if stopped
                       else f"dependency {missing[0]!r} has no Job in the desired state")
                nodes[key] = replace(node, state=TaskState.BLOCKED, message=why)
                changed = True
    return nodes


def object_rows(changes: ChangeSet | None) -> tuple[ObjectRow, ...]:
    if changes is None:
        return ()
    rows = [ObjectRow(c.ref.kind, c.ref.namespace, c.ref.name, str(c.action), str(c.health or ""), c.message)
            for c in changes.changes]
    # what needs attention first, otherwise in apply order
    return tuple(sorted(rows, key=lambda r: r.health == HealthStatus.HEALTHY and r.action == Action.UNCHANGED))


def _drift_row(change: Change, healed: bool) -> DriftRow:
    fields = tuple(f.text() for f in change.fields[:MAX_FIELDS])
    if len(change.fields) > MAX_FIELDS:
        fields += (f"… and {len(change.fields) - MAX_FIELDS} more",)
    return DriftRow(str(change.ref), str(change.action), change.authors() or "unknown", fields, healed)


def drift_rows(observed: Observed) -> tuple[DriftRow, ...]:
    """Drift still there (found and not synced), then drift the last drift fix healed."""
    open_drift: list[DriftRow] = []
    if observed.changes is not None and not observed.synced:
        open_drift = [_drift_row(c, False) for c in real_drift(observed.changes.changes, observed.objects)]
    healed: list[DriftRow] = []
    if observed.last_drift_fix is not None:
        healed = [_drift_row(c, True) for c in real_drift(observed.last_drift_fix.result.changes, observed.objects)]
    return (*open_drift, *healed)


def sync_row(fact: SyncFact | None) -> SyncRow | None:
    if fact is None:
        return None
    errors = tuple(c.message or str(c.ref) for c in fact.result.changes if c.action is Action.ERROR)
    return SyncRow(_time(fact.at), "error" if errors else "success", fact.drift_fix, fact.result.summary(), errors)


def _time(at: float) -> datetime:
    return datetime.fromtimestamp(at, UTC)


def snapshot(
    name: str,
    namespace: str,
    branch: str,
    observed: Observed | None,
    *,
    source_commit: str = "",
    timeline: Sequence[TimelineRow] = (),
    timeline_error: str = "",
    self_heal: bool = False,
    refresh_seconds: int = 10,
) -> EnvironmentSnapshot:
    """Everything the page of one environment shows (before its first round: names only)."""
    base = EnvironmentSnapshot(name, namespace, branch, timeline=tuple(timeline[:MAX_EVENTS]),
                               timeline_error=timeline_error, self_heal=self_heal,
                               refresh_seconds=refresh_seconds, source_commit=source_commit)
    if observed is None:
        return base
    tasks = task_nodes(observed.objects, observed.changes)
    counts: dict[str, int] = {}
    for node in tasks:
        counts[str(node.state)] = counts.get(str(node.state), 0) + 1
    return replace(
        base,
        revision=observed.revision,
        observed_at=_time(observed.at),
        health=str(observed.changes.health) if observed.changes else "",
        last_sync=sync_row(observed.last_sync),
        drift=drift_rows(observed),
        objects=object_rows(observed.changes),
        tasks=tasks,
        error=observed.error,
        counts=counts,
    )


# --- the task graph ---------------------------------------------------------------------------

NODE_W, NODE_H = 168, 46
GAP_X, GAP_Y = 56, 18
GROUP_PAD, GROUP_TITLE = 14, 24

COLOURS: Mapping[TaskState, tuple[str, str]] = {
    TaskState.WAITING: ("#e4e7eb", "#3e4c59"),
    TaskState.RUNNING: ("#2f6fde", "#ffffff"),
    TaskState.SUCCEEDED: ("#1f9d55", "#ffffff"),
    TaskState.FAILED: ("#cf3b3b", "#ffffff"),
    TaskState.BLOCKED: ("#f0a23b", "#3b2500"),
    TaskState.COMPLETED: ("#5f8f6b", "#ffffff"),
}
"""(fill, text) per state; the state is also written on the node, never colour alone."""


@dataclass(frozen=True)
class Group:
    workflow: str
    x: int
    y: int
    width: int
    height: int


@dataclass(frozen=True)
class Layout:
    """Node top-left corners in pixels, the workflow frames, and the drawing's size."""

    positions: Mapping[tuple[str, str], tuple[int, int]]
    groups: tuple[Group, ...]
    width: int
    height: int


def layers(tasks: Sequence[TaskNode]) -> dict[tuple[str, str], int]:
    """Each task's column: the length of the longest dependency chain leading to it (a
    dependency that is not a task of the workflow, or a cycle, is ignored)."""
    by_key = {t.key: t for t in tasks}
    depth: dict[tuple[str, str], int] = {}

    def visit(key: tuple[str, str], trail: frozenset[tuple[str, str]]) -> int:
        if key in depth:
            return depth[key]
        needs = [(key[0], n) for n in by_key[key].needs if (key[0], n) in by_key and (key[0], n) not in trail]
        depth[key] = max((visit(n, trail | {key}) + 1 for n in needs), default=0)
        return depth[key]

    for task in tasks:
        visit(task.key, frozenset())
    return depth


def layout(tasks: Sequence[TaskNode]) -> Layout:
    """Layered left-to-right drawing per workflow: columns by ``layers``, rows ordered by the
    mean row of a node's dependencies (fewer crossings), workflows stacked top to bottom."""
    column = layers(tasks)
    positions: dict[tuple[str, str], tuple[int, int]] = {}
    groups: list[Group] = []
    top, width = 0, 0
    for workflow in sorted({t.workflow for t in tasks}):
        members = [t for t in tasks if t.workflow == workflow]
        rows: dict[tuple[str, str], float] = {}
        by_column: dict[int, list[TaskNode]] = {}
        for task in members:
            by_column.setdefault(column[task.key], []).append(task)
        for col in sorted(by_column):
            ordered = sorted(by_column[col], key=lambda task: _mean_row(task, rows))
            rows.update((task.key, row) for row, task in enumerate(ordered))
        tallest = max(len(c) for c in by_column.values())
        inner_top = top + GROUP_TITLE + GROUP_PAD
        for task in members:
            col, row = column[task.key], int(rows[task.key])
            offset = (tallest - len(by_column[col])) * (NODE_H + GAP_Y) // 2  # centre short columns
            positions[task.key] = (GROUP_PAD + col * (NODE_W + GAP_X),
                                   inner_top + offset + row * (NODE_H + GAP_Y))
        group_w = 2 * GROUP_PAD + len(by_column) * NODE_W + (len(by_column) - 1) * GAP_X
        group_h = GROUP_TITLE + 2 * GROUP_PAD + tallest * NODE_H + (tallest - 1) * GAP_Y
        groups.append(Group(workflow, 0, top, group_w, group_h))
        top += group_h + GAP_Y
        width = max(width, group_w)
    return Layout(positions, tuple(groups), width, max(top - GAP_Y, 0))


def _mean_row(task: TaskNode, rows: Mapping[tuple[str, str], float]) -> tuple[float, str]:
    """Sort key: the mean row of the task's dependencies already placed, then its name."""
    parents = [rows[(task.workflow, n)] for n in task.needs if (task.workflow, n) in rows]
    return (sum(parents) / len(parents) if parents else 0.0, task.task)


def _edge(start: tuple[int, int], end: tuple[int, int]) -> str:
    x1, y1 = start[0] + NODE_W, start[1] + NODE_H // 2
    x2, y2 = end[0] - 6, end[1] + NODE_H // 2
    bend = (x2 - x1) // 2
    return f'<path class="edge" d="M{x1},{y1} C{x1 + bend},{y1} {x2 - bend},{y2} {x2},{y2}" marker-end="url(#arrow)"/>'


def task_graph_svg(tasks: Sequence[TaskNode]) -> str:
    """The task DAG as inline SVG: a ``<g class="task" data-task data-state>`` per node with the
    task name and its state written on it, arrows from each dependency to its dependents."""
    if not tasks:
        return '<p class="muted">No tasks at this revision.</p>'
    drawn = layout(tasks)
    parts = [
        f'<svg class="dag" xmlns="http://www.w3.org/2000/svg" width="{drawn.width}" height="{drawn.height}" '
        f'viewBox="0 0 {drawn.width} {drawn.height}" role="img" aria-label="task graph">',
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" '
        'orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#7b8794"/></marker></defs>',
    ]
    for group in drawn.groups:
        parts.append(
            f'<g class="workflow" data-workflow="{escape(group.workflow)}"><rect x="{group.x}" y="{group.y}" '
            f'width="{group.width}" height="{group.height}" rx="8" fill="#f7f9fb" stroke="#d9e2ec"/>'
            f'<text x="{group.x + GROUP_PAD}" y="{group.y + 20}" class="wf">{escape(group.workflow or "-")}</text></g>'
        )
    for task in tasks:
        for need in task.needs:
            if (task.workflow, need) in drawn.positions:
                parts.append(_edge(drawn.positions[(task.workflow, need)], drawn.positions[task.key]))
    for task in tasks:
        x, y = drawn.positions[task.key]
        fill, ink = COLOURS[task.state]
        tip = f"{task.task}: {task.state}" + (f" — {task.message}" if task.message else "")
        parts.append(
            f'<g class="task" data-workflow="{escape(task.workflow)}" data-task="{escape(task.task)}" '
            f'data-state="{task.state}"><title>{escape(tip)}</title>'
            f'<rect x="{x}" y="{y}" width="{NODE_W}" height="{NODE_H}" rx="6" fill="{fill}" stroke="#52606d" '
            f'stroke-opacity="0.35"/>'
            f'<text x="{x + 10}" y="{y + 19}" fill="{ink}" class="name">{escape(_fit(task.task, 20))}</text>'
            f'<text x="{x + 10}" y="{y + 36}" fill="{ink}" class="state">{task.state}</text></g>'
        )
    parts.append("</svg>")
    return "".join(parts)


def _fit(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


# --- HTML -------------------------------------------------------------------------------------

_STYLE = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:0;color:#1f2933;background:#fff}
header{background:#1f2933;color:#fff;padding:12px 24px}header a{color:#9fb3c8;text-decoration:none}
main{padding:8px 24px 32px;max-width:1200px}h1{font-size:20px;margin:0}h2{font-size:16px;margin:24px 0 8px}
table{border-collapse:collapse;width:100%}td,th{text-align:left;padding:4px 8px;border-bottom:1px solid #e4e7eb;
vertical-align:top}th{font-weight:600;color:#52606d;background:#f5f7fa}
code{font:12px ui-monospace,Menlo,monospace}.muted{color:#7b8794}.facts td:first-child{width:160px;color:#52606d}
.badge{display:inline-block;padding:1px 8px;border-radius:10px;font-size:12px;font-weight:600}
.ok{background:#e3f9e5;color:#14532d}.bad{background:#ffe3e3;color:#7f1d1d}.warn{background:#fff3c4;color:#5c3c00}
.error{background:#ffe3e3;border-left:4px solid #cf3b3b;padding:8px 12px}
svg.dag text{font:13px system-ui,sans-serif}svg.dag text.state{font-size:11px}svg.dag text.wf{font-weight:600;
fill:#52606d}svg.dag .edge{fill:none;stroke:#7b8794;stroke-width:1.5}.legend span{margin-right:10px}
ul.fields{margin:0;padding-left:16px}.count{white-space:nowrap;margin-right:8px}
.graph{overflow-x:auto}table.objects td:nth-child(-n+5){white-space:nowrap}
"""

_GOOD = {"Healthy", "success", "unchanged", "succeeded", "completed"}
_BAD = {"Degraded", "error", "failed", "blocked", "Missing"}


def _badge(text: str) -> str:
    if not text:
        return '<span class="muted">-</span>'
    tone = "ok" if text in _GOOD else "bad" if text in _BAD else "warn"
    return f'<span class="badge {tone}">{escape(text or "-")}</span>'


def _when(moment: datetime | None) -> str:
    return "-" if moment is None else moment.strftime("%Y-%m-%d %H:%M:%S UTC")


def _page(title: str, body: str, refresh_seconds: int) -> str:
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="refresh" content="{int(refresh_seconds)}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)}</title><style>{_STYLE}</style></head><body>"
        f'<header><h1><a href="/">gitops-agent</a> · {escape(title)}</h1></header><main>{body}</main></body></html>'
    )


def _table(headers: Sequence[str], rows: Iterable[Sequence[str]], css: str = "") -> str:
    """Cells are HTML already (callers escape); headers are plain text."""
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{cell}</td>" for cell in row) + "</tr>" for row in rows)
    return f'<table class="{css}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def _link(name: str) -> str:
    return f'<a href="/environments/{escape(quote(name, safe=""))}">{escape(name)}</a>'


def _counts(counts: Mapping[str, int]) -> str:
    """Task states as on the graph: a swatch of the node colour, the state, the count."""
    return " ".join(f'<span class="count">{_swatch(TaskState(state))} {state} {n}</span>'
                    for state, n in sorted(counts.items())) or "-"


def render_index(snapshots: Sequence[EnvironmentSnapshot], refresh_seconds: int = 10) -> str:
    """``/``: one row per environment with its revision, health, last sync and task states."""
    rows = [
        (
            _link(s.name),
            escape(s.namespace),
            f"<code>{escape(s.revision[:12] or '-')}</code>",
            _badge(s.health),
            (_badge(s.last_sync.result) + " " + escape(_when(s.last_sync.time))) if s.last_sync else "-",
            _counts(s.counts),
            escape(s.error) if s.error else "",
        )
        for s in snapshots
    ]
    body = "<h2>Environments</h2>" + _table(
        ("environment", "namespace", "revision", "health", "last sync", "tasks", "last error"), rows)
    return _page("status", body, refresh_seconds)


def _facts(s: EnvironmentSnapshot) -> str:
    sync = s.last_sync
    sync_text = "none yet" if sync is None else (
        f"{_badge(sync.result)} {escape(_when(sync.time))}"
        f"{' (drift fix)' if sync.drift_fix else ''} — "
        + escape(", ".join(f"{k} {v}" for k, v in sync.summary.items() if v) or "nothing to do")
    )
    rows = [
        ("namespace", escape(s.namespace)),
        ("branch", f"<code>{escape(s.branch)}</code>"),
        ("revision", f"<code>{escape(s.revision or '-')}</code>"),
        ("source commit", f"<code>{escape(s.source_commit or '-')}</code>"),
        ("health", _badge(s.health)),
        ("last round", escape(_when(s.observed_at))),
        ("last sync", sync_text),
        ("self-heal", "on" if s.self_heal else "off"),
    ]
    cells = "".join(f"<tr><td>{k}</td><td>{v}</td></tr>" for k, v in rows)
    return f'<table class="facts">{cells}</table>'


def _drift_table(rows: Sequence[DriftRow]) -> str:
    if not rows:
        return '<p class="muted">No drift.</p>'
    return _table(
        ("object", "", "changed by", "fields"),
        (
            (
                f"<code>{escape(r.object)}</code>",
                _badge("healed") if r.healed else _badge("drifted"),
                escape(r.changed_by),
                '<ul class="fields">' + "".join(f"<li><code>{escape(f)}</code></li>" for f in r.fields) + "</ul>",
            )
            for r in rows
        ),
    )


def render_environment(s: EnvironmentSnapshot) -> str:
    """``/environments/<name>``: facts, errors, task graph, drift, object health, audit timeline."""
    parts = [_facts(s)]
    if s.error:
        parts.append(f'<p class="error">Last round failed: {escape(s.error)}</p>')
    if s.last_sync and s.last_sync.errors:
        parts.append('<p class="error">' + "<br>".join(escape(e) for e in s.last_sync.errors) + "</p>")
    legend = "".join(f'<span>{_swatch(state)} {state}</span>' for state in TaskState)
    parts.append(f'<h2>Tasks</h2><p class="legend">{legend}</p><div class="graph">{task_graph_svg(s.tasks)}</div>')
    parts.append("<h2>Drift</h2>" + _drift_table(s.drift))
    parts.append("<h2>Objects</h2>" + (_table(
        ("kind", "namespace", "name", "action", "health", "message"),
        ((escape(o.kind), escape(o.namespace), escape(o.name), _badge(o.action), _badge(o.health),
          escape(o.message)) for o in s.objects),
        "objects",
    ) if s.objects else '<p class="muted">Not observed yet.</p>'))
    timeline = _table(
        ("time", "event", "commit", "by", "what"),
        ((escape(_when(e.time)), escape(e.kind), f"<code>{escape(e.commit[:12])}</code>", escape(e.author),
          escape(e.message)) for e in s.timeline),
    ) if s.timeline else '<p class="muted">No events.</p>'
    if s.timeline_error:
        timeline = f'<p class="error">Audit timeline not read: {escape(s.timeline_error)}</p>' + timeline
    parts.append(f"<h2>Audit timeline (newest {MAX_EVENTS})</h2>{timeline}")
    return _page(s.name, "".join(parts), s.refresh_seconds)


def _swatch(state: TaskState) -> str:
    fill, _ = COLOURS[state]
    return (f'<svg width="12" height="12" aria-hidden="true"><rect width="12" height="12" rx="2" '
            f'fill="{fill}" stroke="#52606d" stroke-opacity="0.35"/></svg>')


def render_not_found(name: str, refresh_seconds: int = 10) -> str:
    return _page("not found", f"<p>No environment {escape(name)!s} is reconciled here.</p>", refresh_seconds)
