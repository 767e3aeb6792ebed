"""Every example compiles for every environment, builds with the real kustomize, and every
rendered object validates offline against the Kubernetes OpenAPI schemas (CRD-backed kinds
against the CRD schemas the tests keep)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest

from gitops_agent.compile import compile_environment
from gitops_agent.render.overlay import render_files
from gitops_agent.spec import load_specs
from gitops_agent.spec.model import SpecSet
from gitops_agent.vocabulary import labels as L
from gitops_agent.vocabulary.yaml import load_all
from tests.support.gitrepos import make_gitops_repo

ROOT = Path(__file__).resolve().parents[2]
KUBERNETES_VERSION = "1.36"
CRD_DIR = ROOT / "tests" / "support" / "crds"


@pytest.fixture(scope="module")
def example_repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_gitops_repo(tmp_path_factory.mktemp("examples") / "repo")


@pytest.fixture(scope="module")
def specs(example_repo: Path) -> SpecSet:
    return load_specs(example_repo)


@pytest.fixture(scope="module")
def rendered(example_repo: Path, specs: SpecSet) -> dict[str, list[dict[str, Any]]]:
    result = {}
    for name, env in specs.environments.items():
        tree = compile_environment(specs, env, source_commit=None, repo_root=example_repo)
        result[name] = render_files(dict(tree), name)
    return result


def crd_validators() -> dict[tuple[str, str], jsonschema.protocols.Validator]:
    validators = {}
    for path in sorted(CRD_DIR.glob("*.yaml")):
        crd = load_all(path.read_bytes())[0]
        group = crd["spec"]["group"]
        for version in crd["spec"]["versions"]:
            schema = version["schema"]["openAPIV3Schema"]
            cls = jsonschema.validators.validator_for(schema, default=jsonschema.Draft202012Validator)
            validators[(f"{group}/{version['name']}", crd["spec"]["names"]["kind"])] = cls(schema)
    return validators


def test_every_environment_renders_the_workflows_it_selects(
    rendered: dict[str, list[dict[str, Any]]], specs: SpecSet
) -> None:
    assert set(rendered) == {"dev", "staging", "prod"}
    for name, objects in rendered.items():
        env = specs.environments[name]
        part_of = {o["metadata"].get("labels", {}).get(L.PART_OF_LABEL) for o in objects} - {None}
        expected = {w for w in specs.workflows if env.selects(w)}
        assert part_of == expected, name


def test_every_rendered_object_validates_against_the_kubernetes_schemas(
    rendered: dict[str, list[dict[str, Any]]],
) -> None:
    crds = crd_validators()
    checked = 0
    for objects in rendered.values():
        for obj in objects:
            key = (obj["apiVersion"], obj["kind"])
            if key in crds:
                crds[key].validate(obj)
            else:
                kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)
            checked += 1
    assert checked > 60


def test_every_object_carries_ownership_labels_and_namespace(
    rendered: dict[str, list[dict[str, Any]]], specs: SpecSet
) -> None:
    for name, objects in rendered.items():
        env = specs.environments[name]
        for obj in objects:
            labels = obj["metadata"]["labels"]
            assert labels[L.MANAGED_BY_LABEL] == "gitops-agent"
            assert labels[L.ENVIRONMENT_LABEL] == name
            for key, value in env.labels.items():
                assert labels[key] == value
            if obj["kind"] in {"Namespace", "ServiceAccount", "NetworkPolicy"}:
                continue
            assert labels[L.NAME_LABEL] and labels[L.PART_OF_LABEL]
            assert obj["metadata"]["namespace"] == env.namespace


def _by_kind_name(objects: list[dict[str, Any]]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(o["kind"], o["metadata"]["name"]): o for o in objects}


def test_prod_overrides_and_image_pins_apply(rendered: dict[str, list[dict[str, Any]]]) -> None:
    prod = _by_kind_name(rendered["prod"])
    hpa = prod[("HorizontalPodAutoscaler", "classifier")]["spec"]
    assert (hpa["minReplicas"], hpa["maxReplicas"]) == (4, 20)
    assert hpa["metrics"][0]["resource"]["target"]["averageUtilization"] == 70
    main = prod[("Deployment", "classifier")]["spec"]
    assert "replicas" not in main  # the HPA owns replicas
    assert main["template"]["spec"]["containers"][0]["image"] == "registry.example.com/imgrec:1.4.1"
    candidate = prod[("Deployment", "classifier-candidate")]["spec"]["template"]["spec"]["containers"][0]
    assert candidate["image"] == "registry.example.com/imgrec:1.5.0"  # the experiment survives the pin
    dev = _by_kind_name(rendered["dev"])
    assert dev[("HorizontalPodAutoscaler", "classifier")]["spec"]["minReplicas"] == 1


def test_a_pinned_task_image_gives_the_job_a_new_name(rendered: dict[str, list[dict[str, Any]]]) -> None:
    def jobs(env: str) -> dict[str, str]:
        return {
            o["metadata"]["labels"][L.TASK_LABEL]: o["metadata"]["name"]
            for o in rendered[env]
            if o["kind"] == "Job" and o["metadata"]["labels"][L.PART_OF_LABEL] == "image-recognition"
        }

    dev, prod = jobs("dev"), jobs("prod")
    assert dev["prepare-data"] != prod["prepare-data"]  # imgrec pinned in prod
    assert dev["train"] == prod["train"]  # imgrec-train is not pinned
    for name in prod.values():
        assert len(name) <= 63


def test_dag_annotations_and_variant_selectors(rendered: dict[str, list[dict[str, Any]]]) -> None:
    dev = rendered["dev"]
    fraud = [o for o in dev if o["kind"] == "Job" and o["metadata"]["labels"][L.PART_OF_LABEL] == "fraud-risk-scoring"]
    score = next(o for o in fraud if o["metadata"]["labels"][L.TASK_LABEL] == "score")
    depends_on = score["metadata"]["annotations"][L.DEPENDS_ON_ANNOTATION]
    assert depends_on == "extract-transactions,extract-accounts,extract-devices"
    objects = _by_kind_name(dev)
    service = objects[("Service", "classifier")]["spec"]["selector"]
    for name in ("classifier", "classifier-candidate"):
        deployment = objects[("Deployment", name)]["spec"]
        pod_labels = deployment["template"]["metadata"]["labels"]
        assert all(pod_labels[k] == v for k, v in service.items())
        assert all(pod_labels[k] == v for k, v in deployment["selector"]["matchLabels"].items())
    assert objects[("Deployment", "classifier")]["metadata"]["annotations"][L.DEPENDS_ON_ANNOTATION] == "evaluate"
