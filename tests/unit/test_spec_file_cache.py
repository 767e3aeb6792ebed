"""Per-file results reused by content: in the process and on disk; never a stale verdict.

Each test counts the files the loader parses (``load_yaml`` recorded) and compares with a
load that reuses nothing. Cross-file checks (names, references, overrides) must see every
change even when each remaining file is a hit.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

import gitops_agent.spec.cache as cache_module
import gitops_agent.spec.loader as loader
from gitops_agent.errors import SpecError
from gitops_agent.spec.cache import load_specs_cached
from gitops_agent.spec.loader import load_specs
from tests.support.gitrepos import make_gitops_repo
from tests.support.spec_loading import count_parses, private_cache

WORKFLOW_FILES = 3
SPEC_FILES = 6  # 3 workflows, 3 environments


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    return private_cache(tmp_path, monkeypatch)


@pytest.fixture
def parsed(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every spec file the loader parses from now on (the process's memo emptied first)."""
    return count_parses(monkeypatch)


def fresh(repo: Path) -> object:
    """What a loader that remembers nothing gives: the model, or the diagnostics."""
    loader.clear_memo()
    try:
        return load_specs(repo)
    except SpecError as err:
        return list(err.diagnostics)
    finally:
        loader.clear_memo()


def outcome(load: object) -> object:
    try:
        return load() if callable(load) else load
    except SpecError as err:
        return list(err.diagnostics)


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new))


def test_a_second_tree_in_the_process_parses_only_the_file_that_differs(tmp_path: Path, parsed: list[str]) -> None:
    base = make_gitops_repo(tmp_path / "base")
    head = tmp_path / "head"
    shutil.copytree(base, head)
    edit(head / "environments" / "dev.yaml", "namespace: ml-dev", "namespace: ml-dev2")
    load_specs(base)
    assert len(parsed) == SPEC_FILES
    parsed.clear()
    specs = load_specs(head)
    assert parsed == ["environments/dev.yaml"]
    assert specs.environments["dev"].namespace == "ml-dev2"
    assert specs == fresh(head)


def test_a_changed_file_is_checked_again_and_its_new_problem_reported(tmp_path: Path, parsed: list[str]) -> None:
    repo = make_gitops_repo(tmp_path / "repo")
    load_specs(repo)
    edit(repo / "workflows" / "fraud-risk-scoring.yaml", "dependsOn: [score]", "dependsOn: [scor]")
    parsed.clear()
    with pytest.raises(SpecError) as raised:
        load_specs(repo)
    assert parsed == ["workflows/fraud-risk-scoring.yaml"]
    assert list(raised.value.diagnostics) == fresh(repo)
    assert any("scor" in d.message for d in raised.value.diagnostics)


def test_an_environment_naming_a_workflow_that_disappeared_is_an_error_though_every_file_is_a_hit(
    tmp_path: Path, parsed: list[str], cache: Path
) -> None:
    repo = make_gitops_repo(tmp_path / "repo")
    load_specs_cached(repo)
    (repo / "workflows" / "image-recognition.yaml").unlink()
    parsed.clear()
    expected = fresh(repo)
    assert isinstance(expected, list)
    assert any(d.message == "unknown workflow 'image-recognition'" for d in expected)
    parsed.clear()
    for load in (lambda: load_specs_cached(repo), lambda: load_specs(repo)):  # from disk, then from memory
        assert outcome(load) == expected
    assert parsed == []  # every remaining file was a hit: the cross-file check still ran


def test_a_removed_file_takes_its_workflow_away(tmp_path: Path, parsed: list[str], cache: Path) -> None:
    repo = make_gitops_repo(tmp_path / "repo")
    load_specs_cached(repo)
    (repo / "workflows" / "fraud-risk-scoring.yaml").unlink()
    loader.clear_memo()
    assert "fraud-risk-scoring" not in load_specs_cached(repo).workflows
    assert "fraud-risk-scoring" not in load_specs(repo).workflows


def test_a_new_file_that_duplicates_a_name_is_reported_in_both_files(tmp_path: Path, parsed: list[str]) -> None:
    repo = make_gitops_repo(tmp_path / "repo")
    load_specs(repo)
    shutil.copy(repo / "workflows" / "fraud-risk-scoring.yaml", repo / "workflows" / "copy.yaml")
    parsed.clear()
    diagnostics = outcome(lambda: load_specs(repo))
    assert parsed == ["workflows/copy.yaml"]
    assert diagnostics == fresh(repo)
    assert isinstance(diagnostics, list)
    assert {d.file for d in diagnostics if "also defined" in d.message} == {
        "workflows/copy.yaml",
        "workflows/fraud-risk-scoring.yaml",
    }


def test_a_moved_file_is_named_by_its_new_path(tmp_path: Path, parsed: list[str]) -> None:
    repo = make_gitops_repo(tmp_path / "repo")
    path = repo / "workflows" / "fraud-risk-scoring.yaml"
    edit(path, "dependsOn: [score]", "dependsOn: [scor]")
    first = outcome(lambda: load_specs(repo))
    path.rename(repo / "workflows" / "moved.yaml")
    second = outcome(lambda: load_specs(repo))
    assert isinstance(first, list) and isinstance(second, list)
    assert {d.file for d in first} == {"workflows/fraud-risk-scoring.yaml"}
    assert {d.file for d in second} == {"workflows/moved.yaml"}


def test_one_changed_workflow_is_the_only_file_parsed_by_a_new_process(
    tmp_path: Path, parsed: list[str], cache: Path
) -> None:
    repo = make_gitops_repo(tmp_path / "repo")
    load_specs_cached(repo)
    assert len(list((cache / "spec-files").glob("*.json"))) == SPEC_FILES
    edit(repo / "workflows" / "fraud-risk-scoring.yaml", "dependsOn: [score]", "dependsOn: [score] ")
    loader.clear_memo()  # a new process: nothing in memory, the disk cache filled
    parsed.clear()
    loaded = load_specs_cached(repo)
    assert parsed == ["workflows/fraud-risk-scoring.yaml"]
    assert loaded == fresh(repo)


def test_invalid_files_are_never_stored_and_give_the_same_diagnostics_every_time(
    tmp_path: Path, parsed: list[str], cache: Path
) -> None:
    """A refused file may hold what the checks refused (a secret value): it stays off the disk."""
    repo = make_gitops_repo(tmp_path / "repo")
    path = repo / "workflows" / "fraud-risk-scoring.yaml"
    edit(path, "dependsOn: [score]", "dependsOn: [scor]")
    edit(repo / "environments" / "dev.yaml", "namespace: ml-dev", "namespace: ML_dev")
    expected = fresh(repo)
    assert isinstance(expected, list) and len(expected) >= 2
    assert outcome(lambda: load_specs_cached(repo)) == expected
    assert len(list((cache / "spec-files").glob("*.json"))) == SPEC_FILES - 2
    loader.clear_memo()
    parsed.clear()
    assert outcome(lambda: load_specs_cached(repo)) == expected
    assert sorted(parsed) == ["environments/dev.yaml", "workflows/fraud-risk-scoring.yaml"]
    assert not any(b"scor]" in entry.read_bytes() for entry in (cache / "spec-files").glob("*.json"))


def test_a_changed_code_fingerprint_misses_every_file(
    tmp_path: Path, parsed: list[str], cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = make_gitops_repo(tmp_path / "repo")
    load_specs_cached(repo)
    edit(repo / "environments" / "dev.yaml", "namespace: ml-dev", "namespace: ml-dev2")  # whole-set entry misses
    real = cache_module._code_fingerprint()
    monkeypatch.setattr(cache_module, "_code_fingerprint", lambda: real + b"a changed rule")
    loader.clear_memo()
    parsed.clear()
    load_specs_cached(repo)
    assert len(parsed) == SPEC_FILES


@pytest.mark.parametrize(
    "relative",
    ["gitops_agent/vocabulary/durations.py", "gitops_agent/errors.py", "gitops_agent/spec/semantic_check.py"],
)
def test_the_code_fingerprint_covers_the_code_the_checks_run(
    relative: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The fingerprint reads the files of the checks and what they import for a verdict."""
    read: list[str] = []
    real = Path.read_bytes

    def recording(path: Path) -> bytes:
        read.append(path.as_posix())
        return real(path)

    monkeypatch.setattr(Path, "read_bytes", recording)
    cache_module._code_fingerprint()
    assert any(p.endswith(relative) for p in read)


def test_a_corrupt_file_entry_is_a_miss(tmp_path: Path, parsed: list[str], cache: Path) -> None:
    repo = make_gitops_repo(tmp_path / "repo")
    expected = load_specs_cached(repo)
    edit(repo / "environments" / "dev.yaml", "namespace: ml-dev", "namespace: ml-dev2")  # whole-set entry misses
    expected = fresh(repo)
    for number, entry in enumerate(sorted((cache / "spec-files").glob("*.json"))):
        body = ['{"file": "workflows/', '{"file": 1, "sha256": 2, "documents": [], "problems": []}', "[]", ""]
        entry.write_text(body[number % len(body)])
    loader.clear_memo()
    parsed.clear()
    assert load_specs_cached(repo) == expected
    assert len(parsed) == SPEC_FILES


def test_an_entry_of_another_file_is_never_taken(tmp_path: Path, parsed: list[str], cache: Path) -> None:
    """An entry whose recorded path or digest is not the file's (copied over) is a miss."""
    repo = make_gitops_repo(tmp_path / "repo")
    load_specs_cached(repo)
    entries = sorted((cache / "spec-files").glob("*.json"))
    kept = next(e for e in entries if '"file":"workflows/' in e.read_text())  # a file left as it is
    text = kept.read_text()
    for entry in entries:
        entry.write_text(text)
    edit(repo / "environments" / "dev.yaml", "namespace: ml-dev", "namespace: ml-dev2")
    loader.clear_memo()
    parsed.clear()
    loaded = load_specs_cached(repo)
    assert len(parsed) == SPEC_FILES - 1  # only the entry of the file it was written for is taken
    assert loaded == fresh(repo)


def test_the_file_cache_keeps_a_bounded_number_of_entries(
    tmp_path: Path, cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cache_module, "KEEP_FILE_ENTRIES", 8)
    repo = make_gitops_repo(tmp_path / "repo")
    path = repo / "environments" / "dev.yaml"
    for index in range(4):
        edit(path, "namespace: ml-dev", f"namespace: ml-dev-{index}\n  # ml-dev")
        load_specs_cached(repo)
    assert len(list((cache / "spec-files").glob("*.json"))) == 8


def test_callers_get_their_own_copy_of_the_remembered_data(tmp_path: Path, parsed: list[str]) -> None:
    repo = make_gitops_repo(tmp_path / "repo")
    (first, *_) = loader.validated_documents(repo)
    first.data["spec"]["changed"] = True
    first.data["metadata"]["name"] = "another"
    (again, *_) = loader.validated_documents(repo)
    assert "changed" not in again.data["spec"] and again.data["metadata"]["name"] != "another"
    assert len(parsed) == SPEC_FILES  # the second load was a hit


def test_the_memo_is_bounded(tmp_path: Path, parsed: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(loader, "MEMO_FILES", 2)
    repo = make_gitops_repo(tmp_path / "repo")
    load_specs(repo)
    assert len(loader._memo) == 2
    parsed.clear()
    load_specs(repo)
    assert len(parsed) == SPEC_FILES  # least recently used first: a cyclic scan misses each time


def test_files_checked_in_memory_first_are_kept_on_disk_too(
    tmp_path: Path, parsed: list[str], cache: Path
) -> None:
    """A command that loads without the disk cache, then one with it, in the same process."""
    repo = make_gitops_repo(tmp_path / "repo")
    load_specs(repo)
    load_specs_cached(repo)
    assert len(list((cache / "spec-files").glob("*.json"))) == SPEC_FILES
    edit(repo / "environments" / "prod.yaml", "labels: {env: prod}", "labels: {env: production}")
    loader.clear_memo()
    parsed.clear()
    assert load_specs_cached(repo).environments["prod"].labels["env"] == "production"
    assert parsed == ["environments/prod.yaml"]


def test_a_stored_document_of_no_known_kind_is_a_miss(tmp_path: Path, parsed: list[str], cache: Path) -> None:
    repo = make_gitops_repo(tmp_path / "repo")
    expected = load_specs_cached(repo)
    for entry in (cache / "spec-files").glob("*.json"):
        entry.write_text(entry.read_text().replace('"kind":"workflow"', '"kind":"bogus"'))
    edit(repo / "environments" / "dev.yaml", "namespace: ml-dev", "namespace: ml-dev")  # same bytes
    shutil.rmtree(cache / "specs")  # the whole-set entry gone: per-file entries are read
    loader.clear_memo()
    parsed.clear()
    assert load_specs_cached(repo) == expected
    assert sorted(parsed) == sorted(f"workflows/{p.name}" for p in (repo / "workflows").glob("*.yaml"))
