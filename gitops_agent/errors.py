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


class UnreachableError(ClusterError):
    """No answer from the API server: connection refused or reset, TLS failure, timeout."""


class NotSentError(ClusterError):
    """A request about one object was never sent: its body has no JSON form (e.g. a NaN).

    Not an :class:`ObjectError`: nothing was asked, so the whole run stops rather than
    recording a refusal of that one object."""

    def __init__(self, ref: object, message: str) -> None:
        self.ref = str(ref)
        self.detail = message
        super().__init__(f"{self.ref}: {message}")


class ObjectError(ClusterError):
    """The API server refused or failed one request about one object; ``status`` is the HTTP
    status of its answer. Statuses with a meaning of their own raise a subclass
    (:func:`api_error`); each keeps exit code 3."""

    def __init__(self, ref: object, status: int, message: str) -> None:
        self.ref = str(ref)
        self.status = status
        self.detail = message
        super().__init__(f"{self.ref}: HTTP {status}: {message}")


class NotFoundError(ObjectError):
    """404: no such object, or no such resource type served (``NotFound``)."""


class ConflictError(ObjectError):
    """409: already exists, a stale ``resourceVersion``, or fields another field manager owns
    (``AlreadyExists`` / ``Conflict``)."""


class ExpiredError(ObjectError):
    """410: a watch or list ``resourceVersion`` too old to resume from (``Expired``/``Gone``)."""


class InvalidError(ObjectError):
    """422: the object fails validation, or changes an immutable field (``Invalid``)."""


class ForbiddenError(ObjectError):
    """401 or 403: the credentials are not accepted, or may not do this (``Unauthorized`` /
    ``Forbidden``)."""


class ThrottledError(ObjectError):
    """429: the server's flow control still said "later" after the retries (``TooManyRequests``)."""


_API_ERRORS: dict[int, type[ObjectError]] = {
    401: ForbiddenError,
    403: ForbiddenError,
    404: NotFoundError,
    409: ConflictError,
    410: ExpiredError,
    422: InvalidError,
    429: ThrottledError,
}


def api_error(ref: object, status: int, message: str) -> ObjectError:
    """The error for an API server answer with HTTP ``status`` (>= 300) — the one place a
    status becomes a type (the ``StatusReason`` codes of k8s.io/apimachinery ``metav1``, as
    kopf's ``_cogs/clients/errors.py`` maps them)."""
    return _API_ERRORS.get(status, ObjectError)(ref, status, message)


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
