"""Golden files: the compiled tree of every example environment, byte for byte.

Regenerate after an intended change with ``GITOPS_AGENT_UPDATE_GOLDEN=1 ./scripts/test
tests/unit/test_compile_golden.py`` and review the diff like any other code change.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from gitops_agent.compile import compile_environment
from gitops_agent.spec import load_specs
from tests.support.gitrepos import make_gitops_repo

GOLDEN = Path(__file__).resolve().parent / "golden"
SOURCE_COMMIT = "0123456789abcdef0123456789abcdef01234567"


@pytest.fixture(scope="module")
def trees(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, bytes]]:
    repo = make_gitops_repo(tmp_path_factory.mktemp("golden") / "repo")
    specs = load_specs(repo)
    return {
        name: dict(compile_environment(specs, env, source_commit=SOURCE_COMMIT, repo_root=repo))
        for name, env in specs.environments.items()
    }


def _read(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("env", ["dev", "staging", "prod"])
def test_compiled_tree_matches_golden_files(trees: dict[str, dict[str, bytes]], env: str) -> None:
    root = GOLDEN / env
    if os.environ.get("GITOPS_AGENT_UPDATE_GOLDEN") == "1":
        shutil.rmtree(root, ignore_errors=True)
        for path, content in trees[env].items():
            (root / path).parent.mkdir(parents=True, exist_ok=True)
            (root / path).write_bytes(content)
    expected = _read(root)
    actual = trees[env]
    assert sorted(actual) == sorted(expected), "file list differs from the golden tree"
    for path in sorted(expected):
        assert actual[path] == expected[path], f"{env}/{path} differs from the golden file"


def test_compile_is_deterministic(tmp_path: Path) -> None:
    first = make_gitops_repo(tmp_path / "a")
    second = make_gitops_repo(tmp_path / "b")
    for name in ("dev", "staging", "prod"):
        one = compile_environment(
            load_specs(first), load_specs(first).environments[name], source_commit=SOURCE_COMMIT, repo_root=first
        )
        two = compile_environment(
            load_specs(second), load_specs(second).environments[name], source_commit=SOURCE_COMMIT, repo_root=second
        )
        assert dict(one) == dict(two)
