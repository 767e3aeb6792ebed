"""HPA bounds from the CPU history of a service's main Deployment (a pure strategy).

With ``r`` = the container's CPU request (cores) and ``u`` = the HPA's ``cpuUtilization``
target, one replica is meant to carry ``c = r x u/100`` cores. Over the window, the total
CPU of all pods of the Deployment (5m rate summed over pods, at 5m resolution) had a peak
``P`` (its maximum) and a trough ``T`` (its 5th percentile: a minimum would follow the
momentary dips while pods start and stop):

- ``min`` = max(ceil(T / c), the PDB floor, 1): enough replicas for the quietest moment;
- ``max`` = max(ceil(P x :data:`PEAK_HEADROOM` / c), ``min`` + 1): the busiest moment plus
  20%, and always room for the HPA to add a replica (with ``max == min`` it could not act).

The PDB floor keeps voluntary disruptions possible: ``minAvailable: n`` (an integer) needs
``n + 1`` replicas (with exactly ``n`` no pod may ever be evicted and node drains hang); a
percentage below 100% or ``maxUnavailable`` needs 2. Each bound is proposed only when it
moves by more than ``minChangePercent``. Services whose HPA does not scale on CPU, and
services without an HPA, get no bounds.
"""

from __future__ import annotations

import math
from dataclasses import replace

from gitops_agent.optimize.model import (
    Edit,
    Evidence,
    LoadHistory,
    Recommendation,
    Status,
    Strategy,
    Target,
)
from gitops_agent.optimize.quantity import EPSILON, parse_quantity
from gitops_agent.optimize.threshold import change_percent, significant
from gitops_agent.spec.model import Disruption, Rightsizing, Service, frozen_map

PEAK_HEADROOM = 1.2


def pdb_floor(disruption: Disruption | None) -> int:
    """The fewest replicas that still let the PodDisruptionBudget evict one pod."""
    if disruption is None:
        return 1
    if isinstance(disruption.min_available, int):
        return disruption.min_available + 1
    if isinstance(disruption.min_available, str):
        percent = float(disruption.min_available.rstrip("%"))
        return 2 if percent < 100 else 1
    return 2 if disruption.max_unavailable is not None else 1


def recommend_bounds(
    target: Target,
    service: Service,
    load: LoadHistory | None,
    policy: Rightsizing,
    *,
    enough_data: str | None = None,
    evidence: tuple[Evidence, ...] = (),
) -> list[Recommendation]:
    """``autoscale.min`` and ``autoscale.max`` recommendations for one service.

    ``enough_data`` is the reason why the history is too short (None when it is enough).
    """
    autoscale = service.autoscale
    if autoscale is None or autoscale.cpu_utilization is None:
        return []
    results = []
    for bound, old in (("min", autoscale.min), ("max", autoscale.max)):
        base = Recommendation(
            Strategy.REPLICAS,
            target,
            f"autoscale.{bound}",
            old,
            None,
            Status.SKIPPED,
            "",
            evidence,
        )
        if service.container.resources.cpu is None:
            results.append(replace(base, reason="no CPU request: HPA utilization is undefined"))
        elif enough_data is not None or load is None:
            results.append(
                replace(
                    base,
                    status=Status.NOT_ENOUGH_DATA,
                    reason=enough_data or "no CPU series found in the window",
                )
            )
    if results:
        return results
    assert load is not None and autoscale.cpu_utilization is not None
    per_replica = parse_quantity(service.container.resources.cpu or "0") * (autoscale.cpu_utilization / 100)
    floor = pdb_floor(service.disruption)
    low = max(1, floor, math.ceil(load.trough_cores / per_replica - EPSILON))
    high = max(low + 1, math.ceil(load.peak_cores * PEAK_HEADROOM / per_replica - EPSILON))
    shared = (
        f"per replica {per_replica * 1000:.0f}m ({service.container.resources.cpu} x "
        f"{autoscale.cpu_utilization}%); total CPU trough {load.trough_cores * 1000:.0f}m, "
        f"peak {load.peak_cores * 1000:.0f}m"
    )
    reasons = {
        "min": f"ceil(trough / per replica), PDB floor {floor}; {shared}",
        "max": f"ceil(peak x {PEAK_HEADROOM:g} / per replica), at least min + 1; {shared}",
    }
    for bound, old, new in (("min", autoscale.min, low), ("max", autoscale.max, high)):
        details = frozen_map(
            {
                "changePercent": round(change_percent(old, new), 1),
                "peakCores": load.peak_cores,
                "troughCores": load.trough_cores,
            }
        )
        base = Recommendation(
            Strategy.REPLICAS,
            target,
            f"autoscale.{bound}",
            old,
            new,
            Status.UNCHANGED,
            reasons[bound],
            evidence,
            details=details,
        )
        if old == new:
            results.append(base)
        elif significant(old, new, policy.min_change_percent):
            edit = Edit((*target.spec_path, "autoscale", bound), new)
            results.append(replace(base, status=Status.PROPOSE, edits=(edit,)))
        else:
            results.append(
                replace(
                    base,
                    status=Status.BELOW_THRESHOLD,
                    reason=f"{reasons[bound]}; change of {change_percent(old, new):.1f}% is not "
                    f"above minChangePercent {policy.min_change_percent:g}%",
                )
            )
    return results
