"""The command line's contract for init/validate/compile/render: exit codes, JSON, messages."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from gitops_agent import __version__
from gitops_agent.cli import EXIT_INTERNAL, run
from tests.support.gitrepos import git, make_gitops_repo

LOCATED = re.compile(r"^[^:\s]+:\d+:\d+: \S+: .+$")


def test_validate_reports_located_errors_and_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    repo = make_gitops_repo(tmp_path / "repo")
    path = repo / "workflows" / "fraud-risk-scoring.yaml"
    path.write_text(path.read_text().replace("dependsOn: [score]", "dependsOn: [scor]"))
    assert run(["validate", "--repo", str(repo)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err and all(LOCATED.match(line) for line in err)
    assert any(line.startswith("workflows/fraud-risk-scoring.yaml:") and "dependsOn" in line for line in err)


def test_validate_json_output_is_one_document(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    repo = make_gitops_repo(tmp_path / "repo")
    assert run(["validate", "--repo", str(repo), "-o", "json"]) == 0
    assert json.loads(capsys.readouterr().out) == {"valid": True, "errors": [], "agentVersion": __version__}


def test_bad_flag_is_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["compile", "--no-such-flag"]) == 2


def test_unknown_environment_is_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    repo = make_gitops_repo(tmp_path / "repo")
    assert run(["compile", "--repo", str(repo), "--env", "qa"]) == 2
    assert "--env qa: no such environment" in capsys.readouterr().err


def test_render_without_branch_explains_what_to_do(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    repo = make_gitops_repo(tmp_path / "repo")
    assert run(["render", "dev", "--repo", str(repo)]) == 2
    assert "compile --commit" in capsys.readouterr().err


def test_compile_out_and_render_source_agree(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    repo = make_gitops_repo(tmp_path / "repo")
    out = tmp_path / "out"
    assert run(["compile", "--repo", str(repo), "--out", str(out), "-o", "json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert [e["environment"] for e in report["environments"]] == ["dev", "prod", "staging"]
    assert (out / "dev" / "overlays" / "dev" / "kustomization.yaml").exists()
    assert run(["render", "dev", "--source", "--repo", str(repo), "-o", "json"]) == 0
    rendered = json.loads(capsys.readouterr().out)
    assert rendered["environment"] == "dev" and len(rendered["objects"]) > 20


def test_render_reads_the_branch(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    repo = make_gitops_repo(tmp_path / "repo")
    assert run(["compile", "--commit", "--repo", str(repo)]) == 0
    capsys.readouterr()
    assert run(["render", "prod", "--repo", str(repo), "-o", "json"]) == 0
    rendered = json.loads(capsys.readouterr().out)
    assert rendered["revision"] == git(repo, "rev-parse", "env/prod")
    assert {o["metadata"].get("namespace") for o in rendered["objects"]} == {None, "ml-prod"}


def test_init_scaffolds_a_valid_repository(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "new"
    assert run(["init", str(target)]) == 0
    assert (target / ".git").exists() and (target / ".github" / "workflows").is_dir()
    assert run(["validate", "--repo", str(target)]) == 0
    assert run(["init", str(target)]) == 2  # refuses to overwrite


def test_internal_error_gives_a_short_message_and_a_log(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import gitops_agent.commands.validate as validate_module

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(validate_module, "validate_paths", broken)
    (tmp_path / "workflows").mkdir()
    (tmp_path / "workflows" / "w.yaml").write_text("kind: Workflow\n")  # a spec to validate
    assert run(["validate", "--repo", str(tmp_path)]) == EXIT_INTERNAL
    err = capsys.readouterr().err
    assert "Traceback" not in err
    log = Path(err.split("traceback in ")[1].rstrip(")\n"))
    assert "RuntimeError: boom" in log.read_text()


def test_an_unreadable_path_is_a_located_error_not_a_crash(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    repo = make_gitops_repo(tmp_path / "repo")
    assert run(["validate", "a" * 300, "--repo", str(repo)]) == 2
    err = capsys.readouterr().err
    assert "cannot read path: File name too long" in err and "internal error" not in err


def test_version_flag(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"gitops-agent {__version__}"


@pytest.mark.parametrize("command", ["validate", "compile", "render", "plan", "diff", "sync", "reconcile",
                                     "rerun", "optimize", "audit", "rollback", "init"])
def test_help_uses_plain_placeholders(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert run([command, "--help"]) == 0
    text = capsys.readouterr().out
    assert not re.search(r"<(bool|str|int|float|path)>|\{[A-Za-z_]+\}", text), text
    if command == "sync":
        assert "--timeout TIMEOUT" in text and "--prune " in text and "Usage: gitops-agent sync [OPTIONS] ENV" in text


def test_shell_completion_is_offered(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["--help"]) == 0
    assert "--install-completion" in capsys.readouterr().out


def test_process_started_counts_interpreter_start_and_imports() -> None:
    """A command's time starts with its process, not with the first gitops_agent import."""
    import subprocess
    import sys

    probe = (
        "import time; time.sleep(0.8)\n"
        "import gitops_agent\n"
        "from gitops_agent.commands.common import process_started\n"
        "print(gitops_agent.IMPORTED_AT - process_started(), time.monotonic() - process_started())\n"
    )
    before_import, age = map(float, subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                                                   check=True).stdout.split())
    assert before_import >= 0.75  # the sleep happened before the import, after the process started
    assert age >= before_import
    assert age < 60  # the process's own start, not the machine's boot


def test_a_command_imports_only_its_own_module() -> None:
    """Start-up pays for the command that runs, not for every command (0.6 -> 0.4 CPU-s)."""
    import subprocess
    import sys

    probe = (
        "import contextlib, io, sys\n"
        "from gitops_agent.cli import run\n"
        "with contextlib.redirect_stdout(io.StringIO()): code = run(['sync', '--help'])\n"
        "print(code, sorted(m for m in sys.modules if m.startswith('gitops_agent.commands.')))\n"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    assert out.startswith("0 ")
    for other in ("audit", "optimize", "plan", "reconcile", "init", "compile", "validate"):
        assert f"gitops_agent.commands.{other}'" not in out
    assert "gitops_agent.commands.sync'" in out


@pytest.mark.parametrize("command", ["diff", "sync", "render", "reconcile", "rollback"])
def test_the_cluster_commands_load_no_diff_library_until_something_changed(command: str) -> None:
    """deepdiff (and the numpy and pydantic it loads) is most of a command's imports; it is
    needed only to list the fields of an object that changed."""
    import subprocess
    import sys

    probe = (
        "import sys, importlib\n"
        f"importlib.import_module('gitops_agent.commands.{command}')\n"
        "print(sorted(m for m in ('deepdiff', 'numpy', 'pydantic') if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
    from gitops_agent.reconcile.review import field_changes

    changes = field_changes({"data": {"a": "1"}}, {"data": {"a": "2"}})
    assert [(c.path, c.old, c.new) for c in changes] == [("data.a", "1", "2")]


def test_help_lists_every_command_in_order_after_one_ran(capsys: pytest.CaptureFixture[str]) -> None:
    from gitops_agent.cli import COMMANDS

    assert run(["diff", "--help"]) == 0
    capsys.readouterr()
    assert run(["--help"]) == 0
    commands_section = capsys.readouterr().out.split("Commands:", 1)[1]
    listed = re.findall(r"^  (\w+) ", commands_section, flags=re.MULTILINE)
    assert listed == list(COMMANDS)
    assert run(["difff"]) == 2
    assert "Did you mean 'diff'?" in capsys.readouterr().err


def test_text_output_makes_unified_diffs_only_for_updates(capsys: pytest.CaptureFixture[str]) -> None:
    """A first diff or sync prints thousands of creates: none of them pays for a diff it never shows."""
    from gitops_agent.commands.common import OutputFormat
    from gitops_agent.commands.format import print_change_set
    from gitops_agent.reconcile.changeset import Action, Change, ChangeSet
    from gitops_agent.vocabulary.objects import ObjectRef

    class Sides:
        made: list[str] = []
        live = None  # no field changes to list: only the unified diff is under test
        predicted = None

        def __init__(self, name: str) -> None:
            self.name = name

        def unified(self) -> str:
            Sides.made.append(self.name)
            return f"--- live\n+++ git\n-old {self.name}\n+new {self.name}\n"

    def change(name: str, action: Action) -> Change:
        ref = ObjectRef("", "v1", "ConfigMap", "ml", name)
        return Change(ref, action, 1, sides=Sides(name))  # type: ignore[arg-type]

    creates = [change(f"c{i}", Action.CREATE) for i in range(3)]
    changes = (*creates, change("u", Action.UPDATE), change("d", Action.DELETE), change("x", Action.ERROR))
    print_change_set(ChangeSet("dev", "abc", changes), OutputFormat.TEXT)
    out = capsys.readouterr().out
    assert Sides.made == ["u"]
    assert "+new u" in out and "new c0" not in out


def test_rerun_refuses_a_task_name_two_workflows_share(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    repo = make_gitops_repo(tmp_path / "repo")
    original = (repo / "workflows" / "image-recognition.yaml").read_text()
    (repo / "workflows" / "churn.yaml").write_text(original.replace("name: image-recognition", "name: churn", 1)
                                                   .replace("classifier", "churn-api"))
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "a second workflow with a train task")
    assert run(["compile", "--repo", str(repo), "--env", "dev", "--commit"]) == 0
    capsys.readouterr()
    assert run(["rerun", "dev", "train", "--repo", str(repo)]) == 2
    assert "say which: churn/train, image-recognition/train" in capsys.readouterr().err
    assert run(["rerun", "dev", "churn/train", "--repo", str(repo), "-o", "json"]) == 0
    requested = json.loads(capsys.readouterr().out)["runs"]
    assert [(r["workflow"], r["task"], r["outcome"]) for r in requested] == [("churn", "train", "rerun-requested")]


def test_logs_follow_the_current_stderr_after_the_old_one_is_closed(monkeypatch: pytest.MonkeyPatch) -> None:
    """A host that replaces and closes sys.stderr after a command configured logging (as a test
    runner's capture does between tests) gets no 'Logging error' traceback: the record goes to
    the stderr of the moment it is emitted."""
    import io
    import logging

    from gitops_agent.commands.common import configure_logging

    first = io.StringIO()
    monkeypatch.setattr("sys.stderr", first)
    configure_logging(False)
    first.close()
    second = io.StringIO()
    monkeypatch.setattr("sys.stderr", second)
    logging.getLogger("gitops_agent.test").warning("still heard")
    assert second.getvalue() == "still heard\n"


@pytest.mark.parametrize(
    ("given", "extra", "fragment"),
    [
        ("/train", [], "expected TASK, WORKFLOW/TASK"),  # was read as train of any workflow
        ("churn/", [], "expected TASK, WORKFLOW/TASK"),
        ("churn/train/x", [], "expected TASK, WORKFLOW/TASK"),
        ("image-recognition/train", ["--workflow", "churn"], "but --workflow is 'churn'"),  # --workflow was ignored
    ],
)
def test_rerun_refuses_a_malformed_or_contradicted_workflow_task(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], given: str, extra: list[str], fragment: str
) -> None:
    repo = make_gitops_repo(tmp_path / "repo")
    assert run(["compile", "--repo", str(repo), "--env", "dev", "--commit"]) == 0
    notes = git(repo, "for-each-ref", "refs/notes")
    capsys.readouterr()
    assert run(["rerun", "dev", given, *extra, "--repo", str(repo)]) == 2
    err = capsys.readouterr().err
    assert fragment in err and "Traceback" not in err
    assert git(repo, "for-each-ref", "refs/notes") == notes  # nothing recorded


BAD_URLS = [
    ("http://[::1", "must be an http:// or https:// URL (invalid IPv6 URL)"),
    ("http://prometheus:99999", "must be an http:// or https:// URL (port out of range 0-65535)"),
    ("http://prometheus:abc", "must be an http:// or https:// URL (port could not be cast"),
    ("ftp://prometheus", "must be an http:// or https:// URL"),
    ("prometheus:9090", "must be an http:// or https:// URL"),
    ("http:///api", "must name a host"),
]


@pytest.mark.parametrize(("url", "fragment"), BAD_URLS)
def test_a_malformed_prometheus_url_is_bad_input_not_an_unreachable_server(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], url: str, fragment: str
) -> None:
    """A mistyped --prometheus was exit 3, 'cannot connect' or 'malformed answer to <query>'."""
    repo = make_gitops_repo(tmp_path / "repo")
    assert run(["optimize", "dev", "--repo", str(repo), "--prometheus", url]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: --prometheus {url}: {fragment}"), lines


@pytest.mark.parametrize(("url", "fragment"), [u for u in BAD_URLS if u[0].startswith("http")])
def test_a_malformed_prometheus_url_in_an_environment_is_located(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], url: str, fragment: str
) -> None:
    repo = make_gitops_repo(tmp_path / "repo")
    path = repo / "environments" / "dev.yaml"
    text = path.read_text()
    assert 'prometheus: {url: "http://127.0.0.1:9090"}' in text
    path.write_text(text.replace('prometheus: {url: "http://127.0.0.1:9090"}', f"prometheus: {{url: '{url}'}}"))
    assert run(["validate", "--repo", str(repo)]) == 2
    err = capsys.readouterr().err
    assert re.search(rf"environments/dev\.yaml:\d+:\d+: spec\.prometheus\.url: {re.escape(fragment)}", err), err


@pytest.mark.parametrize("command", [["rerun", "dev", "train"], ["render", "dev"]])
@pytest.mark.parametrize("ref", ["env/prod", "main"])
def test_a_ref_outside_the_environment_branch_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], command: list[str], ref: str
) -> None:
    """Another environment's commit (or main's) was rendered as this environment's: 'no
    kustomization.yaml' under a temporary path, or, with an overlay there, the wrong objects."""
    repo = make_gitops_repo(tmp_path / "repo")
    assert run(["compile", "--repo", str(repo), "--commit"]) == 0
    notes = git(repo, "for-each-ref", "refs/notes")
    sha = git(repo, "rev-parse", ref).strip()
    capsys.readouterr()
    assert run([*command, "--ref", ref, "--repo", str(repo)]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert lines == [f"error: --ref {ref}: {sha[:12]} is not on branch env/dev of environment dev"]
    assert git(repo, "for-each-ref", "refs/notes") == notes
    assert run([*command, "--ref", "env/dev", "--repo", str(repo)]) == 0  # the branch's own commit


def test_other_libraries_info_logs_stay_out_of_stderr(monkeypatch: pytest.MonkeyPatch) -> None:
    """gitops-agent's INFO lines are shown; an embedded library's INFO (an HTTP server's request
    lines) is not, unless -v."""
    import io
    import logging

    from gitops_agent.commands.common import configure_logging

    stream = io.StringIO()
    monkeypatch.setattr("sys.stderr", stream)
    configure_logging(False)
    logging.getLogger("embedded.httpserver").info('127.0.0.1 - - "GET /api/v1/query"')
    logging.getLogger("gitops_agent.reconcile.loop").info("round finished")
    logging.getLogger("embedded.httpserver").warning("a library's warning")
    assert stream.getvalue() == "round finished\na library's warning\n"
    configure_logging(True)
    logging.getLogger("embedded.httpserver").debug("detail")
    assert stream.getvalue().endswith("detail\n")
