"""The render cache: one kustomize build per environment commit, byte-identical when served
from the cache, rebuilt when the tree changes or an entry is corrupt (real git, real kustomize)."""

from __future__ import annotations

import json
import os
import re
import shutil
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from gitops_agent.adapters import git as gitops_git
from gitops_agent.adapters import kustomize
from gitops_agent.cli import run
from gitops_agent.render import overlay as render_module
from gitops_agent.render.cache import MAX_ENTRIES, RenderCache, files_digest
from gitops_agent.render.overlay import cache_directory, cache_for, render_files, render_ref
from gitops_agent.spec import load_specs
from tests.support.gitrepos import git, make_gitops_repo


@pytest.fixture(scope="module")
def compiled(tmp_path_factory: pytest.TempPathFactory) -> Path:
    repo = make_gitops_repo(tmp_path_factory.mktemp("cache") / "repo")
    assert run(["compile", "--repo", str(repo), "--env", "dev", "--commit"]) == 0
    return repo


def _entries(repo: Path) -> list[Path]:
    directory = cache_directory(gitops_git.common_dir(gitops_git.open_repo(repo)))
    return sorted(directory.glob("*.json")) if directory.exists() else []


def _clear(repo: Path) -> None:
    for entry in _entries(repo):
        entry.unlink()


def _counting_builds(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Count renders that are not served from the cache of whole renders (each runs kustomize
    for the slices it does not find in the slice cache, tests/unit/test_render_slices.py)."""
    builds: list[str] = []
    real: Callable[..., Any] = render_module.render_sliced

    def counted(files: Any, env_name: str, cache: Any) -> Any:
        builds.append(env_name)
        return real(files, env_name, cache)

    monkeypatch.setattr(render_module, "render_sliced", counted)
    return builds


def _render_json(repo: Path, capsys: pytest.CaptureFixture[str]) -> str:
    capsys.readouterr()
    assert run(["render", "dev", "--repo", str(repo), "-o", "json"]) == 0
    return capsys.readouterr().out


def test_a_cache_hit_prints_byte_identical_json_without_running_kustomize(
    compiled: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    _clear(compiled)
    builds = _counting_builds(monkeypatch)
    cold = _render_json(compiled, capsys)
    assert builds == ["dev"] and len(_entries(compiled)) == 1
    warm = _render_json(compiled, capsys)
    assert builds == ["dev"]  # served from the cache
    assert warm == cold
    capsys.readouterr()
    assert run(["render", "dev", "--repo", str(compiled)]) == 0
    assert builds == ["dev"]
    assert "kind: Deployment" in capsys.readouterr().out
    entry = _entries(compiled)[0]
    assert stat.S_IMODE(entry.stat().st_mode) == 0o600
    assert not list(entry.parent.glob(".tmp-*"))


def test_diff_sync_and_the_loop_share_one_render_per_commit(compiled: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _clear(compiled)
    builds = _counting_builds(monkeypatch)
    env = load_specs(compiled).environments["dev"]
    first = render_ref(compiled, env, None)
    again = render_ref(compiled, env, first.revision)
    assert builds == ["dev"]
    assert again.objects == first.objects and again.revision == first.revision


def test_a_new_commit_of_the_environment_branch_misses(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = make_gitops_repo(tmp_path / "repo")
    assert run(["compile", "--repo", str(repo), "--env", "dev", "--commit"]) == 0
    builds = _counting_builds(monkeypatch)
    before = _render_json(repo, capsys)
    workflow = repo / "workflows" / "image-recognition.yaml"
    workflow.write_text(workflow.read_text().replace("imgrec:1.4.0", "imgrec:1.4.1"))
    git(repo, "commit", "-q", "-am", "imgrec 1.4.1")
    assert run(["compile", "--repo", str(repo), "--env", "dev", "--commit"]) == 0
    after = _render_json(repo, capsys)
    assert builds == ["dev", "dev"]
    assert "imgrec:1.4.1" in after and "imgrec:1.4.1" not in before
    assert len(_entries(repo)) == 2
    # the older commit is still served from the cache
    old_revision = git(repo, "rev-parse", "env/dev~1")
    capsys.readouterr()
    assert run(["render", "dev", "--repo", str(repo), "--ref", old_revision, "-o", "json"]) == 0
    assert builds == ["dev", "dev"]
    assert json.loads(capsys.readouterr().out)["objects"] == json.loads(before)["objects"]


@pytest.mark.parametrize("garbage", [b"", b"{not json", b'{"a": 1}', b"[1, 2]", b"\xff\xfe"])
def test_a_corrupt_entry_is_ignored_and_rebuilt(
    compiled: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, garbage: bytes
) -> None:
    _clear(compiled)
    cold = _render_json(compiled, capsys)
    (entry,) = _entries(compiled)
    good = entry.read_bytes()
    entry.write_bytes(garbage)
    builds = _counting_builds(monkeypatch)
    assert _render_json(compiled, capsys) == cold
    assert builds == ["dev"]
    assert entry.read_bytes() == good


def test_an_unwritable_cache_only_means_no_cache(
    compiled: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    _clear(compiled)
    blocked = cache_directory(gitops_git.common_dir(gitops_git.open_repo(compiled)))
    shutil.rmtree(blocked, ignore_errors=True)
    blocked.parent.mkdir(parents=True, exist_ok=True)
    blocked.write_text("a file where the cache directory should be")
    try:
        builds = _counting_builds(monkeypatch)
        first = _render_json(compiled, capsys)
        second = _render_json(compiled, capsys)
        assert first == second and builds == ["dev", "dev"]
    finally:
        blocked.unlink()


def test_in_memory_trees_are_cached_by_content(compiled: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _clear(compiled)
    cache = cache_for(compiled)
    assert cache is not None
    handle = gitops_git.open_repo(compiled)
    files = gitops_git.list_files(handle, "env/dev")
    builds = _counting_builds(monkeypatch)
    first = render_files(files, "dev", cache)
    second = render_files(dict(files), "dev", cache)
    assert builds == ["dev"] and first == second
    changed = {**files, "overlays/dev/extra-note.txt": b"not listed anywhere"}
    assert files_digest(changed) != files_digest(files)
    render_files(changed, "dev", cache)
    assert builds == ["dev", "dev"]


def test_every_input_of_a_render_is_part_of_the_key() -> None:
    base = {"environment": "dev", "tree": "tree:abc", "kustomize": "v1.37.1/kustomize-v5.8.1", "reader": "r/1"}
    keys = {RenderCache.key(**base)}
    for field, other in (
        ("environment", "prod"),
        ("tree", "tree:abd"),
        ("kustomize", "v1.37.2/kustomize-v5.8.1"),
        ("reader", "r/2"),
    ):
        keys.add(RenderCache.key(**{**base, field: other}))
    assert len(keys) == 5


def test_the_newest_entries_are_kept(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cache = RenderCache(tmp_path / "cache")
    for index in range(MAX_ENTRIES + 5):
        cache.store(f"k{index}", [{"kind": "ConfigMap", "index": index}])
        os.utime(cache.directory / f"k{index}.json", ns=(index * 10**9, index * 10**9))
    names = {path.stem for path in cache.directory.glob("*.json")}
    assert len(names) == MAX_ENTRIES
    assert f"k{MAX_ENTRIES + 4}" in names and "k0" not in names
    assert cache.load(f"k{MAX_ENTRIES + 4}") == [{"kind": "ConfigMap", "index": MAX_ENTRIES + 4}]


def test_the_kustomize_build_is_asked_once_per_binary(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cache = RenderCache(tmp_path / "cache")
    version = render_module.kustomize_build(kustomize.kubectl_path(), cache)
    assert re.fullmatch(r"v1\.\d+\.\d+[^/]*/kustomize-v\d+\.\d+\.\d+", version), version

    def no_process(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("kubectl asked again for its version")

    monkeypatch.setattr(kustomize, "client_version", no_process)
    assert render_module.kustomize_build(kustomize.kubectl_path(), cache) == version
    other = tmp_path / "kubectl"
    other.write_text('#!/bin/sh\necho \'{"clientVersion": {"gitVersion": "v9.9.9"}, "kustomizeVersion": "v9"}\'\n')
    other.chmod(0o755)
    monkeypatch.undo()
    assert render_module.kustomize_build(str(other), cache) == "v9.9.9/kustomize-v9"


def test_slice_entries_still_read_outlive_newer_unread_ones(tmp_path: Path) -> None:
    cache = RenderCache(tmp_path / "slices", max_entries=3)
    cache.store_many({f"s{index}": [{"kind": "ConfigMap", "index": index}] for index in range(3)})
    for index in range(3):
        os.utime(cache.directory / f"s{index}.json", ns=(index * 10**9, index * 10**9))
    cache.touch(["s0"])  # read by the latest render
    cache.store_many({"s3": [{"kind": "ConfigMap", "index": 3}]})
    names = {path.stem for path in cache.directory.glob("*.json")}
    assert names == {"s0", "s2", "s3"}
