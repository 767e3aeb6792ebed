"""Every git call of gitops-agent, in one place.

Branch writes use plumbing (blobs → temporary index → tree → commit → compare-and-swap
``update-ref``), so the user's HEAD, index and working files are never touched and a
branch is either moved to a complete commit or not moved at all.
"""

from __future__ import annotations

import io
import os
import subprocess
import tarfile
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import git
from gitdb import IStream

from gitops_agent.errors import GitError, InvalidInputError

NOTES_REF = "refs/notes/gitops-agent"

Repo = git.Repo
"""An open repository handle (GitPython's), passed back to this module's functions."""


@dataclass(frozen=True)
class CommitInfo:
    """What audit and provenance need of one commit."""

    sha: str
    author: str
    author_email: str
    timestamp: int
    message: str
    parents: tuple[str, ...]

    @property
    def subject(self) -> str:
        return self.message.splitlines()[0] if self.message else ""

    def trailer(self, key: str) -> str | None:
        """The value of a ``Key: value`` trailer in the message, if present (last one wins)."""
        found = None
        for line in self.message.splitlines():
            name, sep, value = line.partition(":")
            if sep and name.strip() == key:
                found = value.strip()
        return found


class PushRejected(GitError):
    """The remote refused a push because it is not a fast-forward."""


def open_repo(path: Path) -> git.Repo:
    """Open the git repository containing ``path``."""
    try:
        return git.Repo(path, search_parent_directories=True)
    except (git.InvalidGitRepositoryError, git.NoSuchPathError) as error:
        raise InvalidInputError(f"{path}: not a git repository (--repo names the GitOps repository)") from error


def init_repo(path: Path, *, branch: str = "main") -> git.Repo:
    """Create a new repository at ``path``."""
    try:
        return git.Repo.init(path, initial_branch=branch)
    except git.GitCommandError as error:
        raise GitError(f"git init {path}: {error}") from error


def run(repo: git.Repo, *args: str, env: Mapping[str, str] | None = None) -> str:
    """Run one git command in ``repo`` and return its stdout (stripped)."""
    try:
        out = repo.git.execute(
            ["git", *args],
            env=dict(env) if env else None,
            strip_newline_in_stdout=True,
        )
    except git.GitCommandError as error:
        detail = (error.stderr or "").strip().replace("\n", " ") or str(error)
        raise GitError(f"git {' '.join(args[:2])}: {detail}") from error
    return str(out)


def rev_parse(repo: git.Repo, rev: str) -> str | None:
    """The commit sha of ``rev``, or None when it does not exist."""
    try:
        out = repo.git.execute(
            ["git", "rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}"],
            with_exceptions=False,
        )
    except git.GitCommandError:
        return None
    sha = str(out).strip()
    return sha or None


def head_commit(repo: git.Repo) -> str | None:
    """The sha of HEAD, or None in a repository without commits."""
    return rev_parse(repo, "HEAD")


def is_dirty(repo: git.Repo, paths: Sequence[str] = ()) -> bool:
    """Whether the working tree or index differs from HEAD (optionally below ``paths``).

    ``--no-optional-locks``: a read-only look; plain ``git status`` would refresh and rewrite
    the user's index (and take its lock)."""
    return bool(run(repo, "--no-optional-locks", "status", "--porcelain", "--untracked-files=all", "--", *paths))


def common_dir(repo: git.Repo) -> Path:
    """The repository's shared git directory (the main ``.git``, also from a linked worktree)."""
    return Path(repo.common_dir).resolve()


def tree_of(repo: git.Repo, rev: str) -> str:
    """The tree sha of a commit."""
    return run(repo, "rev-parse", f"{rev}^{{tree}}")


def write_tree(repo: git.Repo, files: Mapping[str, bytes]) -> str:
    """Store ``files`` (POSIX path → content) as blobs and a tree; return the tree sha.

    Uses a temporary index file, so the repository's own index is untouched.
    """
    lines = []
    for path in sorted(files):
        data = files[path]
        stream = repo.odb.store(IStream(b"blob", len(data), io.BytesIO(data)))
        lines.append(f"100644 {stream.hexsha.decode()}\t{path}")
    fd, index = tempfile.mkstemp(prefix="gitops-agent-index-")
    os.close(fd)
    Path(index).unlink()
    env = {**os.environ, "GIT_INDEX_FILE": index}
    try:
        if lines:
            _run_with_input(repo, ["update-index", "--add", "--index-info"], "\n".join(lines), env)
        return run(repo, "write-tree", env=env)
    finally:
        Path(index).unlink(missing_ok=True)


def _run_with_input(repo: git.Repo, args: list[str], stdin: str, env: Mapping[str, str]) -> str:
    proc = subprocess.run(
        ["git", f"--git-dir={repo.git_dir}", *args],
        input=stdin.encode(),
        env=dict(env),
        capture_output=True,
        check=False,
    )
    if proc.returncode != 0:
        raise GitError(f"git {args[0]}: {proc.stderr.decode(errors='replace').strip()}")
    return proc.stdout.decode().strip()


def commit_tree(
    repo: git.Repo,
    tree: str,
    parents: Sequence[str],
    message: str,
    *,
    env: Mapping[str, str] | None = None,
) -> str:
    """Create a commit object (not referenced by any branch yet)."""
    args = ["commit-tree", tree]
    for parent in parents:
        args += ["-p", parent]
    args += ["-m", message]
    full_env = {**os.environ, **(env or {})}
    return run(repo, *args, env=full_env)


def update_ref(repo: git.Repo, ref: str, new: str, old: str | None, message: str) -> None:
    """Move ``ref`` to ``new`` only if it still points at ``old`` (None: must not exist)."""
    expected = old if old is not None else "0" * 40
    run(repo, "update-ref", "-m", message, ref, new, expected)


def reset_ref(repo: git.Repo, ref: str, target: str | None, current: str) -> None:
    """Move ``ref`` back from ``current`` to ``target`` (None: delete it), compare-and-swap."""
    if target is None:
        run(repo, "update-ref", "-d", ref, current)
    else:
        run(repo, "update-ref", "-m", "gitops-agent: undo", ref, target, current)


def list_files(repo: git.Repo, rev: str) -> dict[str, bytes]:
    """Every file of ``rev``'s tree (POSIX path → content)."""
    data = repo.git.execute(["git", "archive", "--format=tar", rev], stdout_as_string=False)
    files: dict[str, bytes] = {}
    with tarfile.open(fileobj=io.BytesIO(bytes(data)), mode="r:") as archive:
        for member in archive.getmembers():
            if member.isfile():
                extracted = archive.extractfile(member)
                if extracted is not None:
                    files[member.name] = extracted.read()
    return files


def export_tree(repo: git.Repo, rev: str, dest: Path) -> None:
    """Write ``rev``'s files below ``dest`` (which must be empty or absent)."""
    for path, content in list_files(repo, rev).items():
        target = dest / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content)


def commit_info(repo: git.Repo, rev: str) -> CommitInfo:
    """Author, time, message and parents of one commit."""
    fmt = "%H%x00%an%x00%ae%x00%at%x00%P%x00%B"
    out = run(repo, "show", "-s", f"--format={fmt}", rev)
    sha, author, email, stamp, parents, message = out.split("\x00", 5)
    return CommitInfo(sha, author, email, int(stamp), message.strip(), tuple(parents.split()))


def log(repo: git.Repo, rev: str, *, paths: Sequence[str] = (), since: str | None = None) -> list[CommitInfo]:
    """Commits reachable from ``rev``, newest first."""
    args = ["log", "--format=%H"]
    if since:
        args.append(f"--since={since}")
    args.append(rev)
    if paths:
        args += ["--", *paths]
    out = run(repo, *args)
    return [commit_info(repo, sha) for sha in out.split()]


def has_remote(repo: git.Repo, name: str = "origin") -> bool:
    return name in {remote.name for remote in repo.remotes}


def remote_url(repo: git.Repo, name: str = "origin") -> str | None:
    if not has_remote(repo, name):
        return None
    return run(repo, "remote", "get-url", name)


def fetch(repo: git.Repo, refspecs: Sequence[str], remote: str = "origin") -> None:
    """Fetch ``refspecs`` from the remote; a missing remote ref is not an error."""
    for refspec in refspecs:
        try:
            run(repo, "fetch", "--quiet", "--no-tags", remote, refspec)
        except GitError as error:
            if "couldn't find remote ref" in str(error):
                continue
            raise GitError(f"fetch from {remote} failed: {error}") from error


def push(repo: git.Repo, refspec: str, remote: str = "origin") -> None:
    """Push one refspec, never forcing; a non-fast-forward raises ``PushRejected``."""
    if refspec.startswith("+"):
        raise ValueError("gitops-agent never force-pushes")
    try:
        repo.git.execute(["git", "push", "--porcelain", remote, refspec])
    except git.GitCommandError as error:
        text = f"{error.stdout or ''} {error.stderr or ''}"
        # "is at X but expected Y": another push landed between the ref advertisement and
        # the update (the remote's compare-and-swap refused); as safe to retry as a rejection.
        if any(word in text for word in ("[rejected]", "non-fast-forward", "fetch first", "Updates were rejected")) or (
            "cannot lock ref" in text and "but expected" in text
        ):
            raise PushRejected(f"push of {refspec} to {remote} rejected: not a fast-forward") from error
        detail = (error.stderr or "").strip().splitlines()
        raise GitError(f"push to {remote} failed: {detail[-1] if detail else error}") from error


def is_ancestor(repo: git.Repo, ancestor: str, descendant: str) -> bool:
    try:
        repo.git.execute(["git", "merge-base", "--is-ancestor", ancestor, descendant])
    except git.GitCommandError:
        return False
    return True


def share_history(repo: git.Repo, a: str, b: str) -> bool:
    """Whether two commits have a common ancestor (``git merge-base`` finds one)."""
    try:
        repo.git.execute(["git", "merge-base", a, b])
    except git.GitCommandError:
        return False
    return True


def write_tree_over(repo: git.Repo, base: str, changed: Mapping[str, bytes]) -> str:
    """``base``'s tree with the ``changed`` files (POSIX path → content) replaced; the
    tree sha. Modes of untouched files are kept; a temporary index leaves HEAD alone."""
    fd, index = tempfile.mkstemp(prefix="gitops-agent-index-")
    os.close(fd)
    Path(index).unlink()
    env = {**os.environ, "GIT_INDEX_FILE": index}
    try:
        run(repo, "read-tree", base, env=env)
        lines = []
        for path in sorted(changed):
            data = changed[path]
            stream = repo.odb.store(IStream(b"blob", len(data), io.BytesIO(data)))
            lines.append(f"100644 {stream.hexsha.decode()}\t{path}")
        if lines:
            _run_with_input(repo, ["update-index", "--index-info"], "\n".join(lines), env)
        return run(repo, "write-tree", env=env)
    finally:
        Path(index).unlink(missing_ok=True)


def branch_heads(repo: git.Repo, prefix: str, *, namespace: str = "refs/heads/") -> dict[str, str]:
    """Branches whose name starts with ``prefix`` → their commit sha: local ones, or under
    another ``namespace`` such as ``refs/remotes/origin/`` (names without the namespace)."""
    out = run(repo, "for-each-ref", "--format=%(refname) %(objectname)", namespace)
    heads = dict(line.split(" ", 1) for line in out.splitlines() if line)
    named = {ref[len(namespace) :]: sha for ref, sha in heads.items()}
    return {name: sha for name, sha in named.items() if name.startswith(prefix)}


DEFAULT_IDENTITY = {"name": "gitops-agent", "email": "gitops-agent@localhost"}


def identity_env(repo: git.Repo) -> dict[str, str]:
    """Author/committer variables for a commit gitops-agent writes: each of name and email
    from ``GIT_AUTHOR_*``/``GIT_COMMITTER_*`` when set, else the repository's ``user.name`` /
    ``user.email``, else gitops-agent's own (``gitops-agent <gitops-agent@localhost>``)."""
    env: dict[str, str] = {}
    for role in ("AUTHOR", "COMMITTER"):
        for key in ("name", "email"):
            variable = f"GIT_{role}_{key.upper()}"
            if variable in os.environ:
                continue
            try:
                value = str(repo.git.config("--get", f"user.{key}"))
            except git.GitCommandError:
                value = DEFAULT_IDENTITY[key]
            env[variable] = value
    return env


def config_value(repo: git.Repo, key: str) -> str | None:
    """``git config --get KEY`` of the repository; None when it is not set."""
    try:
        return str(repo.git.config("--get", key))
    except git.GitCommandError:
        return None
