"""``gitops-agent init [DIR]``: scaffold a GitOps repository."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from gitops_agent.adapters import git as g
from gitops_agent.commands.common import OutputFormat, OutputOption, emit_json, say
from gitops_agent.errors import EXIT_OK, InvalidInputError
from gitops_agent.resources import resource_dir


def scaffold_files() -> dict[str, bytes]:
    """Relative path → content of everything ``init`` writes."""
    files: dict[str, bytes] = {}
    for workflow in sorted(resource_dir("examples").glob("*.yaml")):
        files[f"workflows/{workflow.name}"] = workflow.read_bytes()
    for env_file in sorted(resource_dir("environments").glob("*.yaml")):
        files[f"environments/{env_file.name}"] = env_file.read_bytes()
    manifests = resource_dir("manifests")
    for manifest in sorted(manifests.rglob("*.yaml")):
        files[f"manifests/{manifest.relative_to(manifests).as_posix()}"] = manifest.read_bytes()
    for workflow in sorted((resource_dir("templates") / "github").glob("*.yml")):
        files[f".github/workflows/{workflow.name}"] = workflow.read_bytes()
    files[".gitignore"] = b"/build/\n"
    return files


def init(
    directory: Annotated[Path, typer.Argument(help="Where to create the repository.")] = Path(),
    force: Annotated[bool, typer.Option("--force", help="Overwrite files that already exist.")] = False,
    output: OutputOption = OutputFormat.TEXT,
) -> int:
    """Create example workflows, dev/staging/prod environments and GitHub Actions workflows."""
    files = scaffold_files()
    existing = sorted(path for path in files if (directory / path).exists())
    if existing and not force:
        raise InvalidInputError(f"{directory / existing[0]}: already exists (use --force to overwrite)")
    for path, content in files.items():
        target = directory / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content)
    created_repo = False
    if not (directory / ".git").exists():
        g.init_repo(directory)
        created_repo = True
    if output == OutputFormat.JSON:
        emit_json({"directory": str(directory), "files": sorted(files), "gitInit": created_repo})
    else:
        for path in sorted(files):
            say(f"created {directory / path}")
        say(
            "next: gitops-agent validate && git add -A && git commit -m 'Initial workflows'"
            " && gitops-agent compile --commit"
        )
    return EXIT_OK


def register(app: typer.Typer) -> None:
    app.command("init")(init)
