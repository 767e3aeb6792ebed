"""The ``gitops-agent`` command line: parse flags, call one engine function, map errors to exit codes.

Each command lives in ``gitops_agent.commands.<name>`` and registers itself on the app.
"""

from __future__ import annotations

import importlib
import signal
import sys
import tempfile
import traceback
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType

import typer
from typer._click.core import Command
from typer._click.exceptions import ClickException, UsageError
from typer.core import TyperArgument, TyperGroup, TyperOption

from gitops_agent import __version__
from gitops_agent.errors import EXIT_INTERRUPTED, EXIT_INVALID, GitOpsAgentError

EXIT_INTERNAL = 70
"""An unexpected internal error (a bug): a short message and the path of a log file."""

app = typer.Typer(
    name="gitops-agent",
    help="Deploy AI workflows to Kubernetes the GitOps way.",
    no_args_is_help=True,
    add_completion=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


def _show_version(value: bool) -> None:
    if value:
        typer.echo(f"gitops-agent {__version__}")
        raise typer.Exit(0)


@app.callback()
def _main(
    version: bool = typer.Option(
        False, "--version", is_eager=True, callback=_show_version, help="Print the version and exit."
    ),
) -> None:
    """Deploy AI workflows to Kubernetes the GitOps way."""


def _plain_argument(argument: TyperArgument) -> None:
    """``sync ENV`` rather than ``sync {env}`` and ``env <str>`` (typer's own display)."""
    name = (argument.name or "value").upper()
    shown = name if argument.required else f"[{name}]"
    shown += "..." if argument.nargs != 1 else ""
    argument.metavar = name
    argument.display_type_rich = lambda ctx: None  # type: ignore[method-assign]
    argument._usage_display_name = lambda: shown  # type: ignore[method-assign]


def _plain_placeholders(command: Command) -> None:
    """Help shows plain placeholders: none for flags, the option's name for values
    (``--timeout TIMEOUT``), instead of ``<bool>``/``<str>``."""
    for param in command.params:
        if isinstance(param, TyperOption) and param.metavar is None:
            long_name = next((o for o in param.opts if o.startswith("--")), param.opts[0])
            param.metavar = "" if param.is_flag else long_name.lstrip("-").replace("-", "_").upper()
        elif isinstance(param, TyperArgument):
            _plain_argument(param)
    if isinstance(command, TyperGroup):
        for sub in command.commands.values():
            _plain_placeholders(sub)


COMMANDS = (
    "init", "validate", "compile", "render", "plan", "diff", "sync", "reconcile", "rerun", "optimize", "audit",
    "rollback",
)
"""Every command, in the order ``--help`` lists them; each is ``gitops_agent.commands.<name>``
(``compile`` is ``commands.compile``)."""

_registered: set[str] = set()


def _register_commands(argv: list[str]) -> None:
    """Import and register the command ``argv`` names, or every command (for ``--help``, a
    typo, no command): a command's start-up pays only for its own imports."""
    named = next((arg for arg in argv if not arg.startswith("-")), None)
    wanted = [named] if named in COMMANDS else list(COMMANDS)
    for name in wanted:
        if name not in _registered:
            importlib.import_module(f"gitops_agent.commands.{name}").register(app)
            _registered.add(name)
    app.registered_commands.sort(key=lambda info: COMMANDS.index(str(info.name)))


def _write_crash_log() -> Path:
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    fd, name = tempfile.mkstemp(prefix=f"gitops-agent-crash-{stamp}-", suffix=".log")
    with open(fd, "w", encoding="utf-8") as log:
        traceback.print_exc(file=log)
    return Path(name)


def _ignore_unraisable(unraisable: sys.UnraisableHookArgs) -> None:
    return None


def run(argv: list[str] | None = None) -> int:
    """Run the CLI and return its exit code (never raises, never prints a traceback)."""
    try:
        _register_commands(sys.argv[1:] if argv is None else argv)
        command = typer.main.get_command(app)
        _plain_placeholders(command)
        result = command.main(args=argv, prog_name="gitops-agent", standalone_mode=False)
    except typer.Exit as exit_:
        return int(exit_.exit_code)
    except ClickException as error:
        error.show()
        return EXIT_INVALID if isinstance(error, UsageError) else error.exit_code
    except (KeyboardInterrupt, typer.Abort):
        # Objects the interrupt cut short in their constructor may fail in their finalizer
        # (GitPython's config parser does); that is noise, not news, once we stop.
        sys.unraisablehook = _ignore_unraisable
        typer.echo("interrupted", err=True)
        return EXIT_INTERRUPTED
    except GitOpsAgentError as error:
        typer.echo(f"error: {error}", err=True)
        return error.exit_code
    except Exception as error:
        log = _write_crash_log()
        typer.echo(f"internal error: {type(error).__name__}: {error} (traceback in {log})", err=True)
        return EXIT_INTERNAL
    return result if isinstance(result, int) else 0


def _interrupt(signum: int, frame: FrameType | None) -> None:
    # From the moment of the signal: an object it cut short in its constructor may fail in its
    # finalizer whenever it is collected, even before the handler in run() is reached.
    sys.unraisablehook = _ignore_unraisable
    raise KeyboardInterrupt(f"signal {signum}")


def main() -> None:
    """Console-script entry point; SIGTERM interrupts like Ctrl-C (exit 130, nothing half-written)."""
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, _interrupt)
    code = run()
    # The work is done (or cleanly abandoned): a late signal must not turn the exit into a
    # traceback while the interpreter joins worker threads on its way out.
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, signal.SIG_IGN)
    sys.exit(code)
