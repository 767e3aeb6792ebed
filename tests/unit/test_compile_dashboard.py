"""The Grafana dashboard ConfigMap of a workflow: the sidecar's label, stable uid and bytes,
the panels per service, variant and task, and ``monitoring.dashboard: false``."""

from __future__ import annotations

import json
from typing import Any

from gitops_agent.compile import dashboard
from gitops_agent.compile.objects import compile_workflow
from gitops_agent.spec.build import build_workflow
from gitops_agent.spec.model import Workflow

DOCUMENT: dict[str, Any] = {
    "apiVersion": "gitops-agent.io/v1alpha1",
    "kind": "Workflow",
    "metadata": {"name": "vision", "labels": {"team": "cv"}},
    "spec": {
        "defaults": {"image": "app:1", "resources": {"cpu": "1", "memory": "1Gi"}},
        "tasks": {
            "train": {"command": ["train"]},
            "evaluate": {"dependsOn": ["train"], "resources": {"limits": {"memory": "2Gi"}}},
        },
        "services": {
            "classifier": {
                "ports": {"http": 8080},
                "resources": {"cpu": "500m", "memory": "1Gi", "limits": {"cpu": "1", "memory": "1Gi"}},
                "variants": {"candidate": {"image": "app:2", "weight": 20}},
            }
        },
    },
}


def _workflow(**monitoring: Any) -> Workflow:
    spec = {**DOCUMENT["spec"], **({"monitoring": monitoring} if monitoring else {})}
    return build_workflow({**DOCUMENT, "spec": spec}, "workflows/vision.yaml")


def _model(workflow: Workflow) -> dict[str, Any]:
    (config_map,) = [o for o in compile_workflow(workflow) if o["metadata"]["name"].endswith("-dashboard")]
    document: dict[str, Any] = json.loads(config_map["data"][f"{workflow.name}.json"])
    return document


def _panels(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {p["title"]: p for p in document["panels"] if p["type"] != "row"}


def test_the_config_map_carries_the_sidecar_label_and_the_workflow_labels() -> None:
    obj = dashboard.config_map(_workflow())
    assert obj["metadata"]["name"] == "vision-dashboard"
    assert obj["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert obj["metadata"]["labels"]["team"] == "cv"
    assert obj["metadata"]["labels"]["app.kubernetes.io/part-of"] == "vision"
    assert list(obj["data"]) == ["vision.json"]


def test_uid_and_bytes_are_stable_and_the_uid_is_per_workflow() -> None:
    first, second = dashboard.config_map(_workflow()), dashboard.config_map(_workflow())
    assert first == second
    model = _model(_workflow())
    assert model["uid"] == dashboard.dashboard_uid(_workflow()) and len(model["uid"]) <= 40
    other = build_workflow({**DOCUMENT, "metadata": {"name": "vision2"}}, "workflows/vision2.yaml")
    assert dashboard.dashboard_uid(other) != model["uid"]
    text = first["data"]["vision.json"]
    assert text == json.dumps(json.loads(text), sort_keys=True, indent=2) + "\n"


def test_service_panels_are_per_variant_with_three_latency_quantiles() -> None:
    panels = _panels(_model(_workflow()))
    rate = panels["Request rate"]["targets"][0]
    assert rate["legendFormat"] == "{{workload}}"
    assert 'pod=~"(classifier|classifier-candidate)-[a-z0-9]+-[a-z0-9]{5}"' in rate["expr"]
    assert 'namespace="$namespace"' in rate["expr"]
    assert 'code=~"5.."' in panels["Error ratio"]["targets"][0]["expr"]
    latency = [t["expr"] for t in panels["Latency"]["targets"]]
    assert [e.split(",")[0] for e in latency] == [
        "histogram_quantile(0.5",
        "histogram_quantile(0.95",
        "histogram_quantile(0.99",
    ]
    assert all("http_request_duration_seconds_bucket" in e for e in latency)


def test_resource_panels_draw_the_request_and_only_the_limits_the_spec_sets() -> None:
    panels = _panels(_model(_workflow()))
    legends = {title: [t["legendFormat"] for t in p["targets"]] for title, p in panels.items()}
    assert legends["classifier: CPU (cores)"] == ["{{pod}}", "request", "limit"]
    assert legends["classifier: memory (working set)"] == ["{{pod}}", "request", "limit"]
    assert legends["train: CPU (cores)"] == ["{{pod}}", "request"]
    assert legends["evaluate: memory (working set)"] == ["{{pod}}", "request", "limit"]
    limit = panels["evaluate: memory (working set)"]["targets"][2]["expr"]
    assert limit == (
        'max(kube_pod_container_resource_limits{namespace="$namespace",container="evaluate",'
        'pod=~"(vision-evaluate)-[a-z0-9]+(-[0-9]+)?-[a-z0-9]{5}",resource="memory"})'
    )


def test_task_panels_show_durations_and_outcomes_per_task() -> None:
    panels = _panels(_model(_workflow()))
    duration = panels["Task duration"]["targets"][0]["expr"]
    assert "kube_job_status_completion_time" in duration and "kube_job_status_start_time" in duration
    assert 'job_name=~"vision-(evaluate|train)-[a-z0-9]+"' in duration
    outcomes = [t["legendFormat"] for t in panels["Task outcomes"]["targets"]]
    assert outcomes == ["{{task}} succeeded", "{{task}} failed"]


def test_panels_ids_are_unique_and_use_the_datasource_variable() -> None:
    model = _model(_workflow())
    ids = [p["id"] for p in model["panels"]]
    assert len(ids) == len(set(ids))
    variables = {v["name"]: v for v in model["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource" and variables["datasource"]["query"] == "prometheus"
    assert variables["namespace"]["query"] == (
        'label_values(container_memory_working_set_bytes{container=~"classifier|evaluate|train",'
        'pod=~"(classifier|classifier-candidate|vision-evaluate|vision-train)-[a-z0-9]+-[a-z0-9]{5}"}, namespace)'
    )
    for panel in model["panels"]:
        for target in panel.get("targets", []):
            assert target["datasource"] == {"type": "prometheus", "uid": "${datasource}"}


def test_dashboard_false_compiles_no_config_map() -> None:
    names = [o["metadata"]["name"] for o in compile_workflow(_workflow(dashboard=False))]
    assert "vision-dashboard" not in names
    assert "vision-dashboard" in [o["metadata"]["name"] for o in compile_workflow(_workflow(dashboard=True))]


def test_a_service_without_ports_gets_no_request_panels() -> None:
    spec = {**DOCUMENT["spec"], "services": {"worker": {"command": ["work"]}}}
    workflow = build_workflow({**DOCUMENT, "spec": spec}, "workflows/vision.yaml")
    titles = [p["title"] for p in _model(workflow)["panels"]]
    assert "Service worker" in titles and "worker: CPU (cores)" in titles
    assert not {"Request rate", "Error ratio", "Latency"} & set(titles)


def test_a_sweep_gets_its_objective_per_trial_and_indexed_trial_pods_count() -> None:
    spec = {**DOCUMENT["spec"], "tasks": {
        **DOCUMENT["spec"]["tasks"],
        "tune": {
            "command": ["tune"],
            "sweep": {
                "algorithm": "grid",
                "maxTrialCount": 2,
                "objective": {"metric": "validation_loss", "goal": "minimize"},
                "trainingTask": "train",
                "parameters": {"lr": {"values": [0.1, 0.01]}},
            },
        },
    }}
    panels = _panels(_model(build_workflow({**DOCUMENT, "spec": spec}, "workflows/vision.yaml")))
    (target,) = panels["Sweep tune: objective per trial"]["targets"]
    assert target["expr"] == (
        'max by (trial) (validation_loss{namespace="$namespace",workflow="vision",task="tune",trial!=""})'
    )
    assert target["legendFormat"] == "trial {{trial}}"
    assert "Sweep train: objective per trial" not in panels
    cpu = panels["tune: CPU (cores)"]["targets"][0]["expr"]
    selector = cpu.split('pod=~"', 1)[1].split('"', 1)[0]
    import re

    assert re.fullmatch(selector, "vision-tune-0a1b2c3d-1-x7k2p")  # a trial pod of the Indexed Job
    assert re.fullmatch(selector, "vision-tune-0a1b2c3d-x7k2p")
    assert not re.fullmatch(selector, "vision-tuner-0a1b2c3d-x7k2p")
