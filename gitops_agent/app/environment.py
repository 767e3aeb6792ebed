"""Open an environment of a GitOps repository, and the connection to its cluster."""

from __future__ import annotations

from pathlib import Path

from gitops_agent.adapters.kube import KubeCluster
from gitops_agent.errors import ClusterError, InvalidInputError
from gitops_agent.spec.cache import load_specs_cached
from gitops_agent.spec.model import Environment, SpecSet


def load_environment(repo: Path, name: str) -> Environment:
    """The named environment of the repository; unchanged spec files are not validated again
    (:mod:`gitops_agent.spec.cache`).

    Raises InvalidInputError (exit 2) when it is unknown or when any spec is invalid.
    """
    specs = load_specs_cached(repo)
    if name not in specs.environments:
        known = ", ".join(sorted(specs.environments)) or "none"
        raise InvalidInputError(f"environment {name!r} not found (known: {known})")
    return specs.environments[name]


def select_environments(specs: SpecSet, names: list[str] | None) -> list[Environment]:
    """The environments named on the command line (default: all), in name order.

    Raises InvalidInputError naming the first unknown one.
    """
    if not names:
        return [specs.environments[name] for name in sorted(specs.environments)]
    unknown = sorted(set(names) - set(specs.environments))
    if unknown:
        known = ", ".join(sorted(specs.environments)) or "none"
        raise InvalidInputError(f"--env {unknown[0]}: no such environment (known: {known})")
    return [specs.environments[name] for name in sorted(set(names))]


def connect(kubeconfig: Path | None, context: str | None, env: Environment) -> KubeCluster:
    """A connection to the environment's cluster (``context`` overrides the environment's).

    Raises ClusterError (exit 3) naming the environment and its file when the kubeconfig
    cannot serve it.
    """
    try:
        return KubeCluster(kubeconfig, context or env.context)
    except ClusterError as error:
        raise ClusterError(f"environment {env.name} ({env.source}): {' '.join(str(error).split())}") from error
