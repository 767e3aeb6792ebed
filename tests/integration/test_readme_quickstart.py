"""The README's quickstart, run as written: scaffold, validate, commit, compile, render, a local
control plane, diff and sync; afterwards the cluster matches git."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.integration


def quickstart() -> str:
    readme = (ROOT / "README.md").read_text()
    found = re.search(r"## Quickstart[^\n]*\n+```sh\n(.*?)```", readme, re.S)
    assert found, "README.md has no Quickstart sh block"
    return found.group(1)


def checkout(tmp_path: Path) -> Path:
    """A folder laid out like the checkout the quickstart starts in (its scripts, tools and
    virtual environment linked), so ``gitops-agent init my-gitops`` writes under tmp_path."""
    where = tmp_path / "checkout"
    where.mkdir()
    for name in ("scripts", "tools", "tests", ".venv", "pyproject.toml"):
        (where / name).symlink_to(ROOT / name)
    return where


@pytest.mark.timeout(600)
def test_the_quickstart_ends_with_the_cluster_equal_to_git(tmp_path: Path) -> None:
    where = checkout(tmp_path)
    env = {
        **os.environ,
        "GITOPS_AGENT_CLUSTER_DIR": str(tmp_path / "cluster"),
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "GIT_AUTHOR_NAME": "Quick Start", "GIT_AUTHOR_EMAIL": "quick@example.com",
        "GIT_COMMITTER_NAME": "Quick Start", "GIT_COMMITTER_EMAIL": "quick@example.com",
    }
    env.pop("KUBECONFIG", None)
    script = "set -u\n" + quickstart() + "\ngitops-agent diff dev >/dev/null; echo \"final diff exit $?\"\n"
    try:
        done = subprocess.run(["bash", "-c", script], cwd=where, env=env, capture_output=True, text=True,
                              timeout=540)
    finally:
        subprocess.run([str(ROOT / "scripts" / "cluster"), "down"], cwd=ROOT, env=env, capture_output=True,
                       timeout=120)
    assert "Traceback" not in done.stderr, done.stderr
    assert (where / "my-gitops" / ".git").is_dir()
    # 0: the sync ran and the cluster matches git (a `diff && sync` never syncs: diff exits 1)
    assert done.stdout.rstrip().endswith("final diff exit 0"), done.stdout[-2000:] + done.stderr[-2000:]
