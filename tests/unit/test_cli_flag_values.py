"""Flag values out of their range are bad input: one line naming the flag, exit 2, before any work."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from gitops_agent.cli import run
from gitops_agent.errors import ExternalError
from gitops_agent.reconcile.loop import StatusServer
from gitops_agent.reconcile.metrics import Metrics
from tests.support.gitrepos import make_gitops_repo


def one_error_line(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    return err[0]


@pytest.mark.parametrize("port", ["65536", "99999", "-2"])
def test_reconcile_refuses_a_port_out_of_range(
    port: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = make_gitops_repo(tmp_path / "repo")
    # no cluster is configured: the flag is checked before anything is connected
    assert run(["reconcile", "dev", "--repo", str(repo), "--kubeconfig", str(tmp_path / "none"),
                "--metrics-port", port]) == 2
    assert one_error_line(capsys) == (
        f"error: --metrics-port {port}: expected a port 1-65535, 0 (any free port) or -1 (none)"
    )


def test_status_server_on_a_taken_port_is_an_external_error() -> None:
    with socket.socket() as taken:
        taken.bind(("", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(ExternalError, match=rf"^cannot listen on port {port}: address already in use$"):
            StatusServer(Metrics(), lambda: True, port)
