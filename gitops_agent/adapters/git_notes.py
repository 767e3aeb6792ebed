"""Git notes plumbing for sync records: read, append, push and merge ``refs/notes/gitops-agent``.

Appending is a read-modify-write of one note, serialised between processes on the same
repository by a lock file in the git directory (``git notes append`` itself does not
compare-and-swap the notes ref). Between clones, :func:`push_notes` retries a rejected push
after fetching the remote notes ref and merging it with ``git notes merge -s cat_sort_uniq``,
so records written concurrently elsewhere are kept, never overwritten.
"""

from __future__ import annotations

import contextlib
import getpass
import os
import random
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import git

from gitops_agent.adapters.git import identity_env
from gitops_agent.errors import GitError, InvalidInputError

NOTES_REF = "refs/notes/gitops-agent"
REMOTE_NOTES_REF = "refs/notes/gitops-agent-remote"
_LOCK_TIMEOUT_SECONDS = 30.0
_STALE_LOCK_SECONDS = 120.0


def _open(repo: Path) -> git.Repo:
    try:
        return git.Repo(repo)
    except (git.exc.InvalidGitRepositoryError, git.exc.NoSuchPathError) as error:
        raise InvalidInputError(f"{repo}: not a git repository (--repo names the GitOps repository)") from error


def _git(handle: git.Repo, *args: str) -> str:
    env = identity_env(handle) if args and args[0] in {"notes", "merge"} else {}
    try:
        with handle.git.custom_environment(**env):
            return str(handle.git.execute(["git", *args]))
    except git.exc.GitCommandError as error:
        detail = str(error.stderr or error).strip()
        command = " ".join(args[:3])
        raise GitError(f"git {command} failed in {handle.working_dir}: {detail}") from error


def current_user(repo: Path) -> str:
    """``Name <email>`` as git would author a commit now: ``GIT_AUTHOR_NAME``/``GIT_AUTHOR_EMAIL``
    first, then the repository's git config, else the login name."""
    env_name = os.environ.get("GIT_AUTHOR_NAME", "").strip()
    env_email = os.environ.get("GIT_AUTHOR_EMAIL", "").strip()
    if env_name and env_email:
        return f"{env_name} <{env_email}>"
    handle = _open(repo)
    reader = handle.config_reader()
    name = str(reader.get_value("user", "name", "")).strip()
    email = str(reader.get_value("user", "email", "")).strip()
    if name and email:
        return f"{name} <{email}>"
    return name or email or getpass.getuser()


def resolve_commit(repo: Path, ref: str) -> str:
    """The full sha of the commit ``ref`` names (raises GitError when there is none)."""
    handle = _open(repo)
    return _git(handle, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}")


def read_note(repo: Path, obj: str) -> str:
    """The text of ``obj``'s note, or ``""`` when it has none."""
    handle = _open(repo)
    try:
        return str(handle.git.execute(["git", "notes", "--ref", NOTES_REF, "show", obj]))
    except git.exc.GitCommandError:
        return ""


def list_notes(repo: Path) -> dict[str, str]:
    """Every annotated commit sha mapped to its note text."""
    handle = _open(repo)
    try:
        listing = str(handle.git.execute(["git", "notes", "--ref", NOTES_REF, "list"]))
    except git.exc.GitCommandError:
        return {}
    notes: dict[str, str] = {}
    for line in listing.splitlines():
        blob, _, annotated = line.partition(" ")
        if blob and annotated:
            notes[annotated] = _git(handle, "cat-file", "blob", blob)
    return notes


@contextlib.contextmanager
def _notes_lock(handle: git.Repo) -> Iterator[None]:
    lock = Path(handle.git_dir) / "gitops-agent-notes.lock"
    deadline = time.monotonic() + _LOCK_TIMEOUT_SECONDS
    while True:
        try:
            fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
        except FileExistsError:
            with contextlib.suppress(FileNotFoundError):
                if time.time() - lock.stat().st_mtime > _STALE_LOCK_SECONDS:
                    lock.unlink()
                    continue
            if time.monotonic() > deadline:
                raise GitError(f"{lock}: another process holds the notes lock") from None
            time.sleep(0.05)
            continue
        os.close(fd)
        break
    try:
        yield
    finally:
        with contextlib.suppress(FileNotFoundError):
            lock.unlink()


def append_note_lines(repo: Path, obj: str, lines: Sequence[str]) -> None:
    """Append ``lines`` to ``obj``'s note (created when missing); earlier lines are kept."""
    handle = _open(repo)
    with _notes_lock(handle):
        existing = [line for line in read_note(repo, obj).splitlines() if line.strip()]
        text = "\n".join([*existing, *lines]) + "\n"
        with tempfile.NamedTemporaryFile("w", encoding="utf-8", suffix=".note") as note:
            note.write(text)
            note.flush()
            _git(handle, "notes", "--ref", NOTES_REF, "add", "-f", "-F", note.name, obj)


def has_remote(repo: Path, remote: str = "origin") -> bool:
    """Whether the repository has a remote called ``remote``."""
    return remote in [r.name for r in _open(repo).remotes]


_RETRYABLE = ("rejected", "fetch first", "non-fast-forward", "stale info", "cannot lock ref")
"""A push another writer won: refused as not a fast-forward, or it lost the remote's ref lock."""


def _rejected(error: GitError) -> bool:
    text = str(error)
    return any(word in text for word in _RETRYABLE)


def _merge_remote_notes(handle: git.Repo, remote: str) -> bool:
    """Fetch ``remote``'s notes and merge them into the local ref; False when it has none."""
    try:
        _git(handle, "fetch", "--quiet", remote, f"+{NOTES_REF}:{REMOTE_NOTES_REF}")
    except GitError as error:
        if "couldn't find remote ref" in str(error):
            return False
        raise
    try:
        handle.git.execute(["git", "rev-parse", "--verify", "--quiet", NOTES_REF])
    except git.exc.GitCommandError:
        _git(handle, "update-ref", NOTES_REF, REMOTE_NOTES_REF)
        return True
    _git(handle, "notes", "--ref", NOTES_REF, "merge", "--quiet", "-s", "cat_sort_uniq", REMOTE_NOTES_REF)
    return True


def fetch_notes(repo: Path, remote: str = "origin") -> None:
    """Merge the remote's sync records into the local notes ref (no-op without a remote)."""
    if not has_remote(repo, remote):
        return
    handle = _open(repo)
    with _notes_lock(handle):
        _merge_remote_notes(handle, remote)


def push_notes(repo: Path, remote: str = "origin", *, attempts: int = 8) -> None:
    """Push the notes ref; on a rejected push, fetch + merge (cat_sort_uniq) and retry."""
    handle = _open(repo)
    for attempt in range(1, attempts + 1):
        try:
            _git(handle, "push", "--quiet", remote, f"{NOTES_REF}:{NOTES_REF}")
            return
        except GitError as error:
            if not _rejected(error) or attempt == attempts:
                raise
        time.sleep(random.uniform(0.05, 0.2) * attempt)
        with _notes_lock(handle):
            _merge_remote_notes(handle, remote)
