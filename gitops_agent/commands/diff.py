"""``gitops-agent diff ENV``: the live cluster against git, what a sync would change."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from gitops_agent.app.environment import load_environment
from gitops_agent.app.sync import ClusterAccess, diff_environment
from gitops_agent.commands.common import (
    ContextOption,
    KubeconfigOption,
    OutputFormat,
    OutputOption,
    RefOption,
    RepoOption,
    VerboseOption,
    setup_logging,
)
from gitops_agent.commands.format import print_change_set, raise_cluster_errors
from gitops_agent.errors import EXIT_DIFFERENCES, EXIT_OK


def diff(
    env: Annotated[str, typer.Argument(help="Environment name.")],
    ref: RefOption = None,
    repo: RepoOption = Path(),
    kubeconfig: KubeconfigOption = None,
    context: ContextOption = None,
    output: OutputOption = OutputFormat.TEXT,
    verbose: VerboseOption = False,
) -> int:
    """Compare the live cluster with the environment branch (exit 1 when they differ)."""
    setup_logging(verbose)
    environment = load_environment(repo, env)
    change_set = diff_environment(repo, environment, ref, ClusterAccess(kubeconfig, context))
    print_change_set(change_set, output)
    if change_set.errors:
        raise_cluster_errors(change_set, change_set.errors[0].message)
    return EXIT_DIFFERENCES if change_set.has_changes else EXIT_OK


def register(app: typer.Typer) -> None:
    app.command("diff")(diff)
