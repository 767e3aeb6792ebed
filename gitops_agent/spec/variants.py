"""A/B variants of a service: the primary variant's name and how replicas split among variants.

Shared by the compiler (Deployments per variant) and optimize (the split a sample-ratio check
expects when no route carries weights), so both read one rule.
"""

from __future__ import annotations

from gitops_agent.spec.model import Service

MAIN_VARIANT = "main"
"""The variant every service has: its own image, the rest of the traffic."""


def variant_replicas(service: Service) -> dict[str, int]:
    """Replicas per variant (``main`` included) from the total and the variants' weights.

    The total is ``replicas`` (default 1), or ``autoscale.min`` when autoscaling; each variant
    gets ``max(1, round(total × weight / 100))``; with autoscaling only ``main`` is scaled by
    the HPA, variants keep their share of the minimum.
    """
    total = service.autoscale.min if service.autoscale else (service.replicas or 1)
    shares = {v.name: max(1, round(total * v.weight / 100)) for v in service.variants}
    return {MAIN_VARIANT: max(1, total - sum(shares.values())), **shares}
