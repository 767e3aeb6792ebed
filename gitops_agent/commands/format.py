"""Change sets for people (lines and diffs) and for programs (one JSON document), and the
exit-3 summary of objects the cluster refused: shared by diff, sync and rollback."""

from __future__ import annotations

import typer

from gitops_agent.commands.common import OutputFormat, emit_json, say
from gitops_agent.errors import ClusterError
from gitops_agent.reconcile.changeset import CHANGING, Action, Change, ChangeSet

_SYMBOL = {
    Action.CREATE: "+",
    Action.UPDATE: "~",
    Action.DELETE: "-",
    Action.WAITING: "…",
    Action.BLOCKED: "!",
    Action.ERROR: "x",
}


def _print_change(change: Change, show_unchanged: bool) -> None:
    symbol = _SYMBOL.get(change.action, "=")
    line = f"{symbol} {change.action:<9} {change.ref} (wave {change.wave})"
    if show_unchanged and change.health is not None:
        line += f" [{change.health}]"
    if change.message:
        line += f": {change.message}"
    say(line)
    if change.changed_by:
        say(f"    changed out of band by {change.authors()}")
    for field_change in change.fields if change.action in CHANGING else ():
        say(f"    {field_change.text()}")
    if change.action is Action.UPDATE and change.diff:  # made only where it is shown
        for diff_line in change.diff.splitlines():
            color = {"+": typer.colors.GREEN, "-": typer.colors.RED}.get(diff_line[:1])
            if diff_line.startswith(("+++", "---")):
                color = None
            typer.secho(f"    {diff_line}", fg=color)


def print_change_set(change_set: ChangeSet, output: OutputFormat, *, show_unchanged: bool = False) -> None:
    """The change set as JSON (exactly one document) or as lines and diffs for people."""
    if output == OutputFormat.JSON:
        emit_json(change_set.to_json())
        return
    risks = change_set.risks()
    if risks:
        say("Risk summary:")
        for line in risks:
            say(f"  ! {line}")
    for change in change_set.changes:
        if change.action is not Action.UNCHANGED or show_unchanged:
            _print_change(change, show_unchanged)
    summary = change_set.summary()
    counts = ", ".join(
        f"{count} {action}"
        for action, count in summary.items()
        if count or action in ("create", "update", "delete", "unchanged")
    )
    revision = change_set.revision[:12] or "working tree"
    say(f"{change_set.environment} @ {revision}: {counts}; health {change_set.health}")
    for note in change_set.notes:
        say(f"note: {note}")


def raise_cluster_errors(change_set: ChangeSet, headline: str) -> None:
    """Exit 3 with one line per failed object (after the change set was printed).

    Raises ClusterError always.
    """
    errors = sorted(change_set.errors, key=lambda c: c.action is not Action.ERROR)
    lines = [c.message if c.message.startswith(str(c.ref)) else f"{c.ref}: {c.message}" for c in errors]
    count = len(lines)
    summary = lines[0] if count == 1 else f"{count} objects failed:\n  " + "\n  ".join(lines)
    raise ClusterError(summary or headline)
