"""GitHub client configuration: repository names from remotes and the environment."""

from __future__ import annotations

import pytest

from gitops_agent.adapters.github import DEFAULT_API_URL, GitHubClient, Repository, parse_repository
from gitops_agent.errors import InvalidInputError


@pytest.mark.parametrize(
    "text",
    [
        "acme/shop",
        "https://github.com/acme/shop.git",
        "https://github.com/acme/shop",
        "git@github.com:acme/shop.git",
        "ssh://git@github.com/acme/shop.git",
        "https://ghe.example.com/acme/shop/",
    ],
)
def test_repository_from_remote_urls(text: str) -> None:
    assert parse_repository(text) == Repository("acme", "shop")


def test_unparseable_remote_is_invalid_input() -> None:
    with pytest.raises(InvalidInputError):
        parse_repository("/srv/git/shop.git")


def test_configuration_from_the_environment() -> None:
    client = GitHubClient.from_environment("git@github.com:acme/shop.git", {"GITHUB_TOKEN": "t"})
    assert (client.repository, client.api_url) == (Repository("acme", "shop"), DEFAULT_API_URL)
    client = GitHubClient.from_environment(
        None,
        {"GITHUB_TOKEN": "t", "GITHUB_REPOSITORY": "o/r", "GITHUB_API_URL": "http://x:1/api/"},
    )
    assert (str(client.repository), client.api_url) == ("o/r", "http://x:1/api")
    with pytest.raises(InvalidInputError, match="GITHUB_TOKEN"):
        GitHubClient.from_environment("git@github.com:acme/shop.git", {})
    with pytest.raises(InvalidInputError, match="GITHUB_REPOSITORY"):
        GitHubClient.from_environment(None, {"GITHUB_TOKEN": "t"})
