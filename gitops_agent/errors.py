"""One exception family; each class maps to one exit code of the command line."""

from __future__ import annotations

from dataclasses import dataclass

EXIT_OK = 0
EXIT_DIFFERENCES = 1
EXIT_INVALID = 2
EXIT_EXTERNAL = 3
EXIT_INTERRUPTED = 130


class GitOpsAgentError(Exception):
    """Base of every error the agent expects; ``exit_code`` is what the CLI returns."""

    exit_code: int = EXIT_EXTERNAL


@dataclass(frozen=True)
class Diagnostic:
    """One located problem in a user's file: ``file:line:col: field: message``.

    ``line`` and ``col`` are 1-based; 0 means unknown.
    """

    file: str
    line: int
    col: int
    field: str
    message: str

    def __str__(self) -> str:
        field = self.field or "<root>"
        return f"{self.file}:{self.line}:{self.col}: {field}: {self.message}"


class InvalidInputError(GitOpsAgentError):
    """Bad flags or a bad spec/environment: exit 2."""

    exit_code = EXIT_INVALID


class SpecError(InvalidInputError):
    """One or more located problems in workflow or environment files."""

    def __init__(self, diagnostics: list[Diagnostic] | tuple[Diagnostic, ...]) -> None:
        self.diagnostics: tuple[Diagnostic, ...] = tuple(
            sorted(diagnostics, key=lambda d: (d.file, d.line, d.col, d.field, d.message))
        )
        super().__init__("\n".join(str(d) for d in self.diagnostics))


class ExternalError(GitOpsAgentError):
    """An external system failed or refused (cluster, git remote, Prometheus, GitHub): exit 3."""

    exit_code = EXIT_EXTERNAL


class ClusterError(ExternalError):
    """The Kubernetes API server failed, refused or could not be reached."""


class GitError(ExternalError):
    """A git operation or the git remote failed."""


class PrometheusError(ExternalError):
    """Prometheus failed, timed out or answered something unusable."""


class PrometheusQueryError(PrometheusError):
    """Prometheus refused a query as malformed (HTTP 400, ``errorType: bad_data``): a fault
    of the query, which the caller may trace to the spec field it came from. ``reason`` is
    Prometheus' own message (e.g. its parse error)."""

    def __init__(self, message: str, reason: str = "") -> None:
        super().__init__(message)
        self.reason = reason or message


class GitHubError(ExternalError):
    """The GitHub API refused or failed."""


class KustomizeError(ExternalError):
    """`kubectl kustomize` failed to build an overlay."""
