"""The git trailers gitops-agent writes and reads: the provenance contract of its commits.

Written as ``Key: value`` lines in the last paragraph of a commit message (git-interpret-trailers(1));
``audit`` and ``rollback`` read them back with :meth:`gitops_agent.adapters.git.CommitInfo.trailer`.
"""

from __future__ import annotations

SOURCE_COMMIT = "Source-Commit"
"""On an environment commit: the spec commit it was compiled from (``uncommitted`` for a dirty tree)."""
SPEC_DIGEST = "Spec-Digest"
"""On an environment commit: the digest of the specs its tree was compiled from."""
ROLLBACK_TO = "Rollback-To"
"""On a rollback commit: the earlier environment commit whose tree it restores."""
PROPOSAL_ENVIRONMENT = "Gitops-Agent-Environment"
"""On an optimize proposal commit: the environment whose history it was computed from."""
PROPOSAL_WINDOW = "Gitops-Agent-Window"
"""On an optimize proposal commit: the Prometheus window it read (e.g. ``7d``)."""
PROPOSAL_RETRAIN = "Gitops-Agent-Retrain"
"""On an optimize proposal commit that retrains: ``<workflow>/<task> <run id>``, one per task."""


def trailer(key: str, value: str) -> str:
    """One trailer line, ``Key: value``."""
    return f"{key}: {value}"
