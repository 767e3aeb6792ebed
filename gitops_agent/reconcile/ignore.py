"""Fields git does not enforce: per-object apply policies, environment ignore rules, and fields
that a controller owns by design. All pure; applied to the desired body once live is known.

Two ways a field is left alone, both leaving "diff" with nothing to report:

* **rebase** (JSON pointers): the desired value is replaced by the live one (or dropped when
  live has none), so the apply neither changes nor removes it — Argo CD's
  ``ignoreDifferences`` with ``RespectIgnoreDifferences=true``, kapp's rebase rules;
* **release** (field managers): fields another manager owns (``metadata.managedFields``) are
  dropped from the applied configuration, so server-side apply leaves them to that manager —
  Argo CD's ``managedFieldsManagers``, Flux's ``kustomize.toolkit.fluxcd.io/ssa: Merge``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from gitops_agent.errors import InvalidInputError
from gitops_agent.reconcile.fieldset import ExtraItem, FieldPath
from gitops_agent.vocabulary.labels import SSA_ANNOTATION, ApplyPolicy
from gitops_agent.vocabulary.objects import Manifest, ObjectRef, annotations_of, labels_of, ref_of


def apply_policy(obj: Mapping[str, Any]) -> ApplyPolicy:
    """The object's policy; raises ``InvalidInputError`` (exit 2) for an unknown value."""
    raw = annotations_of(obj).get(SSA_ANNOTATION)
    if raw is None:
        return ApplyPolicy.OVERRIDE
    for policy in ApplyPolicy:
        if str(raw).lower() == policy.value.lower():
            return policy
    allowed = ", ".join(p.value for p in ApplyPolicy)
    raise InvalidInputError(f"{ref_of(obj)}: metadata.annotations.{SSA_ANNOTATION}: {raw!r} is not one of {allowed}")


@dataclass(frozen=True)
class IgnoreRule:
    """Fields of matching objects that git does not enforce.

    ``group``/``kind``/``name``/``namespace``: ``None`` matches any. ``json_pointers`` are RFC
    6901 pointers where ``*`` matches any list index or map key. ``managers``: field managers
    whose fields are left to them. ``when`` narrows a built-in rule to objects in a given shape.
    """

    group: str | None = None
    kind: str | None = None
    name: str | None = None
    namespace: str | None = None
    json_pointers: tuple[str, ...] = ()
    managers: tuple[str, ...] = ()
    when: Callable[[Mapping[str, Any]], bool] | None = field(default=None, compare=False)
    reason: str = ""

    def matches(self, obj: Mapping[str, Any]) -> bool:
        ref = ref_of(obj)
        return (
            (self.group is None or self.group == ref.group)
            and (self.kind is None or self.kind == ref.kind)
            and (self.name is None or self.name == ref.name)
            and (self.namespace is None or self.namespace == ref.namespace)
            and (self.when is None or self.when(obj))
        )


_CA_INJECTION = (
    "cert-manager.io/inject-ca-from",
    "cert-manager.io/inject-ca-from-secret",
    "cert-manager.io/inject-apiserver-ca",
)


def _injects_ca(obj: Mapping[str, Any]) -> bool:
    return any(key in annotations_of(obj) for key in _CA_INJECTION)


CONTROLLER_FIELDS: tuple[IgnoreRule, ...] = (
    IgnoreRule(
        group="rbac.authorization.k8s.io",
        kind="ClusterRole",
        json_pointers=("/rules",),
        when=lambda obj: bool(obj.get("aggregationRule")),
        reason="an aggregated ClusterRole's rules are filled by the clusterrole-aggregation controller "
        "(Kubernetes RBAC docs, 'Aggregated ClusterRoles')",
    ),
    IgnoreRule(
        group="",
        kind="Secret",
        json_pointers=("/data",),
        when=lambda obj: obj.get("type") == "kubernetes.io/service-account-token",
        reason="a service-account-token Secret's data is filled by the token controller "
        "(Kubernetes docs, 'Manually create a long-lived API token for a ServiceAccount')",
    ),
    *(
        IgnoreRule(
            group=group,
            kind=kind,
            json_pointers=(pointer,),
            when=_injects_ca,
            reason="caBundle is injected by cert-manager's cainjector (cert-manager docs, 'CA Injector')",
        )
        for group, kind, pointer in (
            ("admissionregistration.k8s.io", "ValidatingWebhookConfiguration", "/webhooks/*/clientConfig/caBundle"),
            ("admissionregistration.k8s.io", "MutatingWebhookConfiguration", "/webhooks/*/clientConfig/caBundle"),
            ("apiextensions.k8s.io", "CustomResourceDefinition", "/spec/conversion/webhook/clientConfig/caBundle"),
            ("apiregistration.k8s.io", "APIService", "/spec/caBundle"),
        )
    ),
    IgnoreRule(
        group="batch",
        kind="Job",
        json_pointers=("/spec/suspend",),
        when=lambda obj: "kueue.x-k8s.io/queue-name" in labels_of(obj),
        reason="Kueue admits a queued Job by unsuspending it (Kueue docs, 'Run a Job')",
    ),
)
"""Fields that the Kubernetes API (or a widely used controller) documents as filled by a
controller: set by git only at creation, never reported as drift, never reset."""


def _tokens(pointer: str) -> list[str]:
    if not pointer.startswith("/"):
        return []
    return [t.replace("~1", "/").replace("~0", "~") for t in pointer[1:].split("/")]


def _rebase(desired: Any, live: Any, tokens: Sequence[str]) -> None:
    """Set ``desired`` at ``tokens`` to live's value (drop it when live has none)."""
    head, rest = tokens[0], tokens[1:]
    if isinstance(desired, dict):
        keys = list(desired) if head == "*" else [head]
        for key in keys:
            if key not in desired:
                continue
            live_value = live.get(key) if isinstance(live, Mapping) else None
            if rest:
                _rebase(desired[key], live_value, rest)
            elif live_value is None:
                del desired[key]
            else:
                desired[key] = live_value
    elif isinstance(desired, list) and rest:
        indexes = range(len(desired)) if head == "*" else [int(head)] if head.isascii() and head.isdigit() else []
        for index in indexes:
            if index >= len(desired):
                continue
            live_item = live[index] if isinstance(live, list) and index < len(live) else None
            _rebase(desired[index], live_item, rest)


def rebase_pointers(desired: Manifest, live: Mapping[str, Any], pointers: Sequence[str]) -> None:
    """Replace the values at ``pointers`` (``*`` wildcards) in ``desired`` by live's, in place.

    A pointer that desired does not set is skipped: git never adds a field through a rule.
    """
    for pointer in pointers:
        tokens = _tokens(pointer)
        if tokens:
            _rebase(desired, live, tokens)


@dataclass(frozen=True)
class Exemptions:
    """What a desired object's apply leaves alone, given its rules and policy."""

    pointers: tuple[str, ...] = ()
    managers: tuple[str, ...] = ()
    all_other_managers: bool = False


def exemptions_for(obj: Mapping[str, Any], rules: Sequence[IgnoreRule]) -> Exemptions:
    """Pointers and managers that apply to ``obj`` from ``rules`` and its ``ssa`` policy."""
    pointers: list[str] = []
    managers: list[str] = []
    for rule in (*CONTROLLER_FIELDS, *rules):
        if rule.matches(obj):
            pointers.extend(rule.json_pointers)
            managers.extend(rule.managers)
    return Exemptions(tuple(pointers), tuple(managers), apply_policy(obj) is ApplyPolicy.MERGE)


def _pointer_covers(pattern: Sequence[str], tokens: Sequence[str]) -> bool:
    """Is the field at ``tokens`` the one at ``pattern`` (``*`` wildcards) or inside it?"""
    if len(tokens) < len(pattern):
        return False
    return all(p in ("*", t) for p, t in zip(pattern, tokens, strict=False))


@dataclass(frozen=True)
class LeftAlone:
    """What git leaves alone on one live object: fields under ``pointers`` and ``fields``
    (managedFields paths released to other managers). Callable on an :class:`ExtraItem`:
    true when that item is not drift, so it is neither reported nor removed."""

    pointers: tuple[str, ...] = ()
    fields: frozenset[FieldPath] = frozenset()
    managers: tuple[str, ...] = ()
    all_other_managers: bool = False

    def __call__(self, extra: ExtraItem) -> bool:
        if extra.field and any(extra.field[:n] in self.fields for n in range(1, len(extra.field) + 1)):
            return True
        tokens = _tokens(extra.path)
        return any(_pointer_covers(_tokens(pointer), tokens) for pointer in self.pointers)


def describe(ref: ObjectRef, policy: ApplyPolicy) -> str:
    """The message a diff shows for an object its policy keeps out of the sync."""
    return f"{ref}: not applied ({SSA_ANNOTATION}: {policy.value})"
