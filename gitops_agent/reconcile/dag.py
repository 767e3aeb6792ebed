"""Task order: a Job (or a Deployment) with ``depends-on`` waits for its tasks' Jobs.

Dependencies are task names of the same workflow (``app.kubernetes.io/part-of``); the Job of a
task is the desired Job with that ``gitops-agent.io/task`` label, i.e. the same revision.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from gitops_agent.reconcile.health import HealthStatus, health_of
from gitops_agent.reconcile.objects import depends_on
from gitops_agent.vocabulary.labels import PART_OF_LABEL
from gitops_agent.vocabulary.objects import Manifest, ObjectRef, labels_of, ref_of, task_of


class Gate(StrEnum):
    READY = "ready"
    WAITING = "waiting"
    BLOCKED = "blocked"


@dataclass(frozen=True)
class GateDecision:
    gate: Gate
    message: str = ""


def task_jobs(desired: Iterable[Manifest]) -> dict[tuple[str, str], Manifest]:
    """(workflow, task) → the desired Job of that task."""
    found: dict[tuple[str, str], Manifest] = {}
    for obj in desired:
        task = task_of(obj)
        if task is not None:
            found[task] = obj
    return found


def find_cycle(desired: Iterable[Manifest]) -> list[str] | None:
    """A dependency cycle among desired task Jobs (task names), or None."""
    jobs = task_jobs(desired)
    edges = {key: [(key[0], dep) for dep in depends_on(obj)] for key, obj in jobs.items()}
    state: dict[tuple[str, str], int] = {}
    stack: list[tuple[str, str]] = []

    def visit(node: tuple[str, str]) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in edges.get(node, ()):
            if state.get(nxt) == 1:
                start = stack.index(nxt)
                return [task for _, task in stack[start:]] + [nxt[1]]
            if nxt in edges and state.get(nxt) is None:
                cycle = visit(nxt)
                if cycle:
                    return cycle
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(edges):
        if state.get(node) is None:
            cycle = visit(node)
            if cycle:
                return cycle
    return None


def gate(
    obj: Mapping[str, Any],
    jobs: Mapping[tuple[str, str], Manifest],
    live_by_ref: Mapping[tuple[str, str, str, str], Manifest],
    blocked: Collection[tuple[str, str]] = (),
    pods: Sequence[Mapping[str, Any]] = (),
) -> GateDecision:
    """May ``obj`` be applied now, given the live state of its dependencies' Jobs?

    READY when every dependency's Job is Complete; BLOCKED when one is missing from the
    desired state, blocked itself, or Degraded — failed, or its Pod cannot be scheduled
    (``pods``: the Pods of the Jobs' namespace, see ``health``) — with that Job's health
    message; WAITING otherwise.
    """
    needs = depends_on(obj)
    if not needs:
        return GateDecision(Gate.READY)
    workflow = str(labels_of(obj).get(PART_OF_LABEL, ""))
    waiting: list[str] = []
    for task in needs:
        job = jobs.get((workflow, task))
        if job is None:
            return GateDecision(Gate.BLOCKED, f"dependency {task!r} has no Job in the desired state")
        if (workflow, task) in blocked:
            return GateDecision(Gate.BLOCKED, f"dependency {task!r} is blocked")
        ref: ObjectRef = ref_of(job)
        health = health_of(ref.group, ref.kind, live_by_ref.get(ref.key), pods)
        if health.status is HealthStatus.DEGRADED:
            return GateDecision(Gate.BLOCKED, f"dependency {task!r} is Degraded ({ref.name}: {health.message})")
        if health.status is not HealthStatus.HEALTHY:
            waiting.append(task)
    if waiting:
        return GateDecision(Gate.WAITING, "waiting for " + ", ".join(repr(t) for t in waiting))
    return GateDecision(Gate.READY)
