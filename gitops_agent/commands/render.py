"""``gitops-agent render ENV``: the final manifests of an environment, kustomize-built."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from gitops_agent.app.environment import select_environments
from gitops_agent.commands.common import OutputFormat, OutputOption, RefOption, RepoOption, emit_json
from gitops_agent.compile import compile_environment
from gitops_agent.errors import EXIT_OK
from gitops_agent.render.overlay import Rendered, cache_for, render_files, render_ref
from gitops_agent.spec.cache import load_specs_cached
from gitops_agent.vocabulary.yaml import dump_all


def render(
    env: Annotated[str, typer.Argument(help="Environment name.")],
    ref: RefOption = None,
    source: Annotated[
        bool, typer.Option("--source", help="Compile the working tree's specs instead of reading the branch.")
    ] = False,
    repo: RepoOption = Path(),
    output: OutputOption = OutputFormat.TEXT,
) -> int:
    """Print the environment's manifests as multi-document YAML (or JSON with -o json)."""
    specs = load_specs_cached(repo)
    environment = select_environments(specs, [env])[0]
    if source:
        tree = compile_environment(specs, environment, source_commit=None, repo_root=repo)
        objects = render_files(dict(tree), environment.name, cache_for(repo))
        rendered = Rendered(environment.name, None, tuple(objects))
    else:
        rendered = render_ref(repo, environment, ref)
    if output == OutputFormat.JSON:
        emit_json(
            {"environment": rendered.environment, "revision": rendered.revision, "objects": list(rendered.objects)}
        )
    else:
        typer.echo(dump_all(rendered.objects).decode(), nl=False)
    return EXIT_OK


def register(app: typer.Typer) -> None:
    app.command("render")(render)
