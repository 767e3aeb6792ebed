"""Backtest of a right-sizing proposal: its values replayed over the window's usage (pure).

Every sample of usage in the window (all pods of the target, main container) is set against
the current and the proposed value (Prometheus counts them, see
:func:`gitops_agent.optimize.queries.replay_query`; :func:`replay` is the same rule over a
list of samples):

- CPU (the 5-minute rate at 5-minute resolution, cores): the share of samples above the
  proposed request (the engine counts no "before" for CPU: one pass over every pod's rate
  is what it costs). Above a CPU *limit* that is throttling; above a request without a limit the
  container borrows idle CPU of the node, which another pod may claim back — so it is
  reported as throttling risk only where a limit is set.
- Memory (working set at 1-minute resolution, bytes): the number of samples above the limit
  (the request where no limit is set) — samples that would have been OOM-killed. A proposal
  with more than :data:`MAX_OOM_SHARE` of its samples above the proposed limit is **not
  made** (status ``oom-risk``).
- Slack before and after: ``1 - mean(usage) / value`` — the share of the reserved resource
  left unused, the measure of Rzadca et al., "Autopilot: workload autoscaling at Google",
  EuroSys 2020 (Autopilot: 23% slack against 46% for hand-set limits, with an order of
  magnitude fewer jobs hit by OOM).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from gitops_agent.optimize.model import Evidence, Recommendation, Status
from gitops_agent.spec.model import Resources, frozen_map
from gitops_agent.vocabulary.quantities import quantity_float

MAX_OOM_SHARE = 0.0
"""The stated bound: no sample of the window may cross a proposed memory limit."""


@dataclass(frozen=True)
class Replay:
    """The proposal's value and the current one against ``samples`` usage samples.

    ``over_before`` / ``over_after``: samples above the current / proposed value (None when
    there is no current value); slack as a fraction of the value (None likewise).
    """

    samples: int
    over_before: int | None
    over_after: int
    slack_before: float | None
    slack_after: float

    @property
    def share_after(self) -> float:
        return self.over_after / self.samples if self.samples else 0.0


def replay(usage: Sequence[float], before: float | None, after: float) -> Replay:
    """Count the samples of ``usage`` above ``before`` and ``after`` (same unit, > 0)."""
    over_before = None if before is None else sum(1 for u in usage if u > before)
    return from_counts(len(usage), sum(usage), over_before, sum(1 for u in usage if u > after), before, after)


def from_counts(
    samples: int, total: float, over_before: int | None, over_after: int, before: float | None, after: float
) -> Replay:
    """A :class:`Replay` from counted samples and their sum (the mean gives the slack)."""
    mean = total / samples if samples else 0.0
    return Replay(
        samples=samples,
        over_before=over_before,
        over_after=over_after,
        slack_before=None if not before else 1 - mean / before,
        slack_after=1 - mean / after if after else 0.0,
    )


def current_value(rec: Recommendation, resources: Resources) -> float | None:
    """What the proposal replaces: the CPU request, or the memory limit (the request
    where no limit is set), as a number (cores or bytes)."""
    memory = resources.limits.get("memory") or resources.memory
    value = memory if rec.field == "resources.memory" else resources.cpu
    return None if value is None else quantity_float(value)


def attach(rec: Recommendation, resources: Resources, result: Replay | None, evidence: Evidence) -> Recommendation:
    """``rec`` (a proposed CPU or memory value) with its replay in details, reason and
    evidence; a memory proposal over :data:`MAX_OOM_SHARE` becomes ``oom-risk``."""
    if not rec.proposed or result is None or result.samples == 0:
        return rec
    memory = rec.field == "resources.memory"
    limit_cpu = resources.limits.get("cpu")
    text = _describe(result, memory, limit_cpu is not None)
    details = {**rec.details, **_details(result, memory)}
    evidence_line = replace(evidence, observed=f"{evidence.observed}: {text}")
    updated = replace(rec, details=frozen_map(details), evidence=(*rec.evidence, evidence_line))
    if memory and result.share_after > MAX_OOM_SHARE:
        return replace(
            updated,
            status=Status.OOM_RISK,
            edits=(),
            reason=f"{rec.reason}; not proposed: {text} (bound {MAX_OOM_SHARE:.1%} of samples)",
        )
    return replace(updated, reason=f"{rec.reason}; replay: {text}")


def _percent(value: float | None) -> str | None:
    return None if value is None else f"{value:.1%}"


def _change(before: str | None, after: str) -> str:
    """``before -> after``, or ``after`` alone when there is no before (not counted, or no
    value set): a dash there read as a value."""
    return after if before is None else f"{before} -> {after}"


def _describe(result: Replay, memory: bool, cpu_limit: bool) -> str:
    if memory:
        before = None if result.over_before is None else str(result.over_before)
        crossed = f"would-have-OOMed samples {_change(before, str(result.over_after))} of {result.samples}"
    else:
        before_share = None if result.over_before is None else result.over_before / result.samples
        request = "the request" if before_share is not None else "the proposed request"
        kind = f"above {request} (throttling risk: a CPU limit is set)" if cpu_limit else f"above {request}"
        crossed = f"{kind} {_change(_percent(before_share), f'{result.share_after:.1%}')} of {result.samples} samples"
    slack = _change(_percent(result.slack_before), f"{result.slack_after:.1%}")
    return f"{crossed}; slack {slack}"


def _details(result: Replay, memory: bool) -> dict[str, float | str]:
    prefix = "oomSamples" if memory else "overRequestSamples"
    out: dict[str, float | str] = {
        "replaySamples": result.samples,
        f"{prefix}After": result.over_after,
        "slackAfter": round(result.slack_after, 4),
    }
    if result.over_before is not None:
        out[f"{prefix}Before"] = result.over_before
    if result.slack_before is not None:
        out["slackBefore"] = round(result.slack_before, 4)
    return out
