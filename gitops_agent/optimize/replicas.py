"""HPA bounds from the CPU and traffic history of a service's main Deployment (a pure strategy).

With ``r`` = the container's CPU request (cores) and ``u`` = the HPA's ``cpuUtilization``
target, one replica is meant to carry ``c = r x u/100`` cores. Over the window, the total
CPU of all pods of the Deployment (5m rate summed over pods, at 5m resolution) had a peak
``P`` (its maximum) and a trough ``T`` (its 5th percentile: a minimum would follow the
momentary dips while pods start and stop):

- ``min`` = max(ceil(T / c), the traffic's min, the PDB floor, 1): enough replicas for the
  quietest moment;
- ``max`` = max(ceil(P x :data:`PEAK_HEADROOM` / c), the traffic's max, ``min`` + 1): the
  busiest moment plus 20%, and always room for the HPA to add a replica (with ``max ==
  min`` it could not act).

Traffic (``http_requests_total`` of the main Deployment, summed 5m rate): a replica at its
CPU target carries ``q = c x R / C`` requests per second, with ``R`` / ``C`` the window's
mean request rate and mean total CPU (the CPU cost of a request). The traffic's min is
``ceil(R_trough / q)`` and its max ``ceil(R_peak x PEAK_HEADROOM / q)``: a service whose CPU
does not follow its requests (a warm cache, a model in memory) still gets the replicas its
request peaks need. Without traffic series, the CPU alone decides.

The PDB floor is the fewest replicas with which the PodDisruptionBudget still allows one
eviction while a pod stays available (percentages round up, as the disruption controller
rounds them): ``minAvailable: n`` needs ``n + 1``; ``minAvailable: p%`` the smallest ``k``
with ``k - ceil(k p/100) >= 1``; ``maxUnavailable: n`` (n >= 1) needs ``n + 1``, ``p%`` the
smallest ``k`` with ``k - ceil(k p/100) >= 1`` — fewer and a drain either hangs or takes
every pod at once (Kubernetes, "Specifying a Disruption Budget for your Application").
Each bound is proposed only when it moves by more than ``minChangePercent``. Services whose
HPA does not scale on CPU, and services without an HPA, get no bounds.
"""

from __future__ import annotations

import math
from dataclasses import replace

from gitops_agent.optimize.model import (
    Edit,
    Evidence,
    LoadHistory,
    Recommendation,
    RequestLoad,
    Status,
    Strategy,
    Target,
)
from gitops_agent.optimize.quantity import EPSILON
from gitops_agent.optimize.threshold import change_percent, significant
from gitops_agent.spec.model import Disruption, Rightsizing, Service, frozen_map
from gitops_agent.vocabulary.quantities import quantity_float

PEAK_HEADROOM = 1.2


MAX_FLOOR = 1000
"""Replicas tried at most when looking for the PDB floor."""


def _allowed(disruption: Disruption, replicas: int) -> int:
    """Evictions the budget allows with ``replicas`` healthy pods (percentages round up)."""

    def count(value: int | str) -> int:
        return math.ceil(replicas * float(value.rstrip("%")) / 100) if isinstance(value, str) else value

    if disruption.min_available is not None:
        return max(0, replicas - count(disruption.min_available))
    if disruption.max_unavailable is not None:
        return min(replicas, count(disruption.max_unavailable))
    return replicas


def pdb_floor(disruption: Disruption | None) -> int:
    """The fewest replicas with which the PodDisruptionBudget allows one eviction and still
    keeps a pod available (1 when no count can, e.g. ``maxUnavailable: 0``)."""
    if disruption is None:
        return 1
    for replicas in range(1, MAX_FLOOR + 1):
        allowed = _allowed(disruption, replicas)
        if allowed >= 1 and (replicas - allowed >= 1 or disruption.min_available is not None):
            return replicas
    return 1


def recommend_bounds(
    target: Target,
    service: Service,
    load: LoadHistory | None,
    policy: Rightsizing,
    *,
    enough_data: str | None = None,
    evidence: tuple[Evidence, ...] = (),
    requests: RequestLoad | None = None,
) -> list[Recommendation]:
    """``autoscale.min`` and ``autoscale.max`` recommendations for one service.

    ``enough_data`` is the reason why the history is too short (None when it is enough);
    ``requests`` the traffic history (None: the CPU alone decides).
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
    per_replica = quantity_float(service.container.resources.cpu or "0") * (autoscale.cpu_utilization / 100)
    floor = pdb_floor(service.disruption)
    low_cpu = math.ceil(load.trough_cores / per_replica - EPSILON)
    high_cpu = math.ceil(load.peak_cores * PEAK_HEADROOM / per_replica - EPSILON)
    shared = (
        f"per replica {per_replica * 1000:.0f}m ({service.container.resources.cpu} x "
        f"{autoscale.cpu_utilization}%); total CPU trough {load.trough_cores * 1000:.0f}m, "
        f"peak {load.peak_cores * 1000:.0f}m"
    )
    low_traffic = high_traffic = 0
    traffic = _per_replica_rps(per_replica, load, requests)
    if traffic is not None and requests is not None:
        low_traffic = math.ceil(requests.trough_rps / traffic - EPSILON)
        high_traffic = math.ceil(requests.peak_rps * PEAK_HEADROOM / traffic - EPSILON)
        shared += (
            f"; requests trough {requests.trough_rps:.3g}/s, peak {requests.peak_rps:.3g}/s, "
            f"{traffic:.3g}/s per replica (needs {low_traffic}..{high_traffic})"
        )
    low = max(1, floor, low_cpu, low_traffic)
    high = max(low + 1, high_cpu, high_traffic)
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
                "pdbFloor": floor,
                **(
                    {"peakRps": requests.peak_rps, "troughRps": requests.trough_rps, "rpsPerReplica": traffic}
                    if requests is not None and traffic is not None
                    else {}
                ),
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


def _per_replica_rps(per_replica: float, load: LoadHistory, requests: RequestLoad | None) -> float | None:
    """Requests per second one replica carries at the CPU target (None without traffic)."""
    if requests is None or not load.mean_cores or requests.mean_rps <= 0:
        return None
    return per_replica * requests.mean_rps / load.mean_cores
