"""Real git repositories in temporary folders: a bare remote and clones of it."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
GIT_ENV = {
    "GIT_AUTHOR_NAME": "Spec Author",
    "GIT_AUTHOR_EMAIL": "author@example.com",
    "GIT_COMMITTER_NAME": "Spec Author",
    "GIT_COMMITTER_EMAIL": "author@example.com",
}


def git(cwd: Path, *args: str) -> str:
    """Run git in ``cwd`` and return stdout; fails the test on a non-zero exit."""
    proc = subprocess.run(
        ["git", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
        env={**_base_env(), **GIT_ENV},
    )
    if proc.returncode != 0:
        raise AssertionError(f"git {' '.join(args)} failed: {proc.stderr}")
    return proc.stdout.strip()


def _base_env() -> dict[str, str]:
    import os

    return {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}


def make_gitops_repo(path: Path, *, workflows: tuple[str, ...] | None = None) -> Path:
    """A GitOps repository with this project's example workflows and environments, committed."""
    path.mkdir(parents=True, exist_ok=True)
    if not (path / ".git").exists():
        git(path, "init", "-q", "-b", "main")
    (path / "workflows").mkdir(exist_ok=True)
    for source in sorted((ROOT / "examples").glob("*.yaml")):
        if workflows is None or source.stem in workflows:
            shutil.copy(source, path / "workflows" / source.name)
    shutil.copytree(ROOT / "environments", path / "environments", dirs_exist_ok=True)
    if (ROOT / "manifests").exists():
        shutil.copytree(ROOT / "manifests", path / "manifests", dirs_exist_ok=True)
    git(path, "add", "-A")
    git(path, "commit", "-q", "-m", "Add workflows and environments")
    return path


@dataclass(frozen=True)
class GitRemote:
    """A bare repository acting as ``origin``, and a way to make clones of it."""

    bare: Path
    workdir: Path

    def clone(self, name: str) -> Path:
        target = self.workdir / name
        git(self.workdir, "clone", "-q", str(self.bare), str(target))
        git(target, "config", "user.name", GIT_ENV["GIT_AUTHOR_NAME"])
        git(target, "config", "user.email", GIT_ENV["GIT_AUTHOR_EMAIL"])
        return target


@pytest.fixture
def git_remote(tmp_path: Path) -> Iterator[GitRemote]:
    """An empty bare remote whose ``main`` holds the example GitOps repository."""
    bare = tmp_path / "remote.git"
    git(tmp_path, "init", "-q", "--bare", "-b", "main", str(bare))
    seed = make_gitops_repo(tmp_path / "seed")
    git(seed, "remote", "add", "origin", str(bare))
    git(seed, "push", "-q", "origin", "main")
    shutil.rmtree(seed)
    yield GitRemote(bare=bare, workdir=tmp_path)


@pytest.fixture
def gitops_repo(tmp_path: Path) -> Path:
    """A local GitOps repository (no remote) with the examples committed."""
    return make_gitops_repo(tmp_path / "repo")
