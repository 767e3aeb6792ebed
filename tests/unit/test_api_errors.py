"""HTTP statuses become error types in one place; every type keeps exit code 3."""

from __future__ import annotations

import pytest

from gitops_agent.errors import (
    EXIT_EXTERNAL,
    ClusterError,
    ConflictError,
    ExpiredError,
    ForbiddenError,
    InvalidError,
    NotFoundError,
    NotSentError,
    ObjectError,
    ThrottledError,
    UnreachableError,
    api_error,
)


@pytest.mark.parametrize(
    ("status", "kind"),
    [(401, ForbiddenError), (403, ForbiddenError), (404, NotFoundError), (409, ConflictError),
     (410, ExpiredError), (422, InvalidError), (429, ThrottledError), (400, ObjectError), (500, ObjectError),
     (504, ObjectError)],
)
def test_each_status_has_one_type(status: int, kind: type[ObjectError]) -> None:
    error = api_error("ConfigMap/ns/c", status, "refused")
    assert type(error) is kind and error.status == status and error.exit_code == EXIT_EXTERNAL
    assert str(error) == f"ConfigMap/ns/c: HTTP {status}: refused"


def test_no_answer_and_nothing_sent_are_cluster_errors_but_not_object_errors() -> None:
    for error in (UnreachableError("cluster unreachable at https://x"), NotSentError("ConfigMap/ns/c", "not sent")):
        assert isinstance(error, ClusterError) and not isinstance(error, ObjectError)
        assert error.exit_code == EXIT_EXTERNAL
    assert str(NotSentError("ConfigMap/ns/c", "not sent: x is nan")) == "ConfigMap/ns/c: not sent: x is nan"
