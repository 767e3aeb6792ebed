"""Git faults around ``compile --commit [--push]``: real repositories, real remotes, real signals.

What the agent promises (and these tests check):

- remote unreachable: exit 3 with one clear line; the remote is untouched. When the fetch
  fails nothing is committed; when only the push fails, the local environment branch keeps
  its new, complete commit (it is a fast-forward of what was there, and the next
  ``--push`` publishes it) — the remote never sees a half state;
- a concurrent pusher: the push is retried on top of the other commit, never forced;
- a branch moved by someone else between read and write: the compare-and-swap refuses,
  exit 3, the other commit stays;
- the user's index is never used (``.git/index.lock`` does not matter); a stale
  ``refs/heads/<branch>.lock`` is reported, not deleted;
- SIGINT/SIGTERM at any moment: every environment branch is either where it was or at a
  complete commit whose tree builds with kustomize; ``git fsck`` is clean; no lock files.
"""

from __future__ import annotations

import contextlib
import os
import random
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from gitops_agent.adapters import git as g
from gitops_agent.cli import run
from gitops_agent.render.overlay import render_files
from tests.support.gitrepos import GitRemote, git, make_gitops_repo
from tests.support.reliability import ReliabilityCounters

pytestmark = pytest.mark.integration

ENVS = ("dev", "prod", "staging")
ENTRY = [sys.executable, "-c", "from gitops_agent.cli import main; main()"]
# The same entry, announcing on stderr when the command line is loaded: a signal during the
# interpreter's imports comes before any work, so the random moments start after it.
READY = b"ready\n"
ENTRY_READY = [
    sys.executable,
    "-c",
    "import sys; from gitops_agent.cli import main; sys.stderr.write('ready\\n'); sys.stderr.flush(); main()",
]


def heads(repo: Path) -> dict[str, str]:
    out = git(repo, "for-each-ref", "--format=%(refname) %(objectname)", "refs/heads/")
    return dict(line.split(" ", 1) for line in out.splitlines() if line)


def edit(repo: Path, path: str, old: str, new: str) -> None:
    target = repo / path
    text = target.read_text()
    assert old in text
    target.write_text(text.replace(old, new, 1))


def error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.strip()]


def assert_branch_renders(repo: Path, branch: str) -> None:
    handle = g.open_repo(repo)
    env = branch.removeprefix("env/")
    objects = render_files(g.list_files(handle, branch), env)
    assert any(o["kind"] == "Namespace" for o in objects)


def test_unreachable_remote_exit_3_one_line_nothing_committed(
    gitops_repo: Path, capsys: pytest.CaptureFixture[str], reliability: ReliabilityCounters
) -> None:
    for url in (str(gitops_repo.parent / "missing.git"), "http://127.0.0.1:9/refused.git"):
        git(gitops_repo, "remote", "remove", "origin") if "origin" in git(gitops_repo, "remote") else None
        git(gitops_repo, "remote", "add", "origin", url)
        before = heads(gitops_repo)
        code = run(["compile", "--repo", str(gitops_repo), "--commit", "--push"])
        reliability.add("git faults injected")
        err = capsys.readouterr().err
        assert code == 3, err
        lines = error_lines(err)
        assert len(lines) == 1 and lines[0].startswith("error: ") and "origin" in lines[0], lines
        assert "Traceback" not in err
        assert heads(gitops_repo) == before  # the fetch failed before anything was written


def test_push_refused_by_the_remote_keeps_a_complete_local_commit(
    git_remote: GitRemote, capsys: pytest.CaptureFixture[str], reliability: ReliabilityCounters
) -> None:
    clone = git_remote.clone("a")
    hook = git_remote.bare / "hooks" / "pre-receive"
    hook.write_text("#!/bin/sh\necho 'policy: pushes are closed' >&2\nexit 1\n")
    hook.chmod(hook.stat().st_mode | stat.S_IEXEC)
    remote_before = heads(git_remote.bare)
    code = run(["compile", "--repo", str(clone), "--commit", "--push", "--env", "dev"])
    reliability.add("git faults injected")
    err = capsys.readouterr().err
    assert code == 3, err
    assert len(error_lines(err)) == 1 and "push" in err
    assert heads(git_remote.bare) == remote_before  # the remote is untouched
    # Decision: the local branch keeps its new commit, complete and renderable.
    assert_branch_renders(clone, "env/dev")
    hook.unlink()
    assert run(["compile", "--repo", str(clone), "--commit", "--push", "--env", "dev"]) == 0
    assert git(git_remote.bare, "rev-parse", "env/dev") == git(clone, "rev-parse", "env/dev")


def test_concurrent_pusher_is_never_overwritten(
    git_remote: GitRemote, reliability: ReliabilityCounters, capsys: pytest.CaptureFixture[str]
) -> None:
    """Another process pushes env/dev right before our push (from a pre-push hook): our push
    is rejected, fetched again, committed on top and pushed; the other commit survives."""
    ours, theirs = git_remote.clone("ours"), git_remote.clone("theirs")
    assert run(["compile", "--repo", str(ours), "--commit", "--push", "--env", "dev"]) == 0
    edit(theirs, "workflows/fraud-risk-scoring.yaml", "timeout: 2h", "timeout: 3h")
    git(theirs, "commit", "-q", "-am", "theirs: longer timeout")
    edit(ours, "workflows/customer-service-agent.yaml", "replicas: 2", "replicas: 3")
    git(ours, "commit", "-q", "-am", "ours: more replicas")
    marker = ours.parent / "raced"
    hook = ours / ".git" / "hooks" / "pre-push"
    hook.write_text(
        "#!/bin/sh\n"
        f'if [ ! -e "{marker}" ]; then\n'
        f'  touch "{marker}"\n'
        f"  cd {theirs} && env -u GIT_DIR -u GIT_INDEX_FILE -u GIT_WORK_TREE "
        f"{sys.executable} -c 'from gitops_agent.cli import main; main()' "
        "compile --commit --push --env dev >/dev/null 2>&1 || exit 1\n"
        "fi\n"
        "exit 0\n"
    )
    hook.chmod(hook.stat().st_mode | stat.S_IEXEC)
    code = run(["compile", "--repo", str(ours), "--commit", "--push", "--env", "dev"])
    reliability.add("git faults injected")
    assert code == 0, capsys.readouterr().err
    assert marker.exists()
    their_commit = git(theirs, "rev-parse", "env/dev")
    remote_head = git(git_remote.bare, "rev-parse", "env/dev")
    assert remote_head != their_commit
    assert git(git_remote.bare, "rev-parse", f"{remote_head}^") == their_commit  # on top, not forced
    assert "Spec-Digest" in git(git_remote.bare, "log", "-1", "--format=%B", their_commit)
    assert_branch_renders(ours, "env/dev")


def test_branch_moved_during_compile_is_refused_by_compare_and_swap(
    gitops_repo: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    reliability: ReliabilityCounters,
) -> None:
    assert run(["compile", "--repo", str(gitops_repo), "--commit", "--env", "dev"]) == 0
    edit(gitops_repo, "workflows/fraud-risk-scoring.yaml", "timeout: 2h", "timeout: 3h")
    git(gitops_repo, "commit", "-q", "-am", "longer timeout")
    real_commit_tree = g.commit_tree
    moved: dict[str, str] = {}

    def commit_then_someone_moves_the_branch(*args, **kwargs):  # type: ignore[no-untyped-def]
        sha = real_commit_tree(*args, **kwargs)
        tree = git(gitops_repo, "rev-parse", "env/dev^{tree}")
        other = git(gitops_repo, "commit-tree", tree, "-p", "env/dev", "-m", "someone else")
        git(gitops_repo, "update-ref", "refs/heads/env/dev", other)
        moved["other"] = other
        return sha

    monkeypatch.setattr(g, "commit_tree", commit_then_someone_moves_the_branch)
    code = run(["compile", "--repo", str(gitops_repo), "--commit", "--env", "dev"])
    reliability.add("git faults injected")
    err = capsys.readouterr().err
    assert code == 3, err
    assert "env/dev" in err and len(error_lines(err)) == 1
    assert git(gitops_repo, "rev-parse", "env/dev") == moved["other"]  # the other write survives


def test_locked_user_index_does_not_matter(gitops_repo: Path, reliability: ReliabilityCounters) -> None:
    """compile --commit never touches the user's index: a held index.lock changes nothing."""
    lock = gitops_repo / ".git" / "index.lock"
    lock.write_bytes(b"held by another git\n")
    index_before = (gitops_repo / ".git" / "index").read_bytes()
    before = heads(gitops_repo)
    assert run(["compile", "--repo", str(gitops_repo), "--commit"]) == 0
    reliability.add("git faults injected")
    after = heads(gitops_repo)
    assert {f"refs/heads/env/{e}" for e in ENVS} <= set(after) - set(before)
    assert lock.read_bytes() == b"held by another git\n"  # not ours to remove
    assert (gitops_repo / ".git" / "index").read_bytes() == index_before
    for env in ENVS:
        assert_branch_renders(gitops_repo, f"env/{env}")


def test_stale_ref_lock_is_reported_not_removed(
    gitops_repo: Path, capsys: pytest.CaptureFixture[str], reliability: ReliabilityCounters
) -> None:
    assert run(["compile", "--repo", str(gitops_repo), "--commit", "--env", "dev"]) == 0
    edit(gitops_repo, "workflows/fraud-risk-scoring.yaml", "timeout: 2h", "timeout: 3h")
    git(gitops_repo, "commit", "-q", "-am", "longer timeout")
    before = git(gitops_repo, "rev-parse", "env/dev")
    lock = gitops_repo / ".git" / "refs" / "heads" / "env" / "dev.lock"
    lock.write_text("stale\n")
    code = run(["compile", "--repo", str(gitops_repo), "--commit", "--env", "dev"])
    reliability.add("git faults injected")
    err = capsys.readouterr().err
    assert code == 3, err
    assert "dev.lock" in err and len(error_lines(err)) == 1
    assert lock.exists()
    lock.unlink()
    assert git(gitops_repo, "rev-parse", "env/dev") == before
    assert run(["compile", "--repo", str(gitops_repo), "--commit", "--env", "dev"]) == 0
    assert git(gitops_repo, "rev-parse", "env/dev") != before


# --- signals at random moments -----------------------------------------------------------


def _locks(repo: Path) -> list[Path]:
    return [p for p in (repo / ".git").rglob("*.lock")]


def _start(repo: Path, env: dict[str, str]) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(
        [*ENTRY_READY, "compile", "--repo", str(repo), "--commit"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    assert proc.stderr is not None
    assert proc.stderr.readline() == READY
    return proc


def _timed_run(repo: Path, env: dict[str, str]) -> float:
    """Seconds an uninterrupted run takes once loaded (so delays cover all of it)."""
    proc = _start(repo, env)
    started = time.monotonic()
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 0, stderr
    return time.monotonic() - started


@pytest.mark.timeout(900)
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_signal_at_any_moment_of_compile_commit(
    tmp_path: Path, signum: signal.Signals, reliability: ReliabilityCounters
) -> None:
    repo = make_gitops_repo(tmp_path / "repo")
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    rng = random.Random(f"signals-{signum.name}")
    # How long an uninterrupted run takes, so delays cover its whole duration.
    full = _timed_run(repo, env)
    interrupted = 0
    for round_ in range(12):
        edit(repo, "workflows/fraud-risk-scoring.yaml", f"timeout: {round_ + 2}h", f"timeout: {round_ + 3}h")
        git(repo, "commit", "-q", "-am", f"round {round_}")
        before = heads(repo)
        proc = _start(repo, env)
        time.sleep(rng.uniform(0.0, full * 1.1))
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signum)  # like Ctrl-C in a terminal: the whole process group
        _, stderr = proc.communicate(timeout=120)
        reliability.add("signals injected")
        if proc.returncode != 0:
            interrupted += 1
            assert proc.returncode == 130, stderr.decode()
            assert b"Traceback" not in stderr
        after = heads(repo)
        assert after["refs/heads/main"] == before["refs/heads/main"]
        for env_name in ENVS:
            ref = f"refs/heads/env/{env_name}"
            if after[ref] != before[ref]:
                # A complete new commit on top of the old one, whose tree builds.
                assert git(repo, "rev-parse", f"{after[ref]}^") == before[ref]
                assert_branch_renders(repo, f"env/{env_name}")
        assert _locks(repo) == []
        fsck = subprocess.run(["git", "fsck", "--strict", "--no-dangling"], cwd=repo, capture_output=True, text=True)
        assert fsck.returncode == 0 and "error" not in fsck.stderr, fsck.stderr
    assert interrupted >= 3, "too few runs were actually interrupted to prove anything"


@pytest.mark.parametrize("damage", ["flipped-byte", "garbage"])
def test_corrupted_user_index_is_never_written(
    gitops_repo: Path, damage: str, capsys: pytest.CaptureFixture[str], reliability: ReliabilityCounters
) -> None:
    """A damaged user index: compile --commit either works (it writes branches through a
    temporary index of its own, so git's lenient reading is enough) or fails with exit 3 and
    one line; the index itself and the spec branch are never touched."""
    index = gitops_repo / ".git" / "index"
    if damage == "flipped-byte":
        data = bytearray(index.read_bytes())
        data[len(data) // 2] ^= 0xFF  # git does not verify the checksum when reading
        corrupt = bytes(data)
    else:
        corrupt = b"DIRC\x00\x00\x00\x02garbage that is not an index"
    index.write_bytes(corrupt)
    before = heads(gitops_repo)
    code = run(["compile", "--repo", str(gitops_repo), "--commit"])
    reliability.add("git faults injected")
    err = capsys.readouterr().err
    assert code in (0, 3), err
    assert "Traceback" not in err
    assert index.read_bytes() == corrupt
    after = heads(gitops_repo)
    assert after["refs/heads/main"] == before["refs/heads/main"]
    if code == 0:
        for env in ENVS:
            assert_branch_renders(gitops_repo, f"env/{env}")
    else:
        assert len(error_lines(err)) == 1, err
        assert after == before


def test_user_index_is_not_refreshed(gitops_repo: Path) -> None:
    """Stat data out of date (a tracked file touched): plain ``git status`` would rewrite the
    index; compile --commit must not."""
    os.utime(gitops_repo / "workflows" / "fraud-risk-scoring.yaml", (1_000_000_000, 1_000_000_000))
    index = gitops_repo / ".git" / "index"
    before = index.read_bytes()
    assert run(["compile", "--repo", str(gitops_repo), "--commit"]) == 0
    assert index.read_bytes() == before
