"""Options and output helpers shared by every command module."""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer

from gitops_agent import IMPORTED_AT, __version__
from gitops_agent.errors import InvalidInputError
from gitops_agent.vocabulary.durations import parse_duration


class OutputFormat(StrEnum):
    TEXT = "text"
    JSON = "json"


RepoOption = Annotated[
    Path,
    typer.Option("--repo", help="The GitOps repository.", file_okay=False, resolve_path=True),
]
OutputOption = Annotated[OutputFormat, typer.Option("--output", "-o", help="text for people, json for programs.")]
VerboseOption = Annotated[bool, typer.Option("--verbose", "-v", help="More detail on stderr.")]
KubeconfigOption = Annotated[
    Path | None,
    typer.Option("--kubeconfig", envvar="KUBECONFIG", help="kubeconfig file.", dir_okay=False),
]
ContextOption = Annotated[
    str | None, typer.Option("--context", help="kubeconfig context (overrides the environment's).")
]
RefOption = Annotated[str | None, typer.Option("--ref", help="Revision of the environment branch (default: its head).")]


class StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """A log handler writing to whatever ``sys.stderr`` is when a record is emitted, not the
    stream of the moment logging was configured (which a host such as a test runner or an
    embedding program may have closed and replaced since)."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, _value: Any) -> None:
        """The stream is always the current ``sys.stderr``; nothing to set."""


def configure_logging(verbose: bool) -> None:
    """Logs go to stderr: gitops-agent's own from INFO, other libraries' only from WARNING
    (an HTTP server or client embedded with it keeps its request lines to itself); ``-v``
    shows debug detail of both."""
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.WARNING,
        format="%(message)s",
        handlers=[StderrHandler()],
        force=True,
    )
    logging.getLogger("gitops_agent").setLevel(logging.DEBUG if verbose else logging.INFO)


def setup_logging(verbose: bool) -> None:
    """Logs on stderr; the HTTP library's retry warnings only with ``-v``."""
    configure_logging(verbose)
    logging.getLogger("urllib3").setLevel(logging.DEBUG if verbose else logging.ERROR)


def parse_seconds(value: str, flag: str) -> float:
    """A duration flag (``30s``, ``5m``, ``1h``) in seconds; InvalidInputError names the flag."""
    seconds = parse_duration(value)
    if seconds is None:
        raise InvalidInputError(f"{flag} {value}: expected a duration such as 30s, 5m or 1h")
    return float(seconds)


def emit_json(document: Any) -> None:
    """Print exactly one JSON document on stdout; an object carries ``agentVersion``."""
    if isinstance(document, dict):
        document = {**document, "agentVersion": __version__}
    sys.stdout.write(json.dumps(document, indent=2, sort_keys=True, default=str) + "\n")


def say(message: str) -> None:
    """A line for people, on stdout."""
    typer.echo(message)


def progress(message: str) -> None:
    """Progress and logs go to stderr."""
    typer.echo(message, err=True)


def live_progress(message: str) -> None:
    """Progress of long work (objects applied out of total, what a wait still waits for): on
    stderr only when it is a terminal, so logs of CI runs and pipes stay quiet."""
    if sys.stderr.isatty():
        typer.echo(message, err=True)
def process_started() -> float:
    """``time.monotonic()`` at the moment this process started, in seconds.

    So that a command reports what a person waited for: interpreter start-up and imports
    included. Linux: the process's ``starttime`` (field 22 of ``/proc/self/stat``, in clock
    ticks since boot; proc(5)) against ``CLOCK_BOOTTIME``, to 1/``SC_CLK_TCK`` s. Elsewhere, or
    when ``/proc`` cannot be read: when ``gitops_agent`` was first imported. Never raises.
    """
    try:
        stat = Path("/proc/self/stat").read_text(encoding="ascii")
        start_ticks = int(stat.rsplit(")", 1)[1].split()[19])  # fields after "pid (comm)" begin at 3
        age = time.clock_gettime(time.CLOCK_BOOTTIME) - start_ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError, AttributeError):
        return IMPORTED_AT
    now = time.monotonic()
    return min(now - max(age, 0.0), IMPORTED_AT)
