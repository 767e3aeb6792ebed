"""load_specs / validate_paths / effective_workflow: the typed model, defaults resolution,
overrides, which files are read, and the SpecError contract."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from gitops_agent.errors import EXIT_INVALID, SpecError
from gitops_agent.spec import effective_workflow, load_specs, schema_dir, validate_paths
from gitops_agent.spec.model import EnvFrom, EnvFromKind, SecretKeyRef, Severity
from tests.unit.specs.helpers import VALID_ENVIRONMENT, VALID_WORKFLOW, write_repo

FULL_WORKFLOW = """\
apiVersion: gitops-agent.io/v1alpha1
kind: Workflow
metadata:
  name: imgrec
  labels: {team: vision, tier: "1"}
spec:
  defaults:
    image: registry.example.com/imgrec:1.4.0
    env: {ARTIFACT_ROOT: "s3://ml/imgrec", WORKERS: 4, DEBUG: false}
    envFrom: [{secret: imgrec-creds}]
    resources: {cpu: 500m, memory: 1Gi, limits: {memory: 2Gi}}
    serviceAccount: imgrec
  config:
    thresholds.yaml: |
      min_accuracy: 0.92
  tasks:
    prepare:
      command: [python, -m, prep]
      env: {WORKERS: "8", HF_TOKEN: {secretRef: {name: hf, key: token}}}
      envFrom: [{configMap: prep-settings}]
      resources: {cpu: 2, limits: {cpu: "4"}}
      retries: 2
      timeout: 1h30m
    train:
      dependsOn: [prepare]
      image: registry.example.com/imgrec-train:1.4.0
      resources: {gpu: 1, memory: 1536Mi}
    nightly:
      schedule: "0 2 * * MON-FRI"
  services:
    classifier:
      dependsOn: [train]
      ports: {http: 8080, metrics: 9100}
      replicas: 2
      autoscale: {min: 2, max: 10, cpuUtilization: 70}
      probes:
        readiness: {path: /healthz, port: http, periodSeconds: 5}
        liveness: {command: [cat, /tmp/alive]}
      disruption: {maxUnavailable: 25%}
      variants:
        candidate: {image: registry.example.com/imgrec:1.5.0, weight: 20}
        tuned: {env: {THRESHOLD: "0.7"}, weight: 10}
  monitoring:
    scrape: {port: metrics}
    alerts:
      - {name: Down, expr: up == 0, for: 5m, severity: critical, summary: Gone}
      - {name: Slow, expr: latency > 1}
  optimize:
    rightsizing: {window: 14d}
    experiments: {confidence: 0.99}
"""


def test_model_resolves_defaults(tmp_path: Path) -> None:
    write_repo(tmp_path, {"workflows/imgrec.yaml": FULL_WORKFLOW})
    specs = load_specs(tmp_path)
    workflow = specs.workflows["imgrec"]
    assert workflow.source == "workflows/imgrec.yaml"
    assert dict(workflow.labels) == {"team": "vision", "tier": "1"}
    assert dict(workflow.config) == {"thresholds.yaml": "min_accuracy: 0.92\n"}
    assert [t.name for t in workflow.tasks] == ["nightly", "prepare", "train"]

    prepare = workflow.task("prepare").container
    assert prepare.image == "registry.example.com/imgrec:1.4.0"
    assert dict(prepare.env) == {
        "ARTIFACT_ROOT": "s3://ml/imgrec",
        "DEBUG": "false",
        "HF_TOKEN": SecretKeyRef(name="hf", key="token"),
        "WORKERS": "8",
    }
    assert prepare.env_from == (
        EnvFrom(EnvFromKind.SECRET, "imgrec-creds"),
        EnvFrom(EnvFromKind.CONFIG_MAP, "prep-settings"),
    )
    assert prepare.resources.cpu == "2"
    assert prepare.resources.memory == "1Gi"
    assert dict(prepare.resources.limits) == {"cpu": "4", "memory": "2Gi"}
    assert prepare.service_account == "imgrec"
    assert workflow.task("prepare").retries == 2
    assert workflow.task("prepare").timeout_seconds == 5400

    train = workflow.task("train")
    assert train.depends_on == ("prepare",)
    assert train.container.image == "registry.example.com/imgrec-train:1.4.0"
    assert train.container.resources.gpu == 1
    assert train.container.resources.cpu == "500m"
    assert train.container.resources.memory == "1536Mi"
    assert dict(train.container.env)["WORKERS"] == "4"
    assert workflow.task("nightly").scheduled

    service = workflow.service("classifier")
    assert dict(service.ports) == {"http": 8080, "metrics": 9100}
    assert service.autoscale is not None and service.autoscale.cpu_utilization == 70
    assert service.readiness is not None and service.readiness.port == "http"
    assert service.readiness.period_seconds == 5
    assert service.liveness is not None and service.liveness.command == ("cat", "/tmp/alive")
    assert service.disruption is not None and service.disruption.max_unavailable == "25%"
    assert [(v.name, v.weight, v.image) for v in service.variants] == [
        ("candidate", 20, "registry.example.com/imgrec:1.5.0"),
        ("tuned", 10, None),
    ]
    assert dict(service.variants[1].env) == {"THRESHOLD": "0.7"}

    assert workflow.monitoring is not None
    assert workflow.monitoring.scrape is not None
    assert (workflow.monitoring.scrape.path, workflow.monitoring.scrape.interval) == (
        "/metrics",
        "30s",
    )
    assert [a.severity for a in workflow.monitoring.alerts] == [Severity.CRITICAL, Severity.WARNING]
    assert workflow.monitoring.alerts[0].for_ == "5m"
    assert workflow.optimize is not None and workflow.optimize.rightsizing is not None
    assert workflow.optimize.rightsizing.window == "14d"
    assert workflow.optimize.rightsizing.cpu_percentile == 95.0
    assert workflow.optimize.experiments is not None
    assert workflow.optimize.experiments.confidence == 0.99
    assert specs.raw_workflows["imgrec"]["tasks"]["train"]["dependsOn"] == ["prepare"]


def test_environment_model_with_defaults(tmp_path: Path) -> None:
    write_repo(
        tmp_path,
        {
            "workflows/wf.yaml": VALID_WORKFLOW,
            "environments/dev.yaml": VALID_ENVIRONMENT,
            "environments/prod.yml": """\
                apiVersion: gitops-agent.io/v1alpha1
                kind: Environment
                metadata: {name: prod}
                spec:
                  namespace: ml-prod
                  branch: env/prod
                  cluster: {context: prod}
                  prometheus: {url: "http://prometheus.monitoring:9090"}
                  workflows: [wf]
                  images: {registry.example.com/app: "1.4.1"}
                  labels: {env: prod}
                  sync: {prune: true, selfHeal: true, interval: 2m, force: true,
                         allowEmpty: true, maxPrunePercent: 10, jobHistory: 5}
                """,
        },
    )
    specs = load_specs(tmp_path)
    dev, prod = specs.environments["dev"], specs.environments["prod"]
    assert (dev.namespace, dev.branch, dev.workflows, dev.context) == (
        "ml-dev",
        "env/dev",
        None,
        None,
    )
    assert dev.sync.max_prune_percent == 50 and dev.sync.job_history == 2
    assert not dev.sync.prune and not dev.sync.allow_empty
    assert prod.source == "environments/prod.yml"
    assert prod.workflows == ("wf",) and prod.context == "prod"
    assert prod.prometheus_url == "http://prometheus.monitoring:9090"
    assert dict(prod.images) == {"registry.example.com/app": "1.4.1"}
    sync = prod.sync
    assert (sync.prune, sync.self_heal, sync.interval, sync.force, sync.allow_empty) == (
        True,
        True,
        "2m",
        True,
        True,
    )
    assert (sync.max_prune_percent, sync.job_history) == (10, 5)


def test_effective_workflow_merges_overrides(tmp_path: Path) -> None:
    write_repo(
        tmp_path,
        {
            "workflows/imgrec.yaml": FULL_WORKFLOW,
            "environments/prod.yaml": """\
                apiVersion: gitops-agent.io/v1alpha1
                kind: Environment
                metadata: {name: prod}
                spec:
                  namespace: ml-prod
                  branch: env/prod
                  overrides:
                    imgrec:
                      defaults: {env: {DEBUG: null, LOG: info}}
                      tasks:
                        prepare: {command: [python, prep.py]}
                      services:
                        classifier:
                          autoscale: {min: 4, max: 20}
                          variants: {tuned: null, canary: {image: reg/x:2, weight: 5}}
                """,
        },
    )
    specs = load_specs(tmp_path)
    prod = specs.environments["prod"]
    effective = effective_workflow(specs, prod, "imgrec")
    prepare = effective.task("prepare").container
    assert prepare.command == ("python", "prep.py")  # lists replace
    assert "DEBUG" not in prepare.env and prepare.env["LOG"] == "info"  # null deletes
    assert prepare.env["WORKERS"] == "8"  # maps merge
    classifier = effective.service("classifier")
    assert classifier.autoscale is not None
    assert (classifier.autoscale.min, classifier.autoscale.max) == (4, 20)
    assert classifier.autoscale.cpu_utilization == 70
    assert [v.name for v in classifier.variants] == ["canary", "candidate"]
    assert effective.labels == specs.workflows["imgrec"].labels
    # the loaded workflow itself is untouched
    assert specs.workflows["imgrec"].service("classifier").autoscale.min == 2  # type: ignore[union-attr]
    assert effective_workflow(specs, specs.environments["prod"], "imgrec") == effective


def test_effective_workflow_without_override_is_the_workflow(tmp_path: Path) -> None:
    write_repo(tmp_path, {"workflows/wf.yaml": VALID_WORKFLOW, "environments/dev.yaml": VALID_ENVIRONMENT})
    specs = load_specs(tmp_path)
    assert effective_workflow(specs, specs.environments["dev"], "wf") is specs.workflows["wf"]


def test_effective_workflow_rejects_a_bad_hand_made_override(tmp_path: Path) -> None:
    from dataclasses import replace

    from gitops_agent.spec.model import frozen_map

    write_repo(tmp_path, {"workflows/wf.yaml": VALID_WORKFLOW, "environments/dev.yaml": VALID_ENVIRONMENT})
    specs = load_specs(tmp_path)
    env = replace(
        specs.environments["dev"],
        overrides=frozen_map({"wf": {"services": {"api": {"replicas": -1}}}}),
    )
    with pytest.raises(SpecError) as caught:
        effective_workflow(specs, env, "wf")
    (diagnostic,) = caught.value.diagnostics
    assert diagnostic.file == "environments/dev.yaml"
    assert diagnostic.field == "spec.overrides.wf.services.api.replicas"
    assert "at least 0" in diagnostic.message


def test_spec_error_lists_everything_sorted_and_exits_2(tmp_path: Path) -> None:
    write_repo(
        tmp_path,
        {
            "workflows/wf.yaml": VALID_WORKFLOW.replace("dependsOn: [prep]", "dependsOn: [x]"),
            "workflows/b.yaml": "apiVersion: v1\n",
            "environments/dev.yaml": VALID_ENVIRONMENT + "  workflows: [nope]\n",
        },
    )
    with pytest.raises(SpecError) as caught:
        load_specs(tmp_path)
    error = caught.value
    assert error.exit_code == EXIT_INVALID
    lines = str(error).splitlines()
    assert [line.split(":")[0] for line in lines] == [
        "environments/dev.yaml",
        "workflows/b.yaml",
        "workflows/wf.yaml",
    ]
    assert all(re.match(r"^[^:]+:\d+:\d+: \S+: .+", line) for line in lines)
    assert lines[2] == "workflows/wf.yaml:13:19: spec.services.api.dependsOn[0]: unknown task 'x'"


def test_paths_select_files_and_directories(tmp_path: Path) -> None:
    write_repo(
        tmp_path,
        {
            "workflows/wf.yaml": VALID_WORKFLOW,
            "workflows/broken.yaml": "kind: [\n",
            "examples/nested/more.yml": VALID_WORKFLOW.replace("name: wf", "name: more").replace(
                "    api:", "    api2:"
            ),
            "environments/dev.yaml": VALID_ENVIRONMENT + "  workflows: [more]\n",
        },
    )
    # only the given files are reported on and loaded; names resolve against the repository
    specs = load_specs(tmp_path, [Path("examples"), tmp_path / "environments" / "dev.yaml"])
    assert sorted(specs.workflows) == ["more"]
    assert sorted(specs.environments) == ["dev"]
    assert specs.workflows["more"].source == "examples/nested/more.yml"
    assert validate_paths(tmp_path, [Path("workflows/wf.yaml")]) == []
    broken = validate_paths(tmp_path, [Path("workflows")])
    assert [d.file for d in broken] == ["workflows/broken.yaml"]
    missing = validate_paths(tmp_path, [Path("nowhere.yaml")])
    assert [(d.file, d.message) for d in missing] == [("nowhere.yaml", "no such file")]


def test_one_file_may_hold_several_documents_of_both_kinds(tmp_path: Path) -> None:
    write_repo(tmp_path, {"all.yaml": VALID_WORKFLOW + "---\n" + VALID_ENVIRONMENT})
    specs = load_specs(tmp_path, [Path("all.yaml")])
    assert list(specs.workflows) == ["wf"] and list(specs.environments) == ["dev"]
    assert specs.environments["dev"].source == "all.yaml"


def test_an_empty_repository_loads_nothing(tmp_path: Path) -> None:
    specs = load_specs(tmp_path)
    assert dict(specs.workflows) == {} and dict(specs.environments) == {}


def _undocumented(node: object, where: str) -> list[str]:
    """Properties (not plain $refs) without a description, anywhere under ``node``."""
    found: list[str] = []
    if isinstance(node, dict):
        for prop, sub in (node.get("properties") or {}).items():
            if isinstance(sub, dict) and "description" not in sub and "$ref" not in sub:
                found.append(f"{where}.{prop}")
        for key, sub in node.items():
            found.extend(_undocumented(sub, f"{where}/{key}"))
    elif isinstance(node, list):
        for item in node:
            found.extend(_undocumented(item, where))
    return found


def test_schemas_are_found_and_describe_every_property() -> None:
    import json

    directory = schema_dir()
    for name in ("workflow", "environment"):
        schema = json.loads((directory / f"{name}.schema.json").read_text())
        assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
        assert schema["additionalProperties"] is False
        assert _undocumented(schema, name) == []


def _reached_without_description(schema: dict[str, Any]) -> list[str]:
    """Every property reachable from the root (through ``$ref``s, items, maps and
    alternatives) whose own or referenced schema has no description."""
    defs = schema.get("$defs", {})

    def resolve(node: Any) -> Any:
        for _ in range(10):
            if not (isinstance(node, dict) and "$ref" in node):
                break
            own = node.get("description")
            node = {**defs[node["$ref"].rsplit("/", 1)[-1]], **({"description": own} if own else {})}
        return node

    found: list[str] = []

    def walk(node: Any, where: str, depth: int) -> None:
        node = resolve(node)
        if depth > 12 or not isinstance(node, dict):
            return
        for prop, sub in (node.get("properties") or {}).items():
            if not str(resolve(sub).get("description", "")).strip():
                found.append(f"{where}.{prop}")
            walk(sub, f"{where}.{prop}", depth + 1)
        for key, suffix in (("items", "[]"), ("additionalProperties", ".<name>")):
            if isinstance(node.get(key), dict):
                walk(node[key], where + suffix, depth + 1)
        for key in ("oneOf", "anyOf", "allOf"):
            for sub in node.get(key) or ():
                walk(sub, where, depth + 1)

    walk(schema, "", 0)
    return found


def test_every_field_reached_through_references_has_a_description() -> None:
    import json

    for name in ("workflow", "environment"):
        schema = json.loads((schema_dir() / f"{name}.schema.json").read_text())
        assert _reached_without_description(schema) == [], name
    undocumented = {"type": "object", "properties": {"gpu": {"$ref": "#/$defs/gpu"}}, "$defs": {"gpu": {}}}
    assert _reached_without_description(undocumented) == [".gpu"]  # the check itself can fail
