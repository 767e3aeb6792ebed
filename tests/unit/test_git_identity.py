"""One author/committer identity rule for every commit and note gitops-agent writes."""

from __future__ import annotations

import subprocess
from pathlib import Path

import git
import pytest

from gitops_agent.adapters.git import identity_env


def _repo(path: Path, **config: str) -> git.Repo:
    subprocess.run(["git", "init", "-q", str(path)], check=True)
    for key, value in config.items():
        subprocess.run(["git", "-C", str(path), "config", f"user.{key}", value], check=True)
    return git.Repo(path)


@pytest.fixture(autouse=True)
def _no_identity_from_outside(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for variable in ("GIT_AUTHOR_NAME", "GIT_AUTHOR_EMAIL", "GIT_COMMITTER_NAME", "GIT_COMMITTER_EMAIL"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(tmp_path / "no-global-config"))


def test_a_repository_without_identity_commits_as_gitops_agent(tmp_path: Path) -> None:
    env = identity_env(_repo(tmp_path / "r"))
    assert env == {
        "GIT_AUTHOR_NAME": "gitops-agent",
        "GIT_AUTHOR_EMAIL": "gitops-agent@localhost",
        "GIT_COMMITTER_NAME": "gitops-agent",
        "GIT_COMMITTER_EMAIL": "gitops-agent@localhost",
    }


def test_what_the_repository_configures_is_kept_key_by_key(tmp_path: Path) -> None:
    """A configured name with no email once lost the name in proposals, rollbacks and notes."""
    env = identity_env(_repo(tmp_path / "r", name="Dana"))
    assert env["GIT_AUTHOR_NAME"] == env["GIT_COMMITTER_NAME"] == "Dana"
    assert env["GIT_AUTHOR_EMAIL"] == env["GIT_COMMITTER_EMAIL"] == "gitops-agent@localhost"


def test_the_environment_wins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GIT_AUTHOR_NAME", "ci-bot")
    env = identity_env(_repo(tmp_path / "r", name="Dana", email="dana@example.com"))
    assert "GIT_AUTHOR_NAME" not in env  # git reads it from the environment itself
    assert env["GIT_COMMITTER_NAME"] == "Dana" and env["GIT_AUTHOR_EMAIL"] == "dana@example.com"
