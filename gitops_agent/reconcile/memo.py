"""What the reconcile loop keeps between rounds of one environment, so that a no-op round of an
unchanged revision costs a dict lookup per object instead of a copy and a walk.

Two things are kept, each under a key made of everything that decides it:

* the prepared desired objects (:func:`~gitops_agent.reconcile.desired.prepare_desired`,
  sharing with the render every value preparing does not change) and a content digest of
  each, for one rendered revision: keyed by the rendered objects themselves
  (held, so their identities stay theirs), the environment and its namespace. A render's
  objects are never changed after the render, so equal identities mean equal content;
* the local verdict "unchanged" per object (:func:`~gitops_agent.reconcile.fieldset.check_locally`):
  keyed by the prepared object's digest, the live object's ``uid`` and ``resourceVersion``
  (which the API server changes on every write to the object, Kubernetes API concepts,
  "Resource versions"), the environment's ignore rules and the digest of the OpenAPI document
  the walk used.

Only "unchanged" verdicts are kept: anything else goes to the server's dry-run anyway.
Verdicts not looked up in a round are dropped at the start of the next one, so the memo holds
at most two rounds' objects. A verdict's key is a SHA-256 of content only, so ``diff`` keeps
the verdicts of its last run on disk (:meth:`PlanMemo.proven`, :meth:`PlanMemo.of`); those
leave Secrets out, so that no digest of a Secret's values is written anywhere.
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from gitops_agent.reconcile.ignore import IgnoreRule
from gitops_agent.vocabulary.objects import Manifest

VerdictKey = str
"""SHA-256 (hex) of: desired digest, live uid, live resourceVersion, ignore rules, OpenAPI
document digest."""


def content_digest(obj: Manifest) -> str:
    """SHA-256 of ``obj``'s canonical JSON (sorted keys), hex; values JSON cannot hold are
    written with ``str``."""
    canonical = json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


@functools.lru_cache(maxsize=64)
def rules_text(rules: tuple[IgnoreRule, ...]) -> str:
    """The ignore rules as stable text (their ``when`` narrowing is code, not data: left out)."""
    return json.dumps([[r.group, r.kind, r.name, r.namespace, r.json_pointers, r.managers] for r in rules])


def verdict_key(digest: str, live: Manifest, rules: tuple[IgnoreRule, ...], schema: str) -> VerdictKey | None:
    """The key of one local verdict (``schema``: the OpenAPI document's digest, empty without
    one), or None when the live object has no ``resourceVersion`` (then nothing proves it did
    not change)."""
    meta = live.get("metadata") or {}
    version = str(meta.get("resourceVersion") or "")
    if not version:
        return None
    parts = ("verdict", digest, str(meta.get("uid") or ""), version, rules_text(rules), schema)
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()


@dataclass
class _Prepared:
    originals: tuple[Manifest, ...]
    scope: tuple[str, str]
    objects: list[Manifest]
    digests: list[str]


@dataclass
class PlanMemo:
    """Kept by the loop per environment across rounds (one round at a time)."""

    _prepared: _Prepared | None = None
    _verdicts: set[VerdictKey] = field(default_factory=set)
    _seen: set[VerdictKey] = field(default_factory=set)
    hits: int = 0
    """Verdicts answered from the memo since it was made (for tests and benchmarks)."""
    keeps_secrets: bool = True
    """False for a memo that is written to disk: Secrets are then always walked."""

    @classmethod
    def of(cls, proven: Iterable[VerdictKey]) -> PlanMemo:
        """A memo holding verdicts kept on disk by an earlier process (Secrets never kept)."""
        keys = set(proven)
        return cls(_verdicts=set(keys), _seen=keys, keeps_secrets=False)

    def proven(self) -> frozenset[VerdictKey]:
        """The verdicts the last round used or made (what a later process may start from)."""
        return frozenset(self._seen)

    def prepared(self, desired: Sequence[Manifest], scope: tuple[str, str]) -> tuple[list[Manifest], list[str]] | None:
        """The prepared objects and digests of ``desired`` in ``scope`` (environment,
        namespace) from an earlier round, or None. The objects are shared between rounds:
        whoever changes one must change a copy."""
        kept = self._prepared
        if kept is None or kept.scope != scope or len(kept.originals) != len(desired):
            return None
        if any(a is not b for a, b in zip(kept.originals, desired, strict=True)):
            return None
        return kept.objects, kept.digests

    def keep_prepared(
        self, desired: Sequence[Manifest], scope: tuple[str, str], objects: list[Manifest]
    ) -> list[str]:
        """Keep ``objects`` (prepared from ``desired``) for the next rounds; their digests."""
        digests = [content_digest(obj) for obj in objects]
        self._prepared = _Prepared(tuple(desired), scope, objects, digests)
        return digests

    def start_round(self) -> None:
        """Drop the verdicts the previous round did not use."""
        self._verdicts = self._seen
        self._seen = set()

    def proven_unchanged(self, key: VerdictKey | None) -> bool:
        if key is None or key not in self._verdicts:
            return False
        self._seen.add(key)
        self.hits += 1
        return True

    def remember_unchanged(self, key: VerdictKey | None) -> None:
        if key is not None:
            self._verdicts.add(key)
            self._seen.add(key)
