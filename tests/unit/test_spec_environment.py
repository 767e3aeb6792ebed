"""Environment rules and cross-file checks: selected workflows exist, overrides name
existing workflows/tasks/services and stay valid once merged, service names do not clash
inside an environment, names and branches are unique."""

from __future__ import annotations

from pathlib import Path

from tests.unit.specs.helpers import VALID_ENVIRONMENT, VALID_WORKFLOW, assert_only, diagnose

E = "environments/dev.yaml"


def env_problems(root: Path, text: str, **extra: str) -> list:  # type: ignore[type-arg]
    files = {"workflows/wf.yaml": VALID_WORKFLOW, E: text, **extra}
    return diagnose(root, files)


def test_valid_environment(tmp_path: Path) -> None:
    assert env_problems(tmp_path, VALID_ENVIRONMENT) == []


def test_namespace_and_branch_are_required(tmp_path: Path) -> None:
    found = env_problems(
        tmp_path,
        """\
        apiVersion: gitops-agent.io/v1alpha1
        kind: Environment
        metadata: {name: dev}
        spec:
          branch: env/dev
        """,
    )
    assert_only(found, E, 4, 1, "spec.namespace", "'namespace' is missing")


def test_branch_must_be_a_valid_git_branch(tmp_path: Path) -> None:
    found = env_problems(
        tmp_path,
        """\
        apiVersion: gitops-agent.io/v1alpha1
        kind: Environment
        metadata: {name: dev}
        spec:
          namespace: ml-dev
          branch: env/dev..x
        """,
    )
    assert_only(found, E, 6, 11, "spec.branch", "git branch name")


def test_selected_workflow_must_exist(tmp_path: Path) -> None:
    found = env_problems(
        tmp_path,
        """\
        apiVersion: gitops-agent.io/v1alpha1
        kind: Environment
        metadata: {name: dev}
        spec:
          namespace: ml-dev
          branch: env/dev
          workflows: [wf, image-recognition]
        """,
    )
    assert_only(found, E, 7, 19, "spec.workflows[1]", "unknown workflow 'image-recognition'")


def test_image_tag_that_yaml_reads_as_a_number_must_be_quoted(tmp_path: Path) -> None:
    found = env_problems(
        tmp_path,
        """\
        apiVersion: gitops-agent.io/v1alpha1
        kind: Environment
        metadata: {name: dev}
        spec:
          namespace: ml-dev
          branch: env/dev
          images:
            registry.example.com/app: 1.10
        """,
    )
    assert_only(found, E, 8, 31, "spec.images.registry.example.com/app", "quoted")


def test_sync_fields_are_checked(tmp_path: Path) -> None:
    found = env_problems(
        tmp_path,
        """\
        apiVersion: gitops-agent.io/v1alpha1
        kind: Environment
        metadata: {name: dev}
        spec:
          namespace: ml-dev
          branch: env/dev
          sync: {prune: true, maxPrunePercent: 150, selfheal: true}
        """,
    )
    assert [(d.line, d.col, d.field) for d in found] == [
        (7, 40, "spec.sync.maxPrunePercent"),
        (7, 45, "spec.sync.selfheal"),
    ]
    assert "did you mean 'selfHeal'" in found[1].message


def test_extra_resources_must_exist(tmp_path: Path) -> None:
    (tmp_path / "manifests" / "common").mkdir(parents=True)
    found = env_problems(
        tmp_path,
        """\
        apiVersion: gitops-agent.io/v1alpha1
        kind: Environment
        metadata: {name: dev}
        spec:
          namespace: ml-dev
          branch: env/dev
          resources: [manifests/common, manifests/rbac.yaml]
        """,
    )
    assert_only(found, E, 7, 33, "spec.resources[1]", "does not exist")


def test_override_of_unknown_workflow(tmp_path: Path) -> None:
    found = env_problems(
        tmp_path,
        """\
        apiVersion: gitops-agent.io/v1alpha1
        kind: Environment
        metadata: {name: dev}
        spec:
          namespace: ml-dev
          branch: env/dev
          overrides:
            wf2: {}
        """,
    )
    assert_only(found, E, 8, 5, "spec.overrides.wf2", "unknown workflow 'wf2'")


def test_override_cannot_invent_a_task_or_service(tmp_path: Path) -> None:
    found = env_problems(
        tmp_path,
        """\
        apiVersion: gitops-agent.io/v1alpha1
        kind: Environment
        metadata: {name: dev}
        spec:
          namespace: ml-dev
          branch: env/dev
          overrides:
            wf:
              tasks:
                prepare: {retries: 3}
              services:
                apii: {replicas: 2}
        """,
    )
    assert [(d.line, d.col, d.field) for d in found] == [
        (10, 9, "spec.overrides.wf.tasks.prepare"),
        (12, 9, "spec.overrides.wf.services.apii"),
    ]
    assert "has no task 'prepare'" in found[0].message
    assert "has no service 'apii'" in found[1].message


def test_override_typo_is_caught_in_the_environment_file(tmp_path: Path) -> None:
    found = env_problems(
        tmp_path,
        """\
        apiVersion: gitops-agent.io/v1alpha1
        kind: Environment
        metadata: {name: dev}
        spec:
          namespace: ml-dev
          branch: env/dev
          overrides:
            wf:
              services:
                api: {replica: 2}
        """,
    )
    assert_only(found, E, 10, 15, "spec.overrides.wf.services.api.replica", "did you mean 'replicas'")


def test_merged_override_is_validated_again(tmp_path: Path) -> None:
    workflow = VALID_WORKFLOW + "      autoscale: {min: 2, max: 4}\n"
    found = env_problems(
        tmp_path,
        """\
        apiVersion: gitops-agent.io/v1alpha1
        kind: Environment
        metadata: {name: dev}
        spec:
          namespace: ml-dev
          branch: env/dev
          overrides:
            wf:
              services:
                api:
                  autoscale: {min: 6}
        """,
        **{"workflows/wf.yaml": workflow},
    )
    assert_only(found, E, 11, 28, "spec.overrides.wf.services.api.autoscale.min", "greater than max")


def test_override_secret_value_is_rejected_without_echo(tmp_path: Path) -> None:
    found = env_problems(
        tmp_path,
        """\
        apiVersion: gitops-agent.io/v1alpha1
        kind: Environment
        metadata: {name: dev}
        spec:
          namespace: ml-dev
          branch: env/dev
          overrides:
            wf:
              defaults:
                env: {DB_PASSWORD: s3cr3t-value}
        """,
    )
    diagnostic = assert_only(found, E, 10, 28, "spec.overrides.wf.defaults.env.DB_PASSWORD", "looks like a secret")
    assert "s3cr3t" not in str(diagnostic)


def test_override_can_remove_a_key_with_null(tmp_path: Path) -> None:
    found = env_problems(
        tmp_path,
        """\
        apiVersion: gitops-agent.io/v1alpha1
        kind: Environment
        metadata: {name: dev}
        spec:
          namespace: ml-dev
          branch: env/dev
          overrides:
            wf:
              defaults: {image: null}
        """,
    )
    assert [(d.line, d.col, d.field) for d in found] == [
        (8, 5, "spec.overrides.wf.services.api"),
        (8, 5, "spec.overrides.wf.tasks.prep"),
    ]
    assert all("no image" in d.message for d in found)


def test_service_names_clash_across_workflows_of_one_environment(tmp_path: Path) -> None:
    other = VALID_WORKFLOW.replace("name: wf", "name: other").replace("prep", "build")
    found = diagnose(
        tmp_path,
        {"workflows/wf.yaml": VALID_WORKFLOW, "workflows/other.yaml": other, E: VALID_ENVIRONMENT},
    )
    assert [(d.file, d.line, d.col, d.field) for d in found] == [
        ("workflows/other.yaml", 12, 5, "spec.services.api"),
        ("workflows/wf.yaml", 12, 5, "spec.services.api"),
    ]
    assert "workflow 'wf' (workflows/wf.yaml:12)" in found[0].message
    assert "workflow 'other' (workflows/other.yaml:12)" in found[1].message
    assert "environment 'dev'" in found[0].message


def test_no_clash_when_the_environment_selects_one_of_them(tmp_path: Path) -> None:
    other = VALID_WORKFLOW.replace("name: wf", "name: other")
    found = diagnose(
        tmp_path,
        {
            "workflows/wf.yaml": VALID_WORKFLOW,
            "workflows/other.yaml": other,
            E: VALID_ENVIRONMENT + "  workflows: [wf]\n",
        },
    )
    assert found == []


def test_workflow_names_are_unique(tmp_path: Path) -> None:
    found = diagnose(tmp_path, {"workflows/wf.yaml": VALID_WORKFLOW, "workflows/copy.yaml": VALID_WORKFLOW})
    assert [(d.file, d.line, d.col, d.field) for d in found] == [
        ("workflows/copy.yaml", 4, 9, "metadata.name"),
        ("workflows/wf.yaml", 4, 9, "metadata.name"),
    ]
    assert "workflows/wf.yaml:4" in found[0].message


def test_environment_branches_are_unique(tmp_path: Path) -> None:
    staging = VALID_ENVIRONMENT.replace("name: dev", "name: staging")
    found = env_problems(tmp_path, VALID_ENVIRONMENT, **{"environments/staging.yaml": staging})
    assert [(d.file, d.line, d.field) for d in found] == [
        (E, 6, "spec.branch"),
        ("environments/staging.yaml", 6, "spec.branch"),
    ]
    assert "branch 'env/dev' is also defined at environments/staging.yaml:6" in found[0].message


def test_override_of_a_workflow_not_deployed_here(tmp_path: Path) -> None:
    other = VALID_WORKFLOW.replace("name: wf", "name: other").replace("    api:", "    api2:")
    found = env_problems(
        tmp_path,
        """\
        apiVersion: gitops-agent.io/v1alpha1
        kind: Environment
        metadata: {name: dev}
        spec:
          namespace: ml-dev
          branch: env/dev
          workflows: [wf]
          overrides:
            other:
              services:
                api2: {replicas: 2}
        """,
        **{"workflows/other.yaml": other},
    )
    assert_only(found, E, 9, 5, "spec.overrides.other", "not deployed here")
