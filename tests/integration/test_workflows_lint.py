"""The GitHub Actions workflows (this repository's and the ones `init` writes) lint clean."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
WORKFLOWS = ROOT / ".github" / "workflows"
TEMPLATES = ROOT / "templates" / "github"
REUSABLE = ("gitops-validate-plan.yml", "gitops-deploy.yml", "gitops-optimize.yml")
REMOTE_USES = re.compile(r"uses: [\w.-]+/[\w.-]+/\.github/workflows/([\w.-]+\.yml)@[\w.-]+")


@pytest.fixture(scope="module")
def actionlint() -> Path:
    """The actionlint binary, built from its Go module by tools/actionlint.sh when missing."""
    out = subprocess.run([str(ROOT / "tools" / "actionlint.sh")], capture_output=True, text=True, check=True)
    path = Path(out.stdout.strip().splitlines()[-1])
    assert path.is_file(), out.stderr
    return path


def _lint(actionlint: Path, cwd: Path, files: list[Path]) -> subprocess.CompletedProcess[str]:
    assert files
    return subprocess.run(
        [str(actionlint), "-no-color", *map(str, files)],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
    )


def _load(path: Path) -> Any:
    return YAML(typ="safe").load(path.read_text())


def _caller_repo(tmp_path: Path, templates: dict[str, str]) -> Path:
    """A repository with the reusable workflows and the callers pointing at them locally."""
    repo = tmp_path / "repo"
    target = repo / ".github" / "workflows"
    target.mkdir(parents=True)
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    for name in REUSABLE:
        shutil.copy(WORKFLOWS / name, target / name)
    for name, text in templates.items():
        local = REMOTE_USES.sub(r"uses: ./.github/workflows/\1", text)
        (target / f"caller-{name}").write_text(local)
    return repo


def test_repository_workflows_lint_clean(actionlint: Path) -> None:
    files = sorted(WORKFLOWS.glob("*.yml"))
    assert {f.name for f in files} >= {"ci.yml", *REUSABLE}
    result = _lint(actionlint, ROOT, files)
    assert result.returncode == 0, result.stdout + result.stderr


def test_init_templates_lint_clean(actionlint: Path) -> None:
    files = sorted(TEMPLATES.glob("*.yml"))
    assert len(files) == 3
    result = _lint(actionlint, ROOT, files)
    assert result.returncode == 0, result.stdout + result.stderr


def test_templates_call_the_reusable_workflows_with_declared_inputs(actionlint: Path, tmp_path: Path) -> None:
    templates = {f.name: f.read_text() for f in sorted(TEMPLATES.glob("*.yml"))}
    called = {m.group(1) for text in templates.values() for m in REMOTE_USES.finditer(text)}
    assert called == set(REUSABLE)
    repo = _caller_repo(tmp_path, templates)
    result = _lint(actionlint, repo, sorted((repo / ".github" / "workflows").glob("*.yml")))
    assert result.returncode == 0, result.stdout + result.stderr


def test_actionlint_rejects_an_undeclared_input(actionlint: Path, tmp_path: Path) -> None:
    text = (TEMPLATES / "gitops-plan.yml").read_text().replace("version:", "no-such-input:")
    repo = _caller_repo(tmp_path, {"gitops-plan.yml": text})
    result = _lint(actionlint, repo, [repo / ".github" / "workflows" / "caller-gitops-plan.yml"])
    assert result.returncode == 1
    assert "no-such-input" in result.stdout


def test_every_job_has_minimal_permissions() -> None:
    for path in [*WORKFLOWS.glob("*.yml"), *TEMPLATES.glob("*.yml")]:
        document = _load(path)
        assert document["permissions"] == {}, f"{path.name}: workflow-level permissions not {{}}"
        for name, job in document["jobs"].items():
            assert "permissions" in job, f"{path.name}: job {name} has no permissions"
            assert all(v in {"read", "write"} for v in job["permissions"].values())
            assert "write-all" not in str(job["permissions"])


def test_deploy_syncs_each_environment_in_order_under_github_environments() -> None:
    deploy = _load(WORKFLOWS / "gitops-deploy.yml")
    jobs = deploy["jobs"]
    assert "workflow_call" in deploy["on"]
    assert "--commit --push" in jobs["compile"]["steps"][-1]["run"]
    for env in ("dev", "staging", "prod"):
        assert jobs[env]["environment"] == f"${{{{ inputs.{env} }}}}"
        assert 'gitops-agent sync "$ENVIRONMENT"' in jobs[env]["steps"][-1]["run"]
        assert "compile" in jobs[env]["needs"]
    assert "staging" in jobs["prod"]["needs"]
    assert "dev" in jobs["staging"]["needs"]
    assert jobs["compile"]["permissions"] == {"contents": "write"}


def test_plan_and_optimize_reusable_workflows_run_the_agent() -> None:
    plan = _load(WORKFLOWS / "gitops-validate-plan.yml")
    steps = plan["jobs"]["plan"]["steps"]
    assert any("gitops-agent validate" in s.get("run", "") for s in steps)
    assert any("gitops-agent plan" in s.get("run", "") for s in steps)
    assert plan["jobs"]["plan"]["permissions"] == {"contents": "read", "pull-requests": "write"}
    optimize = _load(WORKFLOWS / "gitops-optimize.yml")
    run = optimize["jobs"]["optimize"]["steps"][-1]["run"]
    assert "gitops-agent optimize" in run and "--pr" in run
    schedule = _load(TEMPLATES / "gitops-optimize.yml")["on"]["schedule"]
    assert schedule and len(schedule[0]["cron"].split()) == 5


def test_init_writes_the_caller_workflows_and_they_lint_clean(actionlint: Path, tmp_path: Path) -> None:
    from gitops_agent.cli import run

    target = tmp_path / "new-gitops-repo"
    assert run(["init", str(target)]) == 0
    written = sorted((target / ".github" / "workflows").glob("*.yml"))
    assert [f.name for f in written] == sorted(f.name for f in TEMPLATES.glob("*.yml"))
    subprocess.run(["git", "init", "-q", str(target)], check=True)
    result = _lint(actionlint, target, written)
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_flag_the_workflows_pass_is_one_the_command_has(capsys: pytest.CaptureFixture[str]) -> None:
    from gitops_agent.cli import run

    used: dict[str, set[str]] = {}
    for path in sorted(WORKFLOWS.glob("gitops-*.yml")):
        for job in _load(path)["jobs"].values():
            for step in job["steps"]:
                script = step.get("run", "")
                commands = set(re.findall(r"gitops-agent ([a-z]+)", script))
                if not commands:
                    continue
                assert len(commands) == 1, f"{path.name}: one gitops-agent command per step"
                (command,) = commands
                used.setdefault(command, set()).update(re.findall(r"(?<![\w-])--[a-z][a-z-]*", script))
    assert set(used) == {"validate", "plan", "compile", "sync", "optimize"}
    for command, flags in sorted(used.items()):
        capsys.readouterr()
        assert run([command, "--help"]) == 0
        help_text = capsys.readouterr().out
        for flag in sorted(flags):
            assert flag in help_text, f"gitops-agent {command} has no {flag}"
