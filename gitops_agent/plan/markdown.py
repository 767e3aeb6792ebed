"""A plan as GitHub-flavoured markdown that always fits in one pull-request comment.

GitHub refuses comments longer than 65,536 characters. Small diffs are shown inline,
large ones folded in ``<details>``, one very long diff is cut to its first lines, and when
the whole still does not fit, the remaining diffs are replaced by one line per object (or
left out) with a note saying how much was left out. The hidden marker on the first line
lets the sticky comment be found and updated.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from gitops_agent.plan.build import ChangeKind, EnvironmentPlan, ObjectDiff, Plan

MARKER = "<!-- gitops-agent:plan -->"
COMMENT_LIMIT = 65_536
FOLD_LINES = 20
MAX_DIFF_LINES = 400
_NOTE_RESERVE = 400
_BACKTICKS = re.compile(r"`+")


@dataclass(frozen=True)
class _Block:
    full: str
    short: str
    size: int


def _fence(text: str) -> str:
    longest = max((len(m.group(0)) for m in _BACKTICKS.finditer(text)), default=0)
    return "`" * max(3, longest + 1)


def _cut(diff: str) -> str:
    lines = diff.splitlines(keepends=True)
    if len(lines) <= MAX_DIFF_LINES:
        return diff
    left = len(lines) - MAX_DIFF_LINES
    return "".join(lines[:MAX_DIFF_LINES]) + f"... {left} more lines left out\n"


def _object_block(change: ObjectDiff) -> _Block:
    label = f"**{change.change.value}** `{change.key}`"
    if change.replaces:
        label += f" (replaces `{change.replaces}`)"
    if change.fields:
        shown = change.fields[:10]
        label += ": " + "; ".join(f"`{f.text()}`" for f in shown) + (" …" if len(change.fields) > 10 else "")
    diff = _cut(change.diff)
    fence = _fence(diff)
    lines = change.diff.count("\n")
    code = f"{fence}diff\n{diff}{'' if diff.endswith(chr(10)) else chr(10)}{fence}\n"
    if lines > FOLD_LINES:
        summary = f"<b>{change.change.value}</b> <code>{change.key}</code> ({lines} lines)"
        full = f"<details><summary>{summary}</summary>\n\n{code}\n</details>\n\n"
    else:
        full = f"- {label}\n\n{code}\n"
    return _Block(full=full, short=f"- {label} (diff left out)\n", size=len(full))


def _counts(env: EnvironmentPlan) -> str:
    return ", ".join(f"{env.count(c)} {c.value}" for c in ChangeKind)


def _heading(env: EnvironmentPlan, live: bool) -> str:
    title = f"`{env.environment}`"
    if live:
        title = f"live {title} (head against the cluster)"
    heading = f"#### {title}: {_counts(env)}, {env.unchanged} unchanged\n\n"
    if env.note:
        heading += f"_{env.note}_\n\n"
    if not env.changes:
        heading += "No differences.\n\n"
    return heading


def _risks(plan: Plan) -> str:
    """The risk summary of every environment, before anything else."""
    lines = [
        f"- `{env.environment}`{' (live)' if live else ''}: {line}"
        for live, envs in ((False, plan.environments), (True, plan.live))
        for env in envs
        for line in env.risks()
    ]
    if not lines:
        return ""
    shown = lines[:40] + ([f"- … {len(lines) - 40} more"] if len(lines) > 40 else [])
    return "#### Risk summary\n\n" + "\n".join(shown) + "\n\n"


def _table(plan: Plan) -> str:
    columns = [c.value for c in ChangeKind] + ["unchanged"]
    rows = [
        "| environment | " + " | ".join(columns) + " |",
        "| --- | " + " | ".join("---:" for _ in columns) + " |",
    ]
    for live, envs in ((False, plan.environments), (True, plan.live)):
        for env in envs:
            name = f"`{env.environment}` (live)" if live else f"`{env.environment}`"
            counts = " | ".join(str(value) for value in env.summary.values())
            rows.append(f"| {name} | {counts} |")
    return "\n".join(rows) + "\n\n"


def _header(plan: Plan) -> str:
    total = sum(len(env.changes) for env in plan.environments)
    changed_envs = sum(1 for env in plan.environments if env.changes)
    if plan.changed:
        verdict = f"**{total} object(s) differ in {changed_envs} environment(s).**"
    else:
        verdict = "**No differences.**"
    if plan.live:
        drift = sum(len(env.changes) for env in plan.live)
        verdict += f" Head differs from the cluster in {drift} object(s)."
    return f"{MARKER}\n### gitops-agent plan\n\nBase `{plan.base[:12]}` → head `{plan.head[:12]}`. {verdict}\n\n"


def _sections(plan: Plan) -> Iterator[tuple[str, list[_Block]]]:
    for live, envs in ((False, plan.environments), (True, plan.live)):
        for env in envs:
            yield _heading(env, live), [_object_block(change) for change in env.changes]


def render_markdown(plan: Plan, *, limit: int = COMMENT_LIMIT) -> str:
    """The plan as markdown of at most ``limit`` characters."""
    head = _header(plan) + _risks(plan) + _table(plan)
    sections = list(_sections(plan))
    headings_left = sum(len(heading) for heading, _ in sections)
    budget = limit - _NOTE_RESERVE
    out = [head]
    used = len(head)
    shortened = dropped = left_out_chars = 0
    for heading, blocks in sections:
        headings_left -= len(heading)
        if used + len(heading) + headings_left > budget:
            dropped += len(blocks)
            left_out_chars += sum(b.size for b in blocks)
            continue
        out.append(heading)
        used += len(heading)
        for block in blocks:
            if used + block.size + headings_left <= budget:
                out.append(block.full)
                used += block.size
            elif used + len(block.short) + headings_left <= budget:
                out.append(block.short)
                used += len(block.short)
                shortened += 1
                left_out_chars += block.size
            else:
                dropped += 1
                left_out_chars += block.size
    if shortened or dropped:
        parts = []
        if shortened:
            parts.append(f"{shortened} diff(s) replaced by their object's name")
        if dropped:
            parts.append(f"{dropped} object(s) not listed")
        out.append(
            f"> **Plan truncated to fit a GitHub comment:** {', '.join(parts)}; "
            f"{left_out_chars:,} characters left out. Run `gitops-agent plan --base "
            f"{plan.base[:12]} --head {plan.head[:12]} --format json` for the whole plan.\n"
        )
    text = "".join(out)
    if len(text) > limit:
        keep = limit - 120
        note = f"\n\n> **Plan truncated:** {len(text) - keep:,} characters left out.\n"
        text = text[:keep] + note
    return text
