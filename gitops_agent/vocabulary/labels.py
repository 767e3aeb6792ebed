"""The label and annotation contract: the keys gitops-agent writes and then relies on.

These keys decide what is pruned: an object is gitops-agent's own in one environment when it
carries :func:`ownership` (and, see ``reconcile.objects.is_owned``, a matching tracking id). The
``app.kubernetes.io/*`` keys are Kubernetes' recommended labels
(https://kubernetes.io/docs/concepts/overview/working-with-objects/common-labels/); the
``gitops-agent.io/*`` keys are gitops-agent's own prefix, as ``argocd.argoproj.io/*`` and
``kustomize.toolkit.fluxcd.io/*`` are Argo CD's and Flux's.
"""

from __future__ import annotations

from enum import StrEnum

NAME_LABEL = "app.kubernetes.io/name"
PART_OF_LABEL = "app.kubernetes.io/part-of"
"""The workflow an object belongs to."""
COMPONENT_LABEL = "app.kubernetes.io/component"
MANAGED_BY_LABEL = "app.kubernetes.io/managed-by"
MANAGED_BY_VALUE = "gitops-agent"
FIELD_MANAGER = "gitops-agent"
"""The server-side apply field manager (``kubectl apply --server-side --field-manager``)."""

ENVIRONMENT_LABEL = "gitops-agent.io/environment"
TASK_LABEL = "gitops-agent.io/task"
VARIANT_LABEL = "gitops-agent.io/variant"
MAIN_VARIANT = "main"
"""The variant label's value on a service's own Deployment (A/B variants carry their names)."""

DEPENDS_ON_ANNOTATION = "gitops-agent.io/depends-on"
"""Comma-separated task names of the same workflow the object waits for."""
CONFIG_HASH_ANNOTATION = "gitops-agent.io/config-hash"
PRUNE_ANNOTATION = "gitops-agent.io/prune"
"""``"false"``: never deleted by prune (Argo CD's ``Prune=false`` sync option)."""
ADOPTED_ANNOTATION = "gitops-agent.io/adopted"
"""On a Namespace that existed before gitops-agent applied it: never pruned."""
TRACKING_ANNOTATION = "gitops-agent.io/tracking-id"
"""``<environment>:<group>/<kind>:<namespace>/<name>``: the object's own identity, stamped at
apply time. A copy (``kubectl create job --from=cronjob/...``, an operator copying its parent's
labels) carries another name or kind, so its value does not match it (Argo CD's annotation
tracking, ``argocd.argoproj.io/tracking-id``, exists for the same reason)."""
SSA_ANNOTATION = "gitops-agent.io/ssa"
"""Per-object apply policy, Flux's vocabulary (``kustomize.toolkit.fluxcd.io/ssa``):
``Override`` (default), ``Merge``, ``IfNotPresent`` or ``Ignore``."""
RUN_ID_ANNOTATION = "gitops-agent.io/run-id"
"""On a task's pod template: the task's ``runId``; a new value is a new Job (a new run)."""
UPSTREAM_RUNS_ANNOTATION = "gitops-agent.io/upstream-runs"
"""``task=run,...``: the run ids upstream of a task or service, so a retrained task re-runs
everything downstream of it."""
GRAFANA_DASHBOARD_LABEL = "grafana_dashboard"
"""The label the Grafana sidecar of kube-prometheus-stack watches by default
(``grafana.sidecar.dashboards.label``, value ``"1"``)."""
class ApplyPolicy(StrEnum):
    """The ``gitops-agent.io/ssa`` annotation (Flux's ``kustomize.toolkit.fluxcd.io/ssa`` values).

    * ``Override`` (default): apply with force; git wins every field it sets.
    * ``Merge``: apply without taking over: fields other managers own stay theirs, items they
      added to lists stay; only what nobody else owns follows git.
    * ``IfNotPresent``: create when missing, never touch it afterwards (drift not reported).
    * ``Ignore``: never created, changed or reported.
    """

    OVERRIDE = "Override"
    MERGE = "Merge"
    IF_NOT_PRESENT = "IfNotPresent"
    IGNORE = "Ignore"


TRIALS_HASH_ANNOTATION = "gitops-agent.io/trials-hash"
"""On a sweep's pod template: the hash of its trials ConfigMap, so a new generation is a new Job."""
TEMPLATE_HASH_ANNOTATION = "gitops-agent.io/template-hash"
"""On a task's Job: the hash of its template as git holds it (a changed spec runs again)."""


def ownership(environment: str) -> dict[str, str]:
    """The labels that make an object gitops-agent's own in ``environment``
    (``{managed-by: gitops-agent, environment: <environment>}``)."""
    return {MANAGED_BY_LABEL: MANAGED_BY_VALUE, ENVIRONMENT_LABEL: environment}


def ownership_selector(environment: str) -> str:
    """The label selector (``key=value,...``, keys sorted) that lists what gitops-agent owns in
    ``environment``: the one list prune starts from."""
    return ",".join(f"{key}={value}" for key, value in sorted(ownership(environment).items()))
