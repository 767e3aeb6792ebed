"""One test per workflow validation rule: the message names the right file, line, column
and field. The YAML is written inline so the expected position can be read off it."""

from __future__ import annotations

from pathlib import Path

from tests.unit.specs.helpers import assert_only, workflow_problems

F = "workflows/wf.yaml"


def test_a_valid_workflow_has_no_problem(tmp_path: Path) -> None:
    from tests.unit.specs.helpers import VALID_WORKFLOW

    assert workflow_problems(tmp_path, VALID_WORKFLOW) == []


def test_unknown_field_is_reported_at_its_key_with_a_suggestion(tmp_path: Path) -> None:
    found = workflow_problems(
        tmp_path,
        """\
        apiVersion: gitops-agent.io/v1alpha1
        kind: Workflow
        metadata: {name: wf}
        spec:
          tasks:
            prep:
              image: app:1
              dependson: []
        """,
    )
    assert_only(found, F, 8, 7, "spec.tasks.prep.dependson", "unknown field", "'dependsOn'")


def test_missing_required_field_is_reported_at_the_parent(tmp_path: Path) -> None:
    found = workflow_problems(
        tmp_path,
        """\
        apiVersion: gitops-agent.io/v1alpha1
        kind: Workflow
        metadata: {labels: {team: x}}
        spec:
          tasks:
            prep: {image: app:1}
        """,
    )
    assert_only(found, F, 3, 1, "metadata.name", "required field 'name' is missing")


def test_wrong_type_names_expected_and_actual(tmp_path: Path) -> None:
    found = workflow_problems(
        tmp_path,
        """\
        apiVersion: gitops-agent.io/v1alpha1
        kind: Workflow
        metadata: {name: wf}
        spec:
          tasks:
            prep: {image: app:1, retries: many}
        """,
    )
    assert_only(found, F, 6, 35, "spec.tasks.prep.retries", "must be an integer, not a string")


def test_workflow_name_must_be_an_rfc1123_label(tmp_path: Path) -> None:
    found = workflow_problems(
        tmp_path,
        """\
        apiVersion: gitops-agent.io/v1alpha1
        kind: Workflow
        metadata:
          name: Image_Recognition
        spec:
          tasks:
            prep: {image: app:1}
        """,
    )
    assert_only(found, F, 4, 9, "metadata.name", "RFC 1123 label")


def test_workflow_name_has_at_most_40_characters(tmp_path: Path) -> None:
    name = "w" * 41
    found = workflow_problems(
        tmp_path,
        f"""\
        apiVersion: gitops-agent.io/v1alpha1
        kind: Workflow
        metadata:
          name: {name}
        spec:
          services:
            api: {{image: app:1}}
        """,
    )
    assert_only(found, F, 4, 9, "metadata.name", "at most 40 characters")


def test_task_name_must_be_an_rfc1123_label(tmp_path: Path) -> None:
    found = workflow_problems(
        tmp_path,
        """\
        apiVersion: gitops-agent.io/v1alpha1
        kind: Workflow
        metadata: {name: wf}
        spec:
          tasks:
            Prepare_Data: {image: app:1}
        """,
    )
    assert_only(found, F, 6, 5, "spec.tasks.Prepare_Data", "RFC 1123 label")


def test_task_name_must_leave_room_for_the_job_hash(tmp_path: Path) -> None:
    task = "t" * 52  # "wf-" + 52 + "-12345678" = 64
    found = workflow_problems(
        tmp_path,
        f"""\
        apiVersion: gitops-agent.io/v1alpha1
        kind: Workflow
        metadata: {{name: wf}}
        spec:
          tasks:
            {task}: {{image: app:1}}
        """,
    )
    assert_only(found, F, 6, 5, f"spec.tasks.{task}", "Job name", "64 characters", "at most 63")


def test_task_name_that_just_fits_is_accepted(tmp_path: Path) -> None:
    task = "t" * 51  # "wf-" + 51 + "-12345678" = 63
    assert (
        workflow_problems(
            tmp_path,
            f"""\
        apiVersion: gitops-agent.io/v1alpha1
        kind: Workflow
        metadata: {{name: wf}}
        spec:
          tasks:
            {task}: {{image: app:1}}
        """,
        )
        == []
    )


def test_scheduled_task_name_must_fit_a_cronjob_name(tmp_path: Path) -> None:
    task = "t" * 50  # "wf-" + 50 = 53 > 52
    found = workflow_problems(
        tmp_path,
        f"""\
        apiVersion: gitops-agent.io/v1alpha1
        kind: Workflow
        metadata: {{name: wf}}
        spec:
          tasks:
            {task}: {{image: app:1, schedule: "@daily"}}
        """,
    )
    assert_only(found, F, 6, 5, f"spec.tasks.{task}", "CronJob name", "at most 52")


def test_service_name_must_start_with_a_letter(tmp_path: Path) -> None:
    found = workflow_problems(
        tmp_path,
        """\
        apiVersion: gitops-agent.io/v1alpha1
        kind: Workflow
        metadata: {name: wf}
        spec:
          services:
            7api: {image: app:1}
        """,
    )
    assert_only(found, F, 6, 5, "spec.services.7api", "RFC 1035 label")


def test_variant_deployment_name_must_fit_63_characters(tmp_path: Path) -> None:
    variant = "v" * 60  # "api-" + 60 = 64
    found = workflow_problems(
        tmp_path,
        f"""\
        apiVersion: gitops-agent.io/v1alpha1
        kind: Workflow
        metadata: {{name: wf}}
        spec:
          services:
            api:
              image: app:1
              variants:
                {variant}: {{image: app:2, weight: 10}}
        """,
    )
    assert_only(found, F, 9, 9, f"spec.services.api.variants.{variant}", "64 characters")


def test_variant_deployment_may_not_clash_with_a_service(tmp_path: Path) -> None:
    found = workflow_problems(
        tmp_path,
        """\
        apiVersion: gitops-agent.io/v1alpha1
        kind: Workflow
        metadata: {name: wf}
        spec:
          defaults: {image: app:1}
          services:
            api:
              variants:
                v2: {image: app:2, weight: 10}
            api-v2: {}
        """,
    )
    assert_only(found, F, 9, 9, "spec.services.api.variants.v2", "clashes with service 'api-v2'")


def test_port_names_are_iana_service_names(tmp_path: Path) -> None:
    found = workflow_problems(
        tmp_path,
        """\
        apiVersion: gitops-agent.io/v1alpha1
        kind: Workflow
        metadata: {name: wf}
        spec:
          services:
            api:
              image: app:1
              ports: {http: 8080, metrics-endpoint: 9100}
        """,
    )
    assert_only(found, F, 8, 27, "spec.services.api.ports.metrics-endpoint", "at most 15")


def test_task_and_service_may_not_share_a_name(tmp_path: Path) -> None:
    found = workflow_problems(
        tmp_path,
        """\
        apiVersion: gitops-agent.io/v1alpha1
        kind: Workflow
        metadata: {name: wf}
        spec:
          defaults: {image: app:1}
          tasks:
            model: {}
          services:
            model: {}
        """,
    )
    assert_only(found, F, 9, 5, "spec.services.model", "same name as a task")


def test_duplicate_task_name_is_a_duplicate_key(tmp_path: Path) -> None:
    found = workflow_problems(
        tmp_path,
        """\
        apiVersion: gitops-agent.io/v1alpha1
        kind: Workflow
        metadata: {name: wf}
        spec:
          tasks:
            prep: {image: app:1}
            prep: {image: app:2}
        """,
    )
    assert_only(found, F, 7, 5, "spec.tasks.prep", "duplicate key 'prep'", "line 6")


def test_depends_on_must_name_an_existing_task(tmp_path: Path) -> None:
    found = workflow_problems(
        tmp_path,
        """\
        apiVersion: gitops-agent.io/v1alpha1
        kind: Workflow
        metadata: {name: wf}
        spec:
          defaults: {image: app:1}
          tasks:
            prep: {}
            train:
              dependsOn: [prep, prepare]
        """,
    )
    assert_only(found, F, 9, 25, "spec.tasks.train.dependsOn[1]", "unknown task 'prepare'")


def test_depends_on_cannot_name_a_service(tmp_path: Path) -> None:
    found = workflow_problems(
        tmp_path,
        """\
        apiVersion: gitops-agent.io/v1alpha1
        kind: Workflow
        metadata: {name: wf}
        spec:
          defaults: {image: app:1}
          tasks:
            train: {}
          services:
            api: {dependsOn: [train]}
            ui:
              dependsOn:
                - api
        """,
    )
    assert_only(found, F, 12, 11, "spec.services.ui.dependsOn[0]", "it is a service")


def test_cycle_is_printed(tmp_path: Path) -> None:
    found = workflow_problems(
        tmp_path,
        """\
        apiVersion: gitops-agent.io/v1alpha1
        kind: Workflow
        metadata: {name: wf}
        spec:
          defaults: {image: app:1}
          tasks:
            a: {dependsOn: [c]}
            b: {dependsOn: [a]}
            c: {dependsOn: [b]}
        """,
    )
    assert_only(found, F, 7, 21, "spec.tasks.a.dependsOn[0]", "dependency cycle: a -> c -> b -> a")


def test_self_dependency_is_a_cycle(tmp_path: Path) -> None:
    found = workflow_problems(
        tmp_path,
        """\
        apiVersion: gitops-agent.io/v1alpha1
        kind: Workflow
        metadata: {name: wf}
        spec:
          defaults: {image: app:1}
          tasks:
            a: {dependsOn: [a]}
        """,
    )
    assert_only(found, F, 7, 21, "spec.tasks.a.dependsOn[0]", "a -> a")


def test_two_separate_cycles_are_both_reported(tmp_path: Path) -> None:
    found = workflow_problems(
        tmp_path,
        """\
        apiVersion: gitops-agent.io/v1alpha1
        kind: Workflow
        metadata: {name: wf}
        spec:
          defaults: {image: app:1}
          tasks:
            a: {dependsOn: [b]}
            b: {dependsOn: [a]}
            x: {dependsOn: [y]}
            y: {dependsOn: [x]}
        """,
    )
    assert [(d.line, d.field, d.message) for d in found] == [
        (7, "spec.tasks.a.dependsOn[0]", "dependency cycle: a -> b -> a"),
        (9, "spec.tasks.x.dependsOn[0]", "dependency cycle: x -> y -> x"),
    ]


def test_scheduled_task_cannot_have_depends_on(tmp_path: Path) -> None:
    found = workflow_problems(
        tmp_path,
        """\
        apiVersion: gitops-agent.io/v1alpha1
        kind: Workflow
        metadata: {name: wf}
        spec:
          defaults: {image: app:1}
          tasks:
            prep: {}
            nightly:
              schedule: "0 2 * * *"
              dependsOn: [prep]
        """,
    )
    assert_only(found, F, 10, 7, "spec.tasks.nightly.dependsOn", "outside the DAG")


def test_nothing_may_depend_on_a_scheduled_task(tmp_path: Path) -> None:
    found = workflow_problems(
        tmp_path,
        """\
        apiVersion: gitops-agent.io/v1alpha1
        kind: Workflow
        metadata: {name: wf}
        spec:
          defaults: {image: app:1}
          tasks:
            nightly: {schedule: "@daily"}
            report: {dependsOn: [nightly]}
          services:
            api: {dependsOn: [nightly]}
        """,
    )
    assert [(d.line, d.col, d.field) for d in found] == [
        (8, 26, "spec.tasks.report.dependsOn[0]"),
        (10, 23, "spec.services.api.dependsOn[0]"),
    ]
    assert all("scheduled task" in d.message for d in found)


def test_cpu_must_be_a_quantity(tmp_path: Path) -> None:
    found = workflow_problems(
        tmp_path,
        """\
        apiVersion: gitops-agent.io/v1alpha1
        kind: Workflow
        metadata: {name: wf}
        spec:
          tasks:
            prep:
              image: app:1
              resources: {cpu: 2 cores, memory: 1Gi}
        """,
    )
    assert_only(found, F, 8, 24, "spec.tasks.prep.resources.cpu", "Kubernetes quantity")


def test_memory_must_be_a_quantity(tmp_path: Path) -> None:
    found = workflow_problems(
        tmp_path,
        """\
        apiVersion: gitops-agent.io/v1alpha1
        kind: Workflow
        metadata: {name: wf}
        spec:
          defaults:
            image: app:1
            resources:
              memory: 8GB
          tasks:
            prep: {}
        """,
    )
    assert_only(found, F, 8, 15, "spec.defaults.resources.memory", "Kubernetes quantity")


def test_limit_quantity_is_checked_too(tmp_path: Path) -> None:
    found = workflow_problems(
        tmp_path,
        """\
        apiVersion: gitops-agent.io/v1alpha1
        kind: Workflow
        metadata: {name: wf}
        spec:
          tasks:
            prep:
              image: app:1
              resources: {memory: 1Gi, limits: {memory: lots}}
        """,
    )
    assert_only(found, F, 8, 49, "spec.tasks.prep.resources.limits.memory", "quantity")


def test_limit_below_request_is_rejected(tmp_path: Path) -> None:
    found = workflow_problems(
        tmp_path,
        """\
        apiVersion: gitops-agent.io/v1alpha1
        kind: Workflow
        metadata: {name: wf}
        spec:
          defaults: {image: app:1, resources: {cpu: "2"}}
          tasks:
            prep:
              resources: {limits: {cpu: 1500m}}
        """,
    )
    assert_only(found, F, 8, 33, "spec.tasks.prep.resources.limits.cpu", "lower than the cpu request")


def test_duration_must_have_a_unit(tmp_path: Path) -> None:
    found = workflow_problems(
        tmp_path,
        """\
        apiVersion: gitops-agent.io/v1alpha1
        kind: Workflow
        metadata: {name: wf}
        spec:
          tasks:
            prep: {image: app:1, timeout: 30 minutes}
        """,
    )
    assert_only(found, F, 6, 35, "spec.tasks.prep.timeout", "30s, 5m, 4h, 7d")


def test_duration_must_not_be_zero(tmp_path: Path) -> None:
    found = workflow_problems(
        tmp_path,
        """\
        apiVersion: gitops-agent.io/v1alpha1
        kind: Workflow
        metadata: {name: wf}
        spec:
          services:
            api: {image: app:1, ports: {http: 80}}
          monitoring:
            scrape: {port: http, interval: 0s}
        """,
    )
    assert_only(found, F, 8, 36, "spec.monitoring.scrape.interval", "greater than zero")


def test_cron_needs_five_fields(tmp_path: Path) -> None:
    found = workflow_problems(
        tmp_path,
        """\
        apiVersion: gitops-agent.io/v1alpha1
        kind: Workflow
        metadata: {name: wf}
        spec:
          tasks:
            nightly:
              image: app:1
              schedule: "0 2 * *"
        """,
    )
    assert_only(found, F, 8, 17, "spec.tasks.nightly.schedule", "has 4 fields; expected five")


def test_cron_field_out_of_range(tmp_path: Path) -> None:
    found = workflow_problems(
        tmp_path,
        """\
        apiVersion: gitops-agent.io/v1alpha1
        kind: Workflow
        metadata: {name: wf}
        spec:
          tasks:
            nightly:
              image: app:1
              schedule: "0 24 * * *"
        """,
    )
    assert_only(found, F, 8, 17, "spec.tasks.nightly.schedule", "hour field", "out of range 0-23")


def test_cron_unknown_macro(tmp_path: Path) -> None:
    found = workflow_problems(
        tmp_path,
        """\
        apiVersion: gitops-agent.io/v1alpha1
        kind: Workflow
        metadata: {name: wf}
        spec:
          tasks:
            nightly: {image: app:1, schedule: "@nightly"}
        """,
    )
    assert_only(found, F, 6, 39, "spec.tasks.nightly.schedule", "unknown macro")


def test_variant_weights_sum_below_100(tmp_path: Path) -> None:
    found = workflow_problems(
        tmp_path,
        """\
        apiVersion: gitops-agent.io/v1alpha1
        kind: Workflow
        metadata: {name: wf}
        spec:
          services:
            api:
              image: app:1
              variants:
                b: {image: app:2, weight: 60}
                c: {image: app:3, weight: 40}
        """,
    )
    assert_only(found, F, 8, 7, "spec.services.api.variants", "sum to 100", "less than 100")


def test_variant_weight_is_required(tmp_path: Path) -> None:
    found = workflow_problems(
        tmp_path,
        """\
        apiVersion: gitops-agent.io/v1alpha1
        kind: Workflow
        metadata: {name: wf}
        spec:
          services:
            api:
              image: app:1
              variants:
                b: {image: app:2}
        """,
    )
    assert_only(found, F, 9, 9, "spec.services.api.variants.b.weight", "'weight' is missing")


def test_variant_must_change_something(tmp_path: Path) -> None:
    found = workflow_problems(
        tmp_path,
        """\
        apiVersion: gitops-agent.io/v1alpha1
        kind: Workflow
        metadata: {name: wf}
        spec:
          services:
            api:
              image: app:1
              variants:
                b: {weight: 10}
        """,
    )
    assert_only(found, F, 9, 9, "spec.services.api.variants.b", "must change image or env")


def test_image_is_required_without_defaults(tmp_path: Path) -> None:
    found = workflow_problems(
        tmp_path,
        """\
        apiVersion: gitops-agent.io/v1alpha1
        kind: Workflow
        metadata: {name: wf}
        spec:
          tasks:
            prep: {image: app:1}
          services:
            api:
              ports: {http: 80}
        """,
    )
    assert_only(found, F, 8, 5, "spec.services.api", "no image")


def test_secret_looking_env_name_needs_a_secret_ref(tmp_path: Path) -> None:
    found = workflow_problems(
        tmp_path,
        """\
        apiVersion: gitops-agent.io/v1alpha1
        kind: Workflow
        metadata: {name: wf}
        spec:
          tasks:
            prep:
              image: app:1
              env:
                DB_HOST: db
                DB_PASSWORD: hunter2-very-secret
        """,
    )
    diagnostic = assert_only(found, F, 10, 22, "spec.tasks.prep.env.DB_PASSWORD", "looks like a secret", "secretRef")
    assert "hunter2" not in str(diagnostic)


def test_secret_ref_is_accepted_for_secret_names(tmp_path: Path) -> None:
    assert (
        workflow_problems(
            tmp_path,
            """\
        apiVersion: gitops-agent.io/v1alpha1
        kind: Workflow
        metadata: {name: wf}
        spec:
          tasks:
            prep:
              image: app:1
              env:
                OPENAI_API_KEY: {secretRef: {name: llm, key: api-key}}
                MAX_TOKENS: "512"
                TOKENIZER: bpe
        """,
        )
        == []
    )


def test_secret_ref_needs_name_and_key(tmp_path: Path) -> None:
    found = workflow_problems(
        tmp_path,
        """\
        apiVersion: gitops-agent.io/v1alpha1
        kind: Workflow
        metadata: {name: wf}
        spec:
          tasks:
            prep:
              image: app:1
              env:
                HF_TOKEN: {secretRef: {name: hf}}
        """,
    )
    assert_only(found, F, 9, 20, "spec.tasks.prep.env.HF_TOKEN.secretRef.key", "'key' is missing")


def test_credential_values_are_rejected_without_echo(tmp_path: Path) -> None:
    key = "AKIA" + "ABCDEFGHIJKLMNOP"
    token = "ghp_" + "a1" * 18
    found = workflow_problems(
        tmp_path,
        f"""\
        apiVersion: gitops-agent.io/v1alpha1
        kind: Workflow
        metadata: {{name: wf}}
        spec:
          defaults:
            image: app:1
            env: {{AWS_ID: {key}}}
          config:
            deploy.pem: |
              -----BEGIN RSA PRIVATE KEY-----
              MIIB
          tasks:
            prep:
              args: [--token, {token}]
        """,
    )
    assert [(d.line, d.col, d.field) for d in found] == [
        (7, 19, "spec.defaults.env.AWS_ID"),
        (9, 17, "spec.config.deploy.pem"),
        (14, 23, "spec.tasks.prep.args[1]"),
    ]
    kinds = [d.message for d in found]
    assert "AWS access key" in kinds[0]
    assert "private key" in kinds[1]
    assert "GitHub token" in kinds[2]
    text = "\n".join(str(d) for d in found)
    assert key not in text and token not in text and "MIIB" not in text


def test_env_name_must_be_a_variable_name(tmp_path: Path) -> None:
    found = workflow_problems(
        tmp_path,
        """\
        apiVersion: gitops-agent.io/v1alpha1
        kind: Workflow
        metadata: {name: wf}
        spec:
          tasks:
            prep:
              image: app:1
              env: {"1ST": a}
        """,
    )
    assert_only(found, F, 8, 13, "spec.tasks.prep.env.1ST", "environment variable name")


def test_env_value_cannot_be_a_list(tmp_path: Path) -> None:
    found = workflow_problems(
        tmp_path,
        """\
        apiVersion: gitops-agent.io/v1alpha1
        kind: Workflow
        metadata: {name: wf}
        spec:
          tasks:
            prep:
              image: app:1
              env: {MODE: [a, b]}
        """,
    )
    assert_only(found, F, 8, 19, "spec.tasks.prep.env.MODE", "{secretRef: {name, key}}")


def test_env_from_item_has_exactly_one_reference(tmp_path: Path) -> None:
    found = workflow_problems(
        tmp_path,
        """\
        apiVersion: gitops-agent.io/v1alpha1
        kind: Workflow
        metadata: {name: wf}
        spec:
          defaults:
            image: app:1
            envFrom:
              - {secret: creds, configMap: settings}
          tasks:
            prep: {}
        """,
    )
    assert_only(found, F, 8, 9, "spec.defaults.envFrom[0]", "exactly one of 'secret'")


def test_probe_port_must_be_declared(tmp_path: Path) -> None:
    found = workflow_problems(
        tmp_path,
        """\
        apiVersion: gitops-agent.io/v1alpha1
        kind: Workflow
        metadata: {name: wf}
        spec:
          services:
            api:
              image: app:1
              ports: {http: 8080}
              probes:
                readiness: {path: /healthz, port: metrics}
        """,
    )
    assert_only(found, F, 10, 43, "spec.services.api.probes.readiness.port", "unknown port 'metrics'")


def test_probe_is_http_or_exec(tmp_path: Path) -> None:
    found = workflow_problems(
        tmp_path,
        """\
        apiVersion: gitops-agent.io/v1alpha1
        kind: Workflow
        metadata: {name: wf}
        spec:
          services:
            api:
              image: app:1
              ports: {http: 8080}
              probes:
                liveness: {path: /healthz, port: http, command: [cat, /ok]}
        """,
    )
    assert_only(found, F, 10, 9, "spec.services.api.probes.liveness", "either HTTP")


def test_scrape_port_must_be_a_service_port(tmp_path: Path) -> None:
    found = workflow_problems(
        tmp_path,
        """\
        apiVersion: gitops-agent.io/v1alpha1
        kind: Workflow
        metadata: {name: wf}
        spec:
          services:
            api: {image: app:1, ports: {http: 8080}}
          monitoring:
            scrape:
              port: metrics
        """,
    )
    assert_only(found, F, 9, 13, "spec.monitoring.scrape.port", "no service declares port")


def test_scrape_needs_a_service(tmp_path: Path) -> None:
    found = workflow_problems(
        tmp_path,
        """\
        apiVersion: gitops-agent.io/v1alpha1
        kind: Workflow
        metadata: {name: wf}
        spec:
          tasks:
            prep: {image: app:1}
          monitoring:
            scrape: {port: http}
        """,
    )
    assert_only(found, F, 8, 5, "spec.monitoring.scrape", "at least one service")


def test_autoscale_min_not_above_max(tmp_path: Path) -> None:
    found = workflow_problems(
        tmp_path,
        """\
        apiVersion: gitops-agent.io/v1alpha1
        kind: Workflow
        metadata: {name: wf}
        spec:
          services:
            api:
              image: app:1
              autoscale: {min: 5, max: 3}
        """,
    )
    assert_only(found, F, 8, 24, "spec.services.api.autoscale.min", "greater than max")


def test_disruption_needs_exactly_one_bound(tmp_path: Path) -> None:
    found = workflow_problems(
        tmp_path,
        """\
        apiVersion: gitops-agent.io/v1alpha1
        kind: Workflow
        metadata: {name: wf}
        spec:
          services:
            api:
              image: app:1
              disruption: {minAvailable: 1, maxUnavailable: 25%}
        """,
    )
    assert_only(found, F, 8, 7, "spec.services.api.disruption", "exactly one")


def test_disruption_percentage_format(tmp_path: Path) -> None:
    found = workflow_problems(
        tmp_path,
        """\
        apiVersion: gitops-agent.io/v1alpha1
        kind: Workflow
        metadata: {name: wf}
        spec:
          services:
            api:
              image: app:1
              disruption: {maxUnavailable: half}
        """,
    )
    assert_only(found, F, 8, 36, "spec.services.api.disruption.maxUnavailable", "percentage")


def test_alert_severity_is_an_enum(tmp_path: Path) -> None:
    found = workflow_problems(
        tmp_path,
        """\
        apiVersion: gitops-agent.io/v1alpha1
        kind: Workflow
        metadata: {name: wf}
        spec:
          tasks:
            prep: {image: app:1}
          monitoring:
            alerts:
              - {name: Down, expr: up == 0, severity: page}
        """,
    )
    assert_only(found, F, 9, 47, "spec.monitoring.alerts[0].severity", "info, warning, critical")


def test_alert_names_are_unique(tmp_path: Path) -> None:
    found = workflow_problems(
        tmp_path,
        """\
        apiVersion: gitops-agent.io/v1alpha1
        kind: Workflow
        metadata: {name: wf}
        spec:
          tasks:
            prep: {image: app:1}
          monitoring:
            alerts:
              - {name: Down, expr: up == 0}
              - {name: Down, expr: up < 1}
        """,
    )
    assert_only(found, F, 10, 16, "spec.monitoring.alerts[1].name", "duplicate alert name")


def test_workflow_needs_a_task_or_service(tmp_path: Path) -> None:
    found = workflow_problems(
        tmp_path,
        """\
        apiVersion: gitops-agent.io/v1alpha1
        kind: Workflow
        metadata: {name: wf}
        spec:
          config: {a: b}
        """,
    )
    assert_only(found, F, 4, 1, "spec", "at least one task or service")


def test_all_errors_are_reported_at_once(tmp_path: Path) -> None:
    found = workflow_problems(
        tmp_path,
        """\
        apiVersion: gitops-agent.io/v1alpha1
        kind: Workflow
        metadata: {name: wf}
        spec:
          tasks:
            a:
              image: app:1
              dependsOn: [missing]
              timeout: forever
              resources: {cpu: lots}
            b:
              command: [run]
          services:
            api:
              image: app:1
              autoscale: {min: 3, max: 1}
        """,
    )
    assert [(d.line, d.field) for d in found] == [
        (8, "spec.tasks.a.dependsOn[0]"),
        (9, "spec.tasks.a.timeout"),
        (10, "spec.tasks.a.resources.cpu"),
        (11, "spec.tasks.b"),
        (16, "spec.services.api.autoscale.min"),
    ]


def test_config_key_that_looks_secret_is_rejected(tmp_path: Path) -> None:
    found = workflow_problems(
        tmp_path,
        """\
        apiVersion: gitops-agent.io/v1alpha1
        kind: Workflow
        metadata: {name: wf}
        spec:
          config:
            settings.yaml: "a: 1"
            db-password: hunter2
          tasks:
            prep: {image: app:1}
        """,
    )
    diagnostic = assert_only(found, F, 7, 5, "spec.config.db-password", "ConfigMap")
    assert "hunter2" not in str(diagnostic)


def test_label_values_are_strings(tmp_path: Path) -> None:
    found = workflow_problems(
        tmp_path,
        """\
        apiVersion: gitops-agent.io/v1alpha1
        kind: Workflow
        metadata:
          name: wf
          labels: {team: vision, tier: 1}
        spec:
          tasks:
            prep: {image: app:1}
        """,
    )
    assert_only(found, F, 5, 32, "metadata.labels.tier", "quote numbers")
