"""Validated specs reused across commands: same model, same errors, never a stale verdict."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from gitops_agent.errors import SpecError
from gitops_agent.spec import load_specs
from gitops_agent.spec.cache import KEEP_ENTRIES, cache_root, load_specs_cached
from tests.support.gitrepos import make_gitops_repo
from tests.support.spec_loading import count_parses, private_cache


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    return private_cache(tmp_path, monkeypatch)


def test_a_hit_gives_the_loaders_model_without_parsing(tmp_path: Path, cache: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    repo = make_gitops_repo(tmp_path / "repo")
    expected = load_specs(repo)
    parsed = count_parses(monkeypatch)
    assert load_specs_cached(repo) == expected  # miss: parsed and stored
    assert len(parsed) == 6
    assert len(list((cache / "specs").glob("*.json"))) == 1
    parsed.clear()
    assert load_specs_cached(repo) == expected  # hit: nothing parsed
    assert parsed == []


def test_a_changed_file_is_read_again(tmp_path: Path, cache: Path) -> None:
    repo = make_gitops_repo(tmp_path / "repo")
    load_specs_cached(repo)
    path = repo / "environments" / "dev.yaml"
    path.write_text(path.read_text().replace("namespace: ml-dev", "namespace: ml-dev2"))
    assert load_specs_cached(repo).environments["dev"].namespace == "ml-dev2"
    (repo / "workflows" / "fraud-risk-scoring.yaml").unlink()  # a removed file changes the key too
    assert "fraud-risk-scoring" not in load_specs_cached(repo).workflows


def test_invalid_specs_raise_the_loaders_errors_every_time_and_are_never_stored(tmp_path: Path, cache: Path) -> None:
    repo = make_gitops_repo(tmp_path / "repo")
    path = repo / "workflows" / "fraud-risk-scoring.yaml"
    path.write_text(path.read_text().replace("dependsOn: [score]", "dependsOn: [scor]"))
    with pytest.raises(SpecError) as expected:
        load_specs(repo)
    for _ in range(2):
        with pytest.raises(SpecError) as raised:
            load_specs_cached(repo)
        assert raised.value.diagnostics == expected.value.diagnostics
    assert not list(cache.glob("specs/*.json"))


def test_a_removed_environment_resource_is_reported_on_a_hit(tmp_path: Path, cache: Path) -> None:
    """The one input outside the spec files is checked again, as the loader checks it."""
    repo = make_gitops_repo(tmp_path / "repo")
    load_specs_cached(repo)
    shutil.rmtree(repo / "manifests" / "common")
    with pytest.raises(SpecError) as raised:
        load_specs_cached(repo)
    assert any("'manifests/common' does not exist" in d.message for d in raised.value.diagnostics)


def test_a_corrupt_or_unwritable_cache_is_a_miss(tmp_path: Path, cache: Path) -> None:
    repo = make_gitops_repo(tmp_path / "repo")
    expected = load_specs_cached(repo)
    for entry in (cache / "specs").glob("*.json"):
        entry.write_text('{"documents": [{"kind": "workflow"')
    assert load_specs_cached(repo) == expected
    shutil.rmtree(cache)
    cache.write_text("a file where the cache directory should be")
    assert load_specs_cached(repo) == expected


def test_the_cache_keeps_a_bounded_number_of_entries(tmp_path: Path, cache: Path) -> None:
    repo = make_gitops_repo(tmp_path / "repo")
    path = repo / "environments" / "dev.yaml"
    original = path.read_text()
    for index in range(KEEP_ENTRIES + 3):
        path.write_text(original.replace("namespace: ml-dev", f"namespace: ml-dev-{index}"))
        load_specs_cached(repo)
    assert len(list((cache / "specs").glob("*.json"))) == KEEP_ENTRIES


def test_cache_root_follows_the_xdg_user_cache(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("GITOPS_AGENT_CACHE", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert cache_root() == tmp_path / "gitops-agent"
