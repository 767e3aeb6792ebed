"""``plan`` builds only what differs between base and head, and says exactly what rendering
both revisions whole says: the same Plan JSON (changes, diffs, fields, re-runs, unchanged
counts, notes) or the same error. Real git, real kustomize, the examples plus small workflows.

Each scenario names the environments that must be rendered whole (where the incremental plan
cannot show it gives the whole render's result); in the others, no unchanged workflow's slice
is built."""

from __future__ import annotations

import functools
import logging
import re
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from gitops_agent.compile import CompileMemo
from gitops_agent.errors import GitOpsAgentError
from gitops_agent.plan.build import compute_plan, render_environments
from gitops_agent.render import overlay as render_module
from tests.support.gitrepos import git, make_gitops_repo

pytestmark = pytest.mark.integration

SMALL = """apiVersion: gitops-agent.io/v1alpha1
kind: Workflow
metadata: {{name: {name}}}
spec:
  defaults: {{image: registry.example.com/{name}:1.0.0, resources: {{cpu: 100m, memory: 128Mi}}}}
  config:
    settings.yaml: |
      threshold: 0.9
  tasks:
    prepare: {{command: [python, -m, prepare], retries: 1, timeout: 30m}}
    {scheduled}: {{schedule: "15 2 * * *", command: [python, -m, evaluate], timeout: 1h}}
  services:
    {service}:
      command: [python, -m, serve]
      ports: {{http: 8080}}
      autoscale: {{min: 1, max: 4, cpuUtilization: 70}}
"""
SMALL_WORKFLOWS = ("wf-a", "wf-b", "wf-c")
WEBHOOK = """apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingWebhookConfiguration
metadata:
  name: classifier-guard
webhooks:
  - name: guard.example.com
    admissionReviewVersions: [v1]
    sideEffects: None
    clientConfig:
      service:
        name: classifier
        namespace: default
        path: {path}
    rules:
      - {{apiGroups: [""], apiVersions: [v1], operations: [CREATE], resources: [configmaps]}}
"""
SECRET = "apiVersion: v1\nkind: Secret\nmetadata:\n  name: api-token\ntype: Opaque\n"


def small(repo: Path, name: str, *, scheduled: str = "nightly", service: str | None = None) -> None:
    text = SMALL.format(name=name, scheduled=scheduled, service=service or f"{name}-api")
    (repo / "workflows" / f"{name}.yaml").write_text(text)


def edit(repo: Path, path: str, old: str, new: str) -> None:
    target = repo / path
    text = target.read_text()
    assert old in text, f"{old!r} not in {path}"
    target.write_text(text.replace(old, new, 1))


@dataclass(frozen=True)
class Scenario:
    change: Callable[[Path], None]
    whole: frozenset[str] = frozenset()
    """Environments the plan renders whole (both revisions)."""
    base: Callable[[Path], None] | None = None
    """A change to the base revision first."""
    env: tuple[str, ...] = field(default=())


def _rename(repo: Path) -> None:
    (repo / "workflows" / "wf-c.yaml").unlink()
    small(repo, "wf-z", service="wf-c-api")


def _clashing_base(repo: Path) -> None:
    """wf-a's scheduled task ``x-nightly`` and wf-a-x's ``nightly``: CronJob wf-a-x-nightly twice;
    dev's override of wf-a's CronJob is a patch that also targets wf-a-x's."""
    small(repo, "wf-a", scheduled="x-nightly")
    small(repo, "wf-a-x")
    override = '    wf-a: {tasks: {x-nightly: {schedule: "0 3 * * *"}}}\n'
    edit(repo, "environments/dev.yaml", "  overrides:\n", "  overrides:\n" + override)


def _webhook(path: str) -> Callable[[Path], None]:
    def write(repo: Path) -> None:
        (repo / "manifests" / "common" / "webhook.yaml").write_text(WEBHOOK.format(path=path))

    return write


def _add_environment(repo: Path) -> None:
    shutil.copy(repo / "environments" / "staging.yaml", repo / "environments" / "qa.yaml")
    edit(repo, "environments/qa.yaml", "name: staging}", "name: qa}")
    edit(repo, "environments/qa.yaml", "namespace: ml-staging", "namespace: ml-qa")
    edit(repo, "environments/qa.yaml", "branch: env/staging", "branch: env/qa")


def _webhook_changed(repo: Path) -> None:
    _webhook("/validate-v2")(repo)
    edit(repo, "workflows/wf-b.yaml", "threshold: 0.9", "threshold: 0.8")


ALL = frozenset({"dev", "staging", "prod"})
SCENARIOS: dict[str, Scenario] = {
    "one-workflow-changed": Scenario(lambda r: edit(r, "workflows/wf-b.yaml", "threshold: 0.9", "threshold: 0.8")),
    "workflow-added": Scenario(lambda r: small(r, "wf-d")),
    "workflow-removed": Scenario(lambda r: (r / "workflows" / "fraud-risk-scoring.yaml").unlink()),
    "workflow-renamed": Scenario(_rename),
    "task-re-runs": Scenario(lambda r: edit(r, "workflows/wf-a.yaml", "[python, -m, prepare]", "[python, -m, prep]")),
    "override-changed": Scenario(
        lambda r: edit(
            r, "environments/prod.yaml", "{replicas: 4, autoscale: {min: 4,", "{replicas: 6, autoscale: {min: 6,"
        )
    ),
    "environment-labels-changed": Scenario(
        lambda r: edit(r, "environments/staging.yaml", "labels: {env: staging}", "labels: {env: staging, team: ml}"),
        whole=frozenset({"staging"}),
    ),
    "image-pin-changed": Scenario(
        lambda r: edit(r, "environments/prod.yaml", "imgrec: 1.4.1", "imgrec: 1.4.2"), whole=frozenset({"prod"})
    ),
    "workflow-selected": Scenario(
        lambda r: edit(r, "environments/prod.yaml", "customer-service-agent]", "customer-service-agent, wf-a]")
    ),
    "secret-added": Scenario(lambda r: (r / "manifests" / "common" / "secret.yaml").write_text(SECRET)),
    "secret-with-values": Scenario(
        lambda r: (r / "manifests" / "common" / "secret.yaml").write_text(SECRET + "data: {token: c2VjcmV0}\n"),
        whole=ALL,
    ),
    "environment-added": Scenario(_add_environment),
    "environment-removed": Scenario(lambda r: (r / "environments" / "staging.yaml").unlink()),
    "clash-of-a-changed-and-an-unchanged-workflow": Scenario(
        lambda r: small(r, "wf-a-x"),
        whole=frozenset({"dev", "staging"}),
        base=lambda r: small(r, "wf-a", scheduled="x-nightly"),
    ),
    "clash-and-patch-across-unchanged-workflows": Scenario(
        lambda r: edit(r, "workflows/wf-b.yaml", "threshold: 0.9", "threshold: 0.8"),
        whole=frozenset({"dev", "staging"}),
        base=_clashing_base,
    ),
    "webhook-naming-an-unchanged-service": Scenario(_webhook_changed, whole=ALL, base=_webhook("/validate")),
    "invalid-head-spec": Scenario(
        lambda r: edit(r, "workflows/wf-b.yaml", "  tasks:\n", "  tasks:\n    bad_name: {}\n")
    ),
    "resource-collides-with-an-unchanged-workflow": Scenario(
        lambda r: (r / "manifests" / "common" / "config.yaml").write_text(
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: wf-a-config}\n"
        ),
        whole=frozenset({"dev", "staging"}),  # prod does not deploy wf-a
    ),
    "nothing-changed": Scenario(lambda r: (r / "README.md").write_text("notes\n")),
    "one-environment-selected": Scenario(
        lambda r: edit(r, "workflows/wf-b.yaml", "threshold: 0.9", "threshold: 0.8"), env=("staging",)
    ),
}

WHOLE = functools.partial(render_environments, cache=None)
_TEMPORARY = re.compile(r"/tmp/[^ :]*gitops-agent-[a-z]+-[^/ :]+")


def commit(repo: Path, message: str) -> str:
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "--allow-empty", "-m", message)
    return git(repo, "rev-parse", "HEAD")


def history(tmp_path: Path, scenario: Scenario) -> tuple[Path, str, str]:
    repo = make_gitops_repo(tmp_path / "repo")
    for name in SMALL_WORKFLOWS:
        small(repo, name)
    if scenario.base is not None:
        scenario.base(repo)
    base = commit(repo, "base")
    scenario.change(repo)
    return repo, base, commit(repo, "head")


def outcome(plan: Callable[[], Any]) -> dict[str, Any]:
    """The Plan's JSON, or the error (temporary directories left out of its message)."""
    try:
        return {"plan": plan().to_json()}
    except GitOpsAgentError as error:
        return {"error": type(error).__name__, "exit": error.exit_code, "message": _TEMPORARY.sub("<tmp>", str(error))}


def whole_environments(caplog: pytest.LogCaptureFixture) -> set[str]:
    found = (re.match(r"plan: environment (\S+) rendered whole", r.getMessage()) for r in caplog.records)
    return {match.group(1) for match in found if match}


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_the_plan_equals_the_plan_of_both_revisions_rendered_whole(
    name: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    scenario = SCENARIOS[name]
    repo, base, head = history(tmp_path, scenario)
    whole = outcome(
        lambda: compute_plan(
            repo, base, head, environments=scenario.env, render=functools.partial(WHOLE, memo=CompileMemo())
        )
    )
    caplog.set_level(logging.DEBUG, logger="gitops_agent.plan.build")
    cold = outcome(lambda: compute_plan(repo, base, head, environments=scenario.env))  # empty render cache
    assert cold == whole
    assert whole_environments(caplog) == scenario.whole
    caplog.clear()
    assert outcome(lambda: compute_plan(repo, base, head, environments=scenario.env)) == whole  # slices cached


def test_a_change_to_one_workflow_builds_that_workflow_s_slice_and_then_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo, base, head = history(tmp_path, SCENARIOS["one-workflow-changed"])
    builds: list[set[str]] = []
    real = render_module._render_files

    def counted(files: Any, env_name: str) -> Any:
        builds.append({path.split("/")[1] for path in files if path.startswith("base/")})
        return real(files, env_name)

    monkeypatch.setattr(render_module, "_render_files", counted)
    first = compute_plan(repo, base, head)
    assert builds and set().union(*builds) == {"wf-b"}  # base's and head's; the rest of each overlay too
    builds.clear()
    assert compute_plan(repo, base, head) == first
    assert builds == []  # every slice from the render cache


def test_a_revision_planned_against_itself_equals_the_whole_render(tmp_path: Path) -> None:
    repo, base, _ = history(tmp_path, SCENARIOS["nothing-changed"])
    whole = outcome(lambda: compute_plan(repo, base, base, render=functools.partial(WHOLE, memo=CompileMemo())))
    assert outcome(lambda: compute_plan(repo, base, base)) == whole
    assert not whole["plan"]["changed"]
    assert all(env["summary"]["unchanged"] > 0 for env in whole["plan"]["environments"])
