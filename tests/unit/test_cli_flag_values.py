"""Flag values out of their range are bad input: one line naming the flag, exit 2, before any work."""

from __future__ import annotations

import json
import re
import socket
from pathlib import Path

import pytest

from gitops_agent.adapters.github import GitHubClient
from gitops_agent.cli import run
from gitops_agent.errors import ExternalError, InvalidInputError
from gitops_agent.reconcile.loop import StatusServer
from gitops_agent.reconcile.metrics import Metrics
from gitops_agent.vocabulary import urls
from tests.support.gitrepos import git, make_gitops_repo


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


BAD_URLS = {
    "notaurl": "must be an http:// or https:// URL",
    "ftp://prometheus:9090": "must be an http:// or https:// URL",
    "http://[::1": "must be an http:// or https:// URL (invalid IPv6 URL)",
    "http://prometheus:notaport": (
        "must be an http:// or https:// URL (port could not be cast to integer value as 'notaport')"
    ),
    "http://prometheus:99999": "must be an http:// or https:// URL (port out of range 0-65535)",
    "http://": "must name a host, e.g. http://prometheus.monitoring:9090",
}


@pytest.mark.parametrize("url", sorted(BAD_URLS))
def test_optimize_refuses_a_prometheus_flag_that_is_no_url(
    url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Was exit 3 with "malformed answer to '<query>' (MissingSchema ...)" after the first query."""
    repo = make_gitops_repo(tmp_path / "repo")
    assert run(["optimize", "dev", "--repo", str(repo), "--prometheus", url]) == 2
    assert one_error_line(capsys) == f"error: --prometheus {url}: {BAD_URLS[url]}"


@pytest.mark.parametrize("url", sorted(BAD_URLS))
def test_an_environment_prometheus_url_no_client_can_use_is_a_located_error(
    url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = make_gitops_repo(tmp_path / "repo")
    path = repo / "environments" / "dev.yaml"
    text = path.read_text()
    assert 'prometheus: {url: "http://127.0.0.1:9090"}' in text
    path.write_text(text.replace('prometheus: {url: "http://127.0.0.1:9090"}', f'prometheus: {{url: "{url}"}}'))
    assert run(["validate", "--repo", str(repo)]) == 2
    line = one_error_line(capsys)
    # what the schema's pattern refuses, the schema reports (its x-error); the rest, the semantic check
    expected = BAD_URLS[url] if urls.matches_pattern(url) else "must be an http:// or https:// URL"
    assert re.fullmatch(rf"environments/dev\.yaml:7:\d+: spec\.prometheus\.url: {re.escape(expected)}", line), line


def test_the_schema_admits_what_the_url_pattern_says() -> None:
    schema = json.loads((Path(__file__).parents[2] / "schemas" / "environment.schema.json").read_text())
    assert schema["properties"]["spec"]["properties"]["prometheus"]["properties"]["url"]["pattern"] == urls.PATTERN


def test_plan_refuses_a_github_api_url_that_is_no_url(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Was exit 3, "cannot connect (MissingSchema)", after the whole plan was computed."""
    repo = make_gitops_repo(tmp_path / "repo")
    monkeypatch.setenv("GITHUB_API_URL", "api.github.example")
    assert run(["plan", "--repo", str(repo), "--base", "HEAD", "--head", "HEAD", "--comment", "--pr", "1",
                "--github-repository", "acme/shop"]) == 2
    assert one_error_line(capsys) == (
        "error: --github-api-url api.github.example: must be an http:// or https:// URL"
    )


def test_optimize_pr_refuses_a_github_api_url_variable_that_is_no_url() -> None:
    with pytest.raises(InvalidInputError, match=r"^GITHUB_API_URL http://\[::1: must be an http"):
        GitHubClient.from_environment(
            "git@github.com:acme/shop.git", {"GITHUB_TOKEN": "t", "GITHUB_API_URL": "http://[::1"}
        )


@pytest.mark.parametrize("value", ["30", "0s", "-1", "nan", "1.5s", "soon"])
def test_optimize_timeout_is_a_duration(value: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """docs/cli.md: every --timeout is a duration. Was a float of seconds: 30s refused by the
    parser, and 0, -1 or nan reached the HTTP client and came back as exit 3."""
    repo = make_gitops_repo(tmp_path / "repo")
    assert run(["optimize", "dev", "--repo", str(repo), "--timeout", value,
                "--prometheus", "http://127.0.0.1:9"]) == 2
    assert one_error_line(capsys) == f"error: --timeout {value}: expected a duration such as 30s, 5m or 1h"


def test_optimize_timeout_accepts_a_duration(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    repo = make_gitops_repo(tmp_path / "repo")
    # accepted: the run gets as far as Prometheus, which nothing answers on port 9
    assert run(["optimize", "dev", "--repo", str(repo), "--timeout", "2s", "--prometheus", "http://127.0.0.1:9"]) == 3
    assert one_error_line(capsys) == "error: Prometheus http://127.0.0.1:9: cannot connect (connection refused)"


@pytest.mark.parametrize(
    ("command", "says"),
    [
        ("optimize", ["sweep generations", "retraining", "default: the longest rightsizing.window, else 7d"]),
        ("audit", ["task runs", "drift fixes", "rollbacks"]),
        ("sync", ["with --wait when a task failed"]),
    ],
)
def test_help_says_everything_the_command_does(
    command: str, says: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    """The help of these commands lagged behind sweeps, retraining, task runs and --wait's failures."""
    assert run([command, "--help"]) == 0
    text = " ".join(capsys.readouterr().out.split())
    for phrase in says:
        assert phrase in text


@pytest.mark.parametrize("command", ["diff", "sync"])
def test_a_missing_kubeconfig_says_so(
    command: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Was "cannot load kubeconfig: Invalid kube-config file. No configuration found." for a file
    that does not exist, passed or defaulted (~/.kube/config on a fresh machine)."""
    repo = make_gitops_repo(tmp_path / "repo")
    assert run(["compile", "--repo", str(repo), "--env", "dev", "--commit"]) == 0
    capsys.readouterr()
    missing = tmp_path / "nowhere" / "kubeconfig"
    assert run([command, "dev", "--repo", str(repo), "--kubeconfig", str(missing)]) == 3
    assert one_error_line(capsys).endswith(f"no kubeconfig at {missing}: set KUBECONFIG or pass --kubeconfig")
    monkeypatch.delenv("KUBECONFIG", raising=False)
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert run([command, "dev", "--repo", str(repo)]) == 3
    default = tmp_path / "home" / ".kube" / "config"
    assert one_error_line(capsys).endswith(f"no kubeconfig at {default}: set KUBECONFIG or pass --kubeconfig")


@pytest.mark.parametrize(
    "argv",
    [["compile", "--commit"], ["render", "dev"], ["audit"], ["rollback", "dev", "--to", "HEAD"],
     ["rerun", "dev", "train"], ["plan", "--base", "HEAD", "--head", "HEAD"]],
)
def test_a_folder_that_is_no_git_repository_is_bad_input(
    argv: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The wrong --repo (or the wrong working folder) is the user's input, not a failing git: exit 2."""
    folder = tmp_path / "not-a-repo"
    (folder / "environments").mkdir(parents=True)
    (folder / "environments" / "dev.yaml").write_text(
        "apiVersion: gitops-agent.io/v1alpha1\nkind: Environment\nmetadata: {name: dev}\n"
        "spec: {namespace: ml-dev, branch: env/dev}\n"
    )
    assert run([*argv, "--repo", str(folder)]) == 2
    assert one_error_line(capsys) == f"error: {folder}: not a git repository (--repo names the GitOps repository)"


def test_validate_in_a_folder_without_specs_is_not_valid(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Was "valid", exit 0: a CI step pointed at the wrong folder passed."""
    empty = tmp_path / "empty"
    empty.mkdir()
    assert run(["validate", "--repo", str(empty)]) == 2
    assert one_error_line(capsys) == (
        f"error: {empty}: no specs to validate (workflows/*.yaml, environments/*.yaml); "
        "gitops-agent init creates a repository"
    )
    assert run(["init", str(empty)]) == 0
    capsys.readouterr()
    assert run(["validate", "--repo", str(empty)]) == 0
    assert capsys.readouterr().out.strip() == "valid"


@pytest.mark.parametrize(
    ("argv", "where"),
    [(["--workflow", "imgrec", "train"], "--workflow imgrec"), (["imgrec/train"], "imgrec/train")],
)
def test_rerun_names_an_unknown_workflow(
    argv: list[str], where: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Was "train: no task or Job of that name": the task exists, the workflow name is wrong."""
    repo = make_gitops_repo(tmp_path / "repo")
    assert run(["compile", "--repo", str(repo), "--env", "dev", "--commit"]) == 0
    capsys.readouterr()
    assert run(["rerun", "dev", *argv, "--repo", str(repo)]) == 2
    line = one_error_line(capsys)
    expected = f"error: {where}: no workflow 'imgrec' with tasks in environment 'dev' (workflows with tasks: "
    assert line.startswith(expected), line
    assert "image-recognition" in line


def test_compile_push_without_origin_says_so_before_committing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Was exit 3, "fetch from origin failed: ... 'origin' does not appear to be a git repository"."""
    repo = make_gitops_repo(tmp_path / "repo")
    assert run(["compile", "--repo", str(repo), "--push"]) == 2
    assert one_error_line(capsys) == "error: --push: the repository has no origin remote (git remote add origin URL)"
    assert git(repo, "for-each-ref", "--format=%(refname)", "refs/heads/") == "refs/heads/main"  # nothing committed


def test_audit_with_an_unreachable_origin_points_at_no_fetch(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = make_gitops_repo(tmp_path / "repo")
    git(repo, "remote", "add", "origin", str(tmp_path / "gone.git"))
    assert run(["audit", "--repo", str(repo)]) == 3
    line = one_error_line(capsys)
    assert line.startswith("error: fetch from origin failed") and line.endswith(
        "(audit --no-fetch reads the local refs only)"
    ), line
    assert run(["audit", "--repo", str(repo), "--no-fetch"]) == 0
