"""Right-sizing: container requests and limits from usage history (a pure strategy).

Formulas (``p`` = the policy's ``cpuPercentile``, ``b`` = ``memoryBufferPercent``):

- CPU request = max over the target's pods of the ``p``-th percentile of the 5-minute CPU
  rate over the window (a percentile of the subquery at 5m resolution), rounded *up* to
  5m steps below one core and 50m steps from one core, at least :data:`CPU_FLOOR_MILLI`
  (10m: below that, kubelet CPU shares stop meaning anything).
- Memory request = memory limit = peak working set of any pod x (1 + b/100), rounded up to
  a whole MiB, at least :data:`MEMORY_FLOOR_MIB` (64Mi: the runtime, libc and a Python
  interpreter need that much before any model is loaded).
- OOM bump: when ``kube_pod_container_status_last_terminated_reason{reason="OOMKilled"}``
  was seen, the working set was cut off at the limit of that time, so the peak understates
  the need: memory = max(the buffered peak, peak + 100Mi, peak x 1.2) — the bump of the
  Kubernetes VPA recommender, applied to the memory the container had when it was killed
  (its peak). It is not applied to the current limit: a bump already proposed for the same
  OOM kill would otherwise grow again on every run while the kill stays in the window.
- Not enough data: fewer than :data:`MIN_POINTS` working-set samples (summed over pods) in
  the window; nothing is proposed (100 points is e.g. 100 minutes at a 1-minute scrape).
- An HPA scaling on CPU (``autoscale.cpuUtilization``) adapts replicas to CPU: changing the
  request would move its target, so CPU is not right-sized there (the replicas strategy
  proposes HPA bounds instead); likewise memory when it scales on memory.
- A value is proposed only when it moves by more than ``minChangePercent``
  (:mod:`gitops_agent.optimize.threshold`); for memory the larger of the request's and the
  limit's change counts.
"""

from __future__ import annotations

from dataclasses import replace

from gitops_agent.optimize.model import (
    Edit,
    Evidence,
    Recommendation,
    Status,
    Strategy,
    Target,
    UsageHistory,
)
from gitops_agent.optimize.quantity import MI, format_cpu, format_memory, round_cpu, round_memory
from gitops_agent.optimize.threshold import change_percent, significant
from gitops_agent.spec.model import Autoscale, Resources, Rightsizing, frozen_map
from gitops_agent.vocabulary.quantities import quantity_float

MIN_POINTS = 100
NO_SERIES = "no usage series found in the window"
CPU_FLOOR_MILLI = 10
MEMORY_FLOOR_MIB = 64
OOM_BUMP_BYTES = 100 * MI
OOM_BUMP_FACTOR = 1.2


def _cpu_milli(value: str | None) -> int | None:
    return None if value is None else round(quantity_float(value) * 1000)


def _mib(value: str | None) -> float | None:
    return None if value is None else quantity_float(value) / MI


def recommend_cpu(
    target: Target,
    resources: Resources,
    usage: UsageHistory | None,
    policy: Rightsizing,
    *,
    autoscale: Autoscale | None = None,
    evidence: tuple[Evidence, ...] = (),
) -> Recommendation:
    """The CPU request recommendation of one target (see the module docstring)."""
    old = resources.cpu
    path = (*target.spec_path, "resources", "cpu")
    base = Recommendation(Strategy.RIGHTSIZING, target, "resources.cpu", old, None, Status.SKIPPED, "", evidence)
    if autoscale is not None and autoscale.cpu_utilization is not None:
        return replace(
            base,
            reason=f"HPA scales on CPU ({autoscale.cpu_utilization}% target): HPA bounds proposed instead",
        )
    missing = _missing(usage, usage.cpu_cores if usage else None)
    if missing:
        return replace(base, status=Status.NOT_ENOUGH_DATA, reason=missing)
    assert usage is not None and usage.cpu_cores is not None
    milli = max(CPU_FLOOR_MILLI, round_cpu(usage.cpu_cores))
    new = format_cpu(milli)
    old_milli = _cpu_milli(old)
    details: dict[str, float | str] = {
        "observedCores": round(usage.cpu_cores, 6),
        "percentile": policy.cpu_percentile,
        "changePercent": _pct(old_milli, milli),
    }
    reason = (
        f"p{policy.cpu_percentile:g} of CPU usage {usage.cpu_cores * 1000:.1f}m "
        f"(max over {usage.pods} pod(s)), rounded up"
    )
    return _decide(base, new, old_milli, milli, policy, reason, (Edit(path, new),), details)


def recommend_memory(
    target: Target,
    resources: Resources,
    usage: UsageHistory | None,
    policy: Rightsizing,
    *,
    autoscale: Autoscale | None = None,
    evidence: tuple[Evidence, ...] = (),
) -> Recommendation:
    """The memory request (= limit) recommendation of one target."""
    old_limit = resources.limits.get("memory")
    old = resources.memory
    base = Recommendation(Strategy.RIGHTSIZING, target, "resources.memory", old, None, Status.SKIPPED, "", evidence)
    if autoscale is not None and autoscale.memory_utilization is not None:
        return replace(
            base,
            reason=f"HPA scales on memory ({autoscale.memory_utilization}% target)",
        )
    missing = _missing(usage, usage.memory_peak if usage else None)
    if missing:
        return replace(base, status=Status.NOT_ENOUGH_DATA, reason=missing)
    assert usage is not None and usage.memory_peak is not None
    peak = usage.memory_peak
    needed = peak * (1 + policy.memory_buffer_percent / 100)
    reason = f"peak working set {peak / MI:.1f}Mi + {policy.memory_buffer_percent:g}% buffer"
    if usage.oom_killed:
        needed = max(needed, peak + OOM_BUMP_BYTES, peak * OOM_BUMP_FACTOR)
        reason += f"; OOMKilled: bumped to max(peak + 100Mi, peak x 1.2) = {needed / MI:.1f}Mi"
    mib = max(MEMORY_FLOOR_MIB, round_memory(needed))
    new = format_memory(mib)
    old_mib, limit_mib = _mib(old), _mib(old_limit)
    change = max(change_percent(old_mib, mib), change_percent(limit_mib, mib))
    details: dict[str, float | str] = {
        "peakBytes": peak,
        "oomKilled": str(usage.oom_killed).lower(),
        "changePercent": round(change, 1) if change != float("inf") else "new",
    }
    request_path = (*target.spec_path, "resources", "memory")
    limit_path = (*target.spec_path, "resources", "limits", "memory")
    edits = (Edit(request_path, new), Edit(limit_path, new))
    if old_mib == mib and limit_mib == mib:
        return replace(base, new=new, status=Status.UNCHANGED, reason=reason, details=frozen_map(details))
    worst = old_mib if change_percent(old_mib, mib) >= change_percent(limit_mib, mib) else limit_mib
    return _decide(base, new, worst, mib, policy, reason, edits, details)


def _missing(usage: UsageHistory | None, value: float | None) -> str | None:
    if usage is None or usage.points == 0 or value is None:
        return NO_SERIES
    if usage.points < MIN_POINTS:
        return f"only {usage.points} samples in the window (at least {MIN_POINTS} needed)"
    return None


def _pct(old: float | None, new: float) -> float | str:
    value = change_percent(old, new)
    return "new" if value == float("inf") else round(value, 1)


def _decide(
    base: Recommendation,
    new: str,
    old_value: float | None,
    new_value: float,
    policy: Rightsizing,
    reason: str,
    edits: tuple[Edit, ...],
    details: dict[str, float | str],
) -> Recommendation:
    if old_value is not None and old_value == new_value:
        status = Status.UNCHANGED
    elif significant(old_value, new_value, policy.min_change_percent):
        status = Status.PROPOSE
    else:
        status = Status.BELOW_THRESHOLD
        reason += (
            f"; change of {change_percent(old_value, new_value):.1f}% is not above "
            f"minChangePercent {policy.min_change_percent:g}%"
        )
    return replace(
        base,
        new=new,
        status=status,
        reason=reason,
        edits=edits if status is Status.PROPOSE else (),
        details=frozen_map(details),
    )
