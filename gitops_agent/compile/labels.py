"""Label and annotation keys that gitops-agent writes and the reconciler relies on."""

from __future__ import annotations

NAME = "app.kubernetes.io/name"
PART_OF = "app.kubernetes.io/part-of"
MANAGED_BY = "app.kubernetes.io/managed-by"
COMPONENT = "app.kubernetes.io/component"
MANAGER = "gitops-agent"

ENVIRONMENT = "gitops-agent.io/environment"
TASK = "gitops-agent.io/task"
VARIANT = "gitops-agent.io/variant"
DEPENDS_ON = "gitops-agent.io/depends-on"
CONFIG_HASH = "gitops-agent.io/config-hash"
PRUNE = "gitops-agent.io/prune"
RUN_ID = "gitops-agent.io/run-id"
UPSTREAM_RUNS = "gitops-agent.io/upstream-runs"
GRAFANA_DASHBOARD = "grafana_dashboard"
"""The label the Grafana sidecar of kube-prometheus-stack watches by default
(``grafana.sidecar.dashboards.label``, value ``"1"``)."""



def ownership(environment: str) -> dict[str, str]:
    """The labels that make an object gitops-agent's own in one environment."""
    return {MANAGED_BY: MANAGER, ENVIRONMENT: environment}


def ownership_selector(environment: str) -> str:
    """A label selector matching every object gitops-agent owns in one environment."""
    return ",".join(f"{key}={value}" for key, value in sorted(ownership(environment).items()))
