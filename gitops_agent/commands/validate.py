"""``gitops-agent validate [PATH…]``: schema and semantic checks of workflows and environments."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from gitops_agent.commands.common import OutputFormat, OutputOption, RepoOption, emit_json, say
from gitops_agent.errors import EXIT_INVALID, EXIT_OK, InvalidInputError
from gitops_agent.spec import validate_paths
from gitops_agent.spec.loader import spec_files


def validate(
    paths: Annotated[list[Path] | None, typer.Argument(help="Files or folders (default: the repository).")] = None,
    repo: RepoOption = Path(),
    output: OutputOption = OutputFormat.TEXT,
) -> int:
    """Check workflow and environment specs; report every problem as file:line:col: field: message."""
    if not paths and not spec_files(repo):
        # the wrong folder (or --repo) would otherwise read as "valid" and pass a CI check
        raise InvalidInputError(
            f"{repo.resolve()}: no specs to validate (workflows/*.yaml, environments/*.yaml); "
            "gitops-agent init creates a repository"
        )
    diagnostics = validate_paths(repo, list(paths) if paths else None)
    if output == OutputFormat.JSON:
        emit_json(
            {
                "valid": not diagnostics,
                "errors": [
                    {"file": d.file, "line": d.line, "column": d.col, "field": d.field, "message": d.message}
                    for d in diagnostics
                ],
            }
        )
    else:
        for diagnostic in diagnostics:
            typer.echo(str(diagnostic), err=True)
        if not diagnostics:
            say("valid")
    return EXIT_INVALID if diagnostics else EXIT_OK


def register(app: typer.Typer) -> None:
    app.command("validate")(validate)
