"""Bad input never escapes as anything but exit 2 with located messages.

Every case writes one hostile file into a real GitOps repository (committed, so that
``compile --commit`` gets past its clean-tree check) and runs the real command line
in-process: ``validate``, ``compile --out`` and ``compile --commit``. For each run:

- the exit code is 0 (the input happened to be valid) or 2, never a traceback or 70;
- on exit 2 every line of stderr is ``file:line:col: field: message``;
- it finishes within a per-case time bound (a timer interrupts a hang);
- nothing outside the ``--out`` directory changes (a sentinel directory and the repository's
  working files are snapshotted), and ``--out`` only receives files below ``OUT/<env>/``;
- on a non-zero exit no branch moved (every ``refs/heads/*`` is as it was).

The number of cases run is added to the ``fuzz cases`` counter printed in the summary.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import shutil
import signal
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ruamel.yaml import YAML

from gitops_agent.cli import run
from gitops_agent.compile import compile_environment
from gitops_agent.errors import InvalidInputError, SpecError
from gitops_agent.spec import load_specs, validate_paths
from tests.support.gitrepos import git, make_gitops_repo
from tests.support.reliability import ReliabilityCounters

FORMAT = re.compile(r"^[^:]+:\d+:\d+: \S+: .+")
CASE_SECONDS = 90.0
DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
EXAMPLES = int(os.environ.get("GITOPS_AGENT_FUZZ_EXAMPLES", "60"))

HOSTILE_STRINGS = [
    "../x",
    "../../../../etc/passwd",
    "/etc/passwd",
    "a/b",
    "..",
    ".",
    "",
    " ",
    "x" * 5000,
    "nul\x00byte",
    "ümlaut",
    "${HOME}",
    "$(touch /tmp/pwned)",
    "`id`",
    "env/../main",
    "refs/heads/main",
    "HEAD",
    "-rf",
    "a.lock",
    "~",
    "C:\\windows",
    "%2e%2e%2f",
    "line\nbreak",
    "*",
    "manifests/common/../../../x",
]


def _deep_list(depth: int) -> Any:
    value: Any = "leaf"
    for _ in range(depth):
        value = [value]
    return value


def _deep_map(depth: int) -> Any:
    value: Any = "leaf"
    for _ in range(depth):
        value = {"a": value}
    return value


HOSTILE_VALUES: list[Any] = [
    *HOSTILE_STRINGS,
    10**100,
    -(10**30),
    -1,
    0,
    2**63,
    1e308,
    float("nan"),
    float("inf"),
    True,
    None,
    [],
    {},
    _deep_list(40),
    _deep_map(40),
    _deep_list(200),
    _deep_map(200),
    list(range(5000)),
    {f"k{i}": i for i in range(2000)},
]

BILLION_LAUGHS = (
    b"apiVersion: gitops-agent.io/v1alpha1\nkind: Workflow\nmetadata: {name: lol}\nspec:\n"
    b"  a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n"
    b"  b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
    b"  c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\n"
    b"  d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]\n"
    b"  e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d]\n"
    b"  f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e]\n"
    b"  g: &g [*f, *f, *f, *f, *f, *f, *f, *f, *f]\n"
    b"  h: &h [*g, *g, *g, *g, *g, *g, *g, *g, *g]\n"
    b"  i: &i [*h, *h, *h, *h, *h, *h, *h, *h, *h]\n"
)

TEXT_CASES: dict[str, bytes] = {
    "billion-laughs": BILLION_LAUGHS,
    "merge-key": b"a: &x {b: 1}\nc:\n  <<: *x\n",
    "recursive-alias": b"a: &a [*a]\n",
    "python-object": b"!!python/object/apply:os.system ['touch /tmp/pwned']\n",
    "python-name": b"spec: !!python/name:os.system\n",
    "custom-tag": b"apiVersion: gitops-agent.io/v1alpha1\nkind: !Workflow Workflow\n",
    "binary-tag": b"spec: !!binary aGVsbG8=\n",
    "set-tag": b"spec: !!set {a, b}\n",
    "non-utf8": b"apiVersion: gitops-agent.io/v1alpha1\nkind: Workflow\nmetadata: {name: \xff\xfe}\n",
    "latin1": "metadata: {name: caf\u00e9}\n".encode("latin-1"),
    "utf16": "kind: Workflow\n".encode("utf-16"),
    "nul-bytes": b"kind: Workflow\x00\x00\n",
    "control-chars": b"kind: \x07\x1b[31mWorkflow\n",
    "duplicate-keys": b"apiVersion: gitops-agent.io/v1alpha1\nkind: Workflow\nkind: Environment\nmetadata: {name: a}\n",
    "duplicate-task": (
        b"apiVersion: gitops-agent.io/v1alpha1\nkind: Workflow\nmetadata: {name: dup}\nspec:\n"
        b"  defaults: {image: x:1}\n  tasks:\n    a: {command: [x]}\n    a: {command: [y]}\n"
    ),
    "deep-flow": b"spec: " + b"[" * 5000 + b"]" * 5000 + b"\n",
    "deep-block": b"".join(b"  " * i + b"k:\n" for i in range(300)),
    "huge-file": b"# " + b"x" * (2 * 1024 * 1024) + b"\n",
    "many-nodes": b"spec: [" + b"1," * 101_000 + b"1]\n",
    "huge-int": b"apiVersion: gitops-agent.io/v1alpha1\nkind: Workflow\nmetadata: {name: " + b"9" * 100_000 + b"}\n",
    "long-line-key": b"a" * 500_000 + b": 1\n",
    "empty": b"",
    "only-comment": b"# nothing\n",
    "bare-scalar": b"42\n",
    "list-root": b"- a\n- b\n",
    "many-documents": b"---\n" * 10_000,
    "document-end-garbage": b"kind: Workflow\n...\n]]]\n",
    "bom-then-garbage": b"\xef\xbb\xbf: : :\n",
    "tab-indent": b"spec:\n\ttasks: {}\n",
    "unterminated-quote": b'kind: "Workflow\n',
    "directive": b"%YAML 1.1\n%TAG ! tag:evil.example.com,2000:\n--- !x\nkind: Workflow\n",
    "yaml-1-1-booleans": (
        b"apiVersion: gitops-agent.io/v1alpha1\nkind: Environment\nmetadata: {name: yes}\n"
        b"spec: {namespace: on, branch: off}\n"
    ),
}


@dataclass
class Sandbox:
    """A GitOps repository next to a sentinel directory, inside one temporary folder."""

    root: Path
    repo: Path
    sentinel: Path
    originals: dict[str, bytes]
    counter: int = 0

    def next_out(self) -> Path:
        self.counter += 1
        return self.root / "out" / f"case-{self.counter}"


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Sandbox:
    root = tmp_path_factory.mktemp("fuzz")
    repo = make_gitops_repo(root / "repo")
    sentinel = root / "sentinel"
    sentinel.mkdir()
    (sentinel / "keep.txt").write_text("must never change\n")
    (sentinel / "nested").mkdir()
    (sentinel / "nested" / "passwd").write_text("root:x:0:0\n")
    originals = {
        p.relative_to(repo).as_posix(): p.read_bytes()
        for d in ("workflows", "environments")
        for p in sorted((repo / d).glob("*.yaml"))
    }
    return Sandbox(root, repo, sentinel, originals)


class CaseTimeout(BaseException):
    """A case ran past its time bound (a BaseException, so the CLI cannot swallow it)."""


@contextlib.contextmanager
def time_bound(seconds: float) -> Iterator[None]:
    def expire(signum: int, frame: FrameType | None) -> None:
        raise CaseTimeout(f"case ran longer than {seconds}s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def cli(argv: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = run(argv)
    return code, out.getvalue(), err.getvalue()


def refs(repo: Path) -> dict[str, str]:
    listing = git(repo, "for-each-ref", "--format=%(refname) %(objectname)", "refs/heads/")
    return dict(line.split(" ", 1) for line in listing.splitlines() if line)


def snapshot(root: Path, skip: tuple[Path, ...]) -> dict[str, tuple[int, int, str]]:
    """Every file and directory below ``root`` but ``skip``: size, mtime, symlink target."""
    found: dict[str, tuple[int, int, str]] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        here = Path(dirpath)
        dirnames[:] = [d for d in dirnames if here / d not in skip]
        for name in [*dirnames, *filenames]:
            path = here / name
            stat = path.lstat()
            target = os.readlink(path) if path.is_symlink() else ""
            found[path.relative_to(root).as_posix()] = (stat.st_size, stat.st_mtime_ns, target)
    return found


def assert_located(code: int, stdout: str, stderr: str, argv: list[str]) -> None:
    assert code in (0, 2), f"{argv}: exit {code}\n{stderr}"
    assert "Traceback" not in stderr + stdout, stderr
    if code == 2:
        lines = [line for line in stderr.splitlines() if line.strip()]
        assert lines, f"{argv}: exit 2 without a message"
        for number, line in enumerate(lines):
            text = line.removeprefix("error: ") if number == 0 else line
            assert FORMAT.match(text), f"{argv}: unlocated message line {line!r}"


def check_case(sandbox: Sandbox, target: str, content: bytes, reliability: ReliabilityCounters) -> list[int]:
    """Write ``content`` to ``target`` (others restored), commit it, and run the three commands."""
    repo = sandbox.repo
    for path, data in sandbox.originals.items():
        (repo / path).write_bytes(data)
    for extra in (repo / "workflows").glob("fuzz-*"):
        extra.unlink()
    (repo / target).write_bytes(content)
    git(repo, "add", "-A", "workflows", "environments")
    git(repo, "commit", "-q", "--allow-empty", "-m", f"fuzz case {sandbox.counter}")
    reliability.add("fuzz cases")
    out = sandbox.next_out()
    skip = (repo / ".git", sandbox.root / "out")
    before_files = snapshot(sandbox.root, skip)
    before_refs = refs(repo)
    codes = []
    with time_bound(CASE_SECONDS):
        started = time.monotonic()
        for argv in (
            ["validate", "--repo", str(repo)],
            ["compile", "--repo", str(repo), "--out", str(out)],
            ["compile", "--repo", str(repo), "--commit", "-o", "json"],
        ):
            code, stdout, stderr = cli(argv)
            codes.append(code)
            assert_located(code, stdout, stderr, argv)
            if code != 0:
                assert refs(repo) == before_refs, f"{argv} moved a branch on invalid input"
            else:
                assert refs(repo)["refs/heads/main"] == before_refs["refs/heads/main"]
        assert time.monotonic() - started < CASE_SECONDS
    assert snapshot(sandbox.root, skip) == before_files, "a file outside --out changed"
    if out.exists():
        for written in out.rglob("*"):
            assert written.resolve().is_relative_to(out.resolve())
            assert DNS_LABEL.fullmatch(written.relative_to(out).parts[0]), written
        shutil.rmtree(out)
    return codes


# --- structural mutations of valid documents ---------------------------------------------

_yaml = YAML(typ="safe", pure=True)


def _load(data: bytes) -> Any:
    return _yaml.load(data)


def _dump(value: Any) -> bytes:
    # a text stream: ruamel's emitter writes str to a bytes stream for a root literal scalar
    stream = io.StringIO()
    YAML(typ="safe", pure=True).dump(value, stream)
    return stream.getvalue().encode()


def _mutate(draw: st.DrawFn, value: Any, depth: int = 0) -> Any:
    """Descend to a random place and replace, delete, add or rename something there."""
    if isinstance(value, dict) and value and depth < 8 and draw(st.booleans()):
        key = draw(st.sampled_from(sorted(value, key=str)))
        copy = dict(value)
        copy[key] = _mutate(draw, value[key], depth + 1)
        return copy
    if isinstance(value, list) and value and depth < 8 and draw(st.booleans()):
        index = draw(st.integers(0, len(value) - 1))
        copy_list = list(value)
        copy_list[index] = _mutate(draw, value[index], depth + 1)
        return copy_list
    action = draw(st.sampled_from(["replace", "delete", "add", "rename"]))
    if isinstance(value, dict) and value and action in ("delete", "rename"):
        key = draw(st.sampled_from(sorted(value, key=str)))
        copy = dict(value)
        moved = copy.pop(key)
        if action == "rename":
            copy[draw(st.sampled_from(HOSTILE_STRINGS))] = moved
        return copy
    if isinstance(value, dict) and action == "add":
        copy = dict(value)
        copy[draw(st.sampled_from(HOSTILE_STRINGS))] = draw(st.sampled_from(HOSTILE_VALUES))
        return copy
    return draw(st.sampled_from(HOSTILE_VALUES))


@st.composite
def mutated_file(draw: st.DrawFn, originals: dict[str, bytes]) -> tuple[str, bytes]:
    target = draw(st.sampled_from(sorted(originals)))
    document = _load(originals[target])
    return target, _dump(_mutate(draw, document))


@st.composite
def byte_mutation(draw: st.DrawFn, originals: dict[str, bytes]) -> tuple[str, bytes]:
    target = draw(st.sampled_from(sorted(originals)))
    data = bytearray(originals[target])
    for _ in range(draw(st.integers(1, 6))):
        position = draw(st.integers(0, len(data)))
        kind = draw(st.sampled_from(["insert", "delete", "replace"]))
        chunk = draw(
            st.one_of(
                st.binary(min_size=1, max_size=8),
                st.sampled_from([b":", b"-", b"&a ", b"*a", b"!!python/object ", b"{", b"[", b"\t", b"'", b"\n  "]),
            )
        )
        if kind == "insert":
            data[position:position] = chunk
        elif kind == "delete":
            del data[position : position + len(chunk)]
        else:
            data[position : position + len(chunk)] = chunk
    return target, bytes(data)


FUZZ_SETTINGS = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
    database=None,
)


@pytest.mark.timeout(1800)
@FUZZ_SETTINGS
@given(data=st.data())
def test_structural_mutations_exit_2_located(
    data: st.DataObject, sandbox: Sandbox, reliability: ReliabilityCounters
) -> None:
    target, content = data.draw(mutated_file(sandbox.originals))
    check_case(sandbox, target, content, reliability)


@pytest.mark.timeout(1800)
@FUZZ_SETTINGS
@given(data=st.data())
def test_byte_mutations_exit_2_located(data: st.DataObject, sandbox: Sandbox, reliability: ReliabilityCounters) -> None:
    target, content = data.draw(byte_mutation(sandbox.originals))
    check_case(sandbox, target, content, reliability)


@pytest.mark.timeout(1800)
@settings(FUZZ_SETTINGS, max_examples=max(EXAMPLES // 2, 10))
@given(content=st.binary(max_size=4096), as_workflow=st.booleans())
def test_random_bytes_as_a_new_spec_file(
    content: bytes, as_workflow: bool, sandbox: Sandbox, reliability: ReliabilityCounters
) -> None:
    target = "workflows/fuzz-random.yaml" if as_workflow else "environments/fuzz-random.yaml"
    check_case(sandbox, target, content, reliability)
    (sandbox.repo / target).unlink(missing_ok=True)


@pytest.mark.parametrize("name", sorted(TEXT_CASES))
def test_hostile_yaml_text(name: str, sandbox: Sandbox, reliability: ReliabilityCounters) -> None:
    check_case(sandbox, "workflows/fuzz-text.yaml", TEXT_CASES[name], reliability)
    (sandbox.repo / "workflows/fuzz-text.yaml").unlink(missing_ok=True)


# --- names that try to leave their directory ---------------------------------------------

WORKFLOW = """\
apiVersion: gitops-agent.io/v1alpha1
kind: Workflow
metadata: {{name: {workflow}}}
spec:
  defaults: {{image: "registry.example.com/x:1"}}
  tasks:
    {task}: {{command: [run]}}
  services:
    {service}: {{command: [serve], ports: {{http: 8080}}}}
"""

ENVIRONMENT = """\
apiVersion: gitops-agent.io/v1alpha1
kind: Environment
metadata: {{name: {env}}}
spec:
  namespace: {namespace}
  branch: {branch}
  workflows: [fuzz]
  resources: {resources}
"""

TRAVERSALS = ['"../x"', '"../../etc"', '"/etc/passwd"', '"a/b"', '".."', '"x/../../y"', '"~root"']


def _workflow(workflow: str = "fuzz", task: str = "prep", service: str = "api") -> bytes:
    return WORKFLOW.format(workflow=workflow, task=task, service=service).encode()


def _environment(env: str = "fuzz", namespace: str = "fuzz", branch: str = "env/fuzz", resources: str = "[]") -> bytes:
    return ENVIRONMENT.format(env=env, namespace=namespace, branch=branch, resources=resources).encode()


NAME_CASES: list[tuple[str, bytes, bytes]] = [
    *[(f"workflow-name {t}", _workflow(workflow=t), _environment()) for t in TRAVERSALS],
    *[(f"task-name {t}", _workflow(task=t), _environment()) for t in TRAVERSALS],
    *[(f"service-name {t}", _workflow(service=t), _environment()) for t in TRAVERSALS],
    *[(f"env-name {t}", _workflow(), _environment(env=t)) for t in TRAVERSALS],
    *[(f"namespace {t}", _workflow(), _environment(namespace=t)) for t in TRAVERSALS],
    *[(f"resources {t}", _workflow(), _environment(resources=f"[{t}]")) for t in TRAVERSALS],
    *[
        (f"resources {r}", _workflow(), _environment(resources=r))
        for r in (
            '["manifests/../../../etc"]',
            '["manifests/common/../../.."]',
            '["."]',
            '[".git"]',
            '[".git/config"]',
            '["/"]',
        )
    ],
    *[
        (f"branch {b}", _workflow(), _environment(branch=b))
        for b in (
            '"../x"',
            '"env/../main"',
            '"/etc/passwd"',
            '"refs/heads/main"',
            '"env/dev.lock"',
            '"-d"',
            '"env//x"',
            '"env/x."',
            '"a b"',
            '"x@{1}"',
            '"env/x:y"',
            '"main"',
            '"HEAD"',
            '"refs/notes/gitops-agent"',
        )
    ],
]


@pytest.mark.parametrize(("label", "workflow", "environment"), NAME_CASES, ids=[c[0] for c in NAME_CASES])
def test_names_that_try_to_escape(
    label: str, workflow: bytes, environment: bytes, sandbox: Sandbox, reliability: ReliabilityCounters
) -> None:
    repo = sandbox.repo
    env_file = repo / "environments" / "fuzz.yaml"
    try:
        env_file.write_bytes(environment)
        sandbox.originals["environments/fuzz.yaml"] = environment
        codes = check_case(sandbox, "workflows/fuzz-names.yaml", workflow, reliability)
        assert 2 in codes, f"{label}: accepted by validate, compile --out and compile --commit"
    finally:
        sandbox.originals.pop("environments/fuzz.yaml", None)
        env_file.unlink(missing_ok=True)
        (repo / "workflows/fuzz-names.yaml").unlink(missing_ok=True)
        git(repo, "add", "-A", "workflows", "environments")
        git(repo, "commit", "-q", "--allow-empty", "-m", "clean up")


# Hostile manifests under an environment's resources: (read with the manifest bounds).
MANIFEST_CASES: dict[str, bytes] = {
    **TEXT_CASES,
    "manifest-over-16-mib": b"# " + b"x" * (16 * 1024 * 1024) + b"\n",
    "manifest-many-nodes": b"a: [" + b"1," * 2_000_001 + b"1]\n",
    "manifest-deep-flow": b"a: " + b"[" * 129 + b"]" * 129 + b"\n",
    "manifest-secret": b"apiVersion: v1\nkind: Secret\nmetadata: {name: s}\nstringData: {password: hunter2}\n",
    "manifest-duplicate-env": (
        b"apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers:\n"
        b"  - {name: a, image: x, env: [{name: A}, {name: A}]}\n"
    ),
    "manifest-namespace-bad-name": b"apiVersion: v1\nkind: Namespace\nmetadata: {name: ../../etc}\n",
    "manifest-list-of-garbage": b"apiVersion: v1\nkind: List\nitems: [1, [2], {kind: Namespace}, null]\n",
}


@pytest.mark.parametrize("name", sorted(MANIFEST_CASES))
def test_hostile_manifest_under_resources(name: str, sandbox: Sandbox, reliability: ReliabilityCounters) -> None:
    repo = sandbox.repo
    manifest = repo / "manifests" / "fuzz" / "bad.yaml"
    env_file = repo / "environments" / "fuzz.yaml"
    environment = _environment(resources='["manifests/fuzz/bad.yaml"]')
    try:
        manifest.parent.mkdir(parents=True, exist_ok=True)
        manifest.write_bytes(MANIFEST_CASES[name])
        git(repo, "add", "manifests")
        env_file.write_bytes(environment)
        sandbox.originals["environments/fuzz.yaml"] = environment
        check_case(sandbox, "workflows/fuzz-manifest.yaml", _workflow(), reliability)
    finally:
        sandbox.originals.pop("environments/fuzz.yaml", None)
        env_file.unlink(missing_ok=True)
        shutil.rmtree(manifest.parent, ignore_errors=True)
        (repo / "workflows/fuzz-manifest.yaml").unlink(missing_ok=True)
        git(repo, "add", "-A", "workflows", "environments", "manifests")
        git(repo, "commit", "-q", "--allow-empty", "-m", "clean up")


def test_branch_that_is_the_checked_out_branch_is_refused(sandbox: Sandbox) -> None:
    """An environment whose branch is the branch the specs live on would overwrite them."""
    repo = sandbox.repo
    env_file = repo / "environments" / "fuzz.yaml"
    try:
        env_file.write_bytes(_environment(branch="main"))
        (repo / "workflows/fuzz-names.yaml").write_bytes(_workflow())
        git(repo, "add", "-A", "workflows", "environments")
        git(repo, "commit", "-q", "-m", "environment on main")
        before = refs(repo)
        code, _, stderr = cli(["compile", "--repo", str(repo), "--commit", "--env", "fuzz"])
        assert code == 2, stderr
        assert "main" in stderr
        assert refs(repo) == before
    finally:
        env_file.unlink(missing_ok=True)
        (repo / "workflows/fuzz-names.yaml").unlink(missing_ok=True)
        git(repo, "add", "-A", "workflows", "environments")
        git(repo, "commit", "-q", "--allow-empty", "-m", "clean up")


def test_symlink_out_of_the_repository_is_not_copied(sandbox: Sandbox, reliability: ReliabilityCounters) -> None:
    """A committed symlink below an environment's ``resources:`` must not carry a host file
    (``/etc/passwd``, a credentials file of the CI runner …) into the environment branch."""
    repo = sandbox.repo
    leak = repo / "manifests" / "common" / "leak.yaml"
    outside = sandbox.sentinel / "nested" / "passwd"
    try:
        leak.symlink_to(outside)
        git(repo, "add", "manifests")
        git(repo, "commit", "-q", "-m", "symlink")
        reliability.add("fuzz cases")
        before = refs(repo)
        out = sandbox.next_out()
        for argv in (
            ["compile", "--repo", str(repo), "--out", str(out)],
            ["compile", "--repo", str(repo), "--commit"],
        ):
            code, stdout, stderr = cli(argv)
            assert code == 2, f"{argv}: exit {code}\n{stderr}"
            assert_located(code, stdout, stderr, argv)
            assert "leak.yaml" in stderr
        assert refs(repo) == before
        assert not any("root:x:0:0" in p.read_text(errors="replace") for p in out.rglob("*") if p.is_file())
    finally:
        leak.unlink(missing_ok=True)
        git(repo, "add", "-A", "manifests")
        git(repo, "commit", "-q", "--allow-empty", "-m", "clean up")


# --- the library functions directly ------------------------------------------------------


@pytest.mark.parametrize("name", sorted(TEXT_CASES))
def test_library_raises_only_spec_errors(name: str, tmp_path: Path, reliability: ReliabilityCounters) -> None:
    repo = make_gitops_repo(tmp_path / "repo")
    (repo / "workflows" / "bad.yaml").write_bytes(TEXT_CASES[name])
    reliability.add("fuzz cases")
    with time_bound(CASE_SECONDS):
        diagnostics = validate_paths(repo, None)
        assert all(FORMAT.match(str(d)) for d in diagnostics)
        try:
            specs = load_specs(repo)
        except SpecError as error:
            assert error.diagnostics
            return
        for env in specs.environments.values():
            with contextlib.suppress(InvalidInputError):
                compile_environment(specs, env, source_commit=None, repo_root=repo)


# --- bad flags ---------------------------------------------------------------------------

COMMANDS = ["validate", "compile", "render", "diff", "sync", "optimize", "plan", "audit", "rollback", "rerun"]
OPTIONS = [
    "--env",
    "-e",
    "--ref",
    "--prune",
    "--dry-run",
    "--wait",
    "--timeout",
    "--window",
    "--branch",
    "--base",
    "--head",
    "--format",
    "-f",
    "-o",
    "--since",
    "--to",
    "--no-fetch",
    "--force-conflicts",
    "--no-force-conflicts",
    "--workflow",
    "--allow-mass-prune",
    "--context",
    "--live",
    "--prometheus",
    "-v",
    "--commit",
    "--push",
    "--kubeconfig",
]
VALUES = [
    *HOSTILE_STRINGS[:24],
    "dev",
    "prod",
    "HEAD",
    "main",
    "env/dev",
    "json",
    "markdown",
    "text",
    "5m",
    "7d",
    "-1",
    "0",
    "99999999999999999999",
    "file:///etc/passwd",
    "http://127.0.0.1:1",
    "ftp://x",
    "http://[::1",
    "1970-01-01",
]


@pytest.mark.timeout(1800)
@settings(FUZZ_SETTINGS, max_examples=EXAMPLES * 2)
@given(
    command=st.sampled_from(COMMANDS),
    tokens=st.lists(st.one_of(st.sampled_from(OPTIONS), st.sampled_from(VALUES)), max_size=8),
)
def test_bad_flags_exit_cleanly(
    command: str,
    tokens: list[str],
    sandbox: Sandbox,
    reliability: ReliabilityCounters,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Random flags and values for every command that needs no running loop: exit 0-3,
    never an internal error or a traceback, nothing written outside the sandbox."""
    cwd = sandbox.root / "cwd"
    cwd.mkdir(exist_ok=True)
    monkeypatch.chdir(cwd)
    monkeypatch.setenv("KUBECONFIG", str(sandbox.root / "no-such-kubeconfig"))
    for variable in ("GITHUB_TOKEN", "GITHUB_REPOSITORY", "GITHUB_EVENT_PATH", "GITHUB_STEP_SUMMARY"):
        monkeypatch.delenv(variable, raising=False)
    # The session's control plane keeps writing its etcd data and logs beside the sandbox.
    live = (sandbox.root, *sandbox.root.parent.glob("kube-cluster*"))
    before_root = snapshot(sandbox.root.parent, live)
    reliability.add("fuzz cases")
    argv = [command, *tokens, "--repo", str(sandbox.repo)]
    with time_bound(CASE_SECONDS):
        code, stdout, stderr = cli(argv)
    assert code in (0, 1, 2, 3), f"{argv}: exit {code}\n{stderr}"
    assert "Traceback" not in stdout + stderr
    assert snapshot(sandbox.root.parent, live) == before_root
    assert not any(cwd.iterdir()), "a command wrote into the working directory"
    assert refs(sandbox.repo)["refs/heads/main"]
