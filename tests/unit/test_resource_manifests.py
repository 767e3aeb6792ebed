"""Manifests under an environment's ``resources:`` are accepted as kustomize accepts them.

Each case writes manifests into a real GitOps repository, lists them in the ``dev``
environment, commits, and runs the real command line: ``validate``, ``compile --commit``
and ``render --source`` (which builds the compiled overlay with the real ``kubectl
kustomize``). Refused input exits 2 with ``file:line:col: field: message`` lines and moves
no branch.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from ruamel.yaml import YAML
from ruamel.yaml.nodes import ScalarNode

from gitops_agent.adapters.kustomize import kubectl_path
from gitops_agent.cli import run
from gitops_agent.compile import compile_environment
from gitops_agent.errors import SpecError
from gitops_agent.spec import load_specs
from gitops_agent.spec.model import frozen_map
from gitops_agent.spec.yaml_positions import MANIFEST_LIMITS, SPEC_LIMITS, _plain_core_value, load_yaml
from tests.support.gitrepos import git, make_gitops_repo

LOCATED = re.compile(r"^(error: )?[^:\s]+:\d+:\d+: \S+: .+")
NAMESPACE = "ml-dev"  # environments/dev.yaml


def cli(argv: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = run(argv)
    return code, out.getvalue(), err.getvalue()


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return make_gitops_repo(tmp_path / "repo")


def use_resources(repo: Path, files: dict[str, bytes], entries: list[str] | None = None) -> None:
    """Write ``files`` (path → bytes) and make them the dev environment's resources."""
    for path, data in files.items():
        target = repo / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    listed = entries if entries is not None else sorted(files)
    env = repo / "environments" / "dev.yaml"
    text = env.read_text()
    env.write_text(re.sub(r"resources: \[.*\]", f"resources: {json.dumps(listed)}", text))
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "resources")


def branches(repo: Path) -> str:
    return git(repo, "for-each-ref", "--format=%(refname) %(objectname)", "refs/heads/env/")


def accepted(repo: Path) -> list[dict[str, Any]]:
    """validate, compile --commit and render all succeed; the rendered objects."""
    code, _, err = cli(["validate", "--repo", str(repo)])
    assert code == 0, err
    code, _, err = cli(["compile", "--repo", str(repo), "--commit", "--env", "dev"])
    assert code == 0, err
    code, out, err = cli(["render", "dev", "--repo", str(repo), "-o", "json"])
    assert code == 0, err
    objects: list[dict[str, Any]] = json.loads(out)["objects"]
    return objects


def refused(repo: Path) -> list[str]:
    """validate and compile --commit exit 2 with located lines; no branch moved.
    Returns validate's lines."""
    before = branches(repo)
    code, _, validate_err = cli(["validate", "--repo", str(repo)])
    assert code == 2, validate_err
    code, _, compile_err = cli(["compile", "--repo", str(repo), "--commit", "--env", "dev"])
    assert code == 2, compile_err
    for err in (validate_err, compile_err):
        lines = [line for line in err.splitlines() if line.strip()]
        assert lines and all(LOCATED.match(line) for line in lines), err
        assert "Traceback" not in err
    assert branches(repo) == before
    return validate_err.splitlines()


def kinds(objects: list[dict[str, Any]]) -> list[str]:
    return [f"{o['kind']}/{o['metadata']['name']}" for o in objects]


def config_map(name: str, extra: str = "") -> str:
    return f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n{extra}"


# --- size and shape bounds -----------------------------------------------------------------


def big_crd(size: int) -> bytes:
    """A CustomResourceDefinition of about ``size`` bytes (long schema descriptions)."""
    properties = "".join(
        f"                f{i}:\n                  type: string\n                  description: {'x' * 900}\n"
        for i in range(size // 960 + 1)
    )
    return (
        "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\n"
        "metadata:\n  name: widgets.example.com\nspec:\n  group: example.com\n"
        "  names: {kind: Widget, listKind: WidgetList, plural: widgets, singular: widget}\n"
        "  scope: Namespaced\n  versions:\n  - name: v1\n    served: true\n    storage: true\n"
        "    schema:\n      openAPIV3Schema:\n        type: object\n        properties:\n"
        "          spec:\n            type: object\n            properties:\n" + properties
    ).encode()


def test_a_crd_larger_than_a_spec_file_is_accepted(repo: Path) -> None:
    """Repro: a 300 KiB CRD was refused with "file is larger than 262144 bytes"."""
    crd = big_crd(300 * 1024)
    assert SPEC_LIMITS.max_bytes < len(crd) < MANIFEST_LIMITS.max_bytes
    use_resources(repo, {"vendor/crd.yaml": crd})
    objects = accepted(repo)
    assert "CustomResourceDefinition/widgets.example.com" in kinds(objects)
    assert git(repo, "show", "env/dev:overlays/dev/extra/vendor/crd.yaml").encode() + b"\n" == crd


def test_a_spec_file_keeps_its_own_bound(repo: Path) -> None:
    (repo / "workflows" / "big.yaml").write_bytes(b"# " + b"x" * SPEC_LIMITS.max_bytes + b"\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "big spec")
    code, _, err = cli(["validate", "--repo", str(repo)])
    assert code == 2
    assert f"workflows/big.yaml:1:1: <root>: file is larger than {SPEC_LIMITS.max_bytes} bytes" in err


def test_a_manifest_over_the_manifest_bound_is_refused(repo: Path) -> None:
    use_resources(repo, {"vendor/huge.yaml": b"# " + b"x" * MANIFEST_LIMITS.max_bytes + b"\n"})
    lines = refused(repo)
    assert any(f"vendor/huge.yaml:1:1: <root>: file is larger than {MANIFEST_LIMITS.max_bytes}" in x for x in lines)


def test_manifest_depth_and_node_bounds_hold() -> None:
    deep = b"a: " + b"[" * (MANIFEST_LIMITS.max_depth + 1) + b"]" * (MANIFEST_LIMITS.max_depth + 1) + b"\n"
    _, problems = load_yaml(deep, "m.yaml", MANIFEST_LIMITS)
    assert [p.message for p in problems] == [f"YAML is nested deeper than {MANIFEST_LIMITS.max_depth} levels"]
    # 35 levels (Argo CD's CRDs) is fine for a manifest, too deep for a spec file.
    nested = b"a: " + b"[" * 70 + b"]" * 70 + b"\n"
    assert load_yaml(nested, "m.yaml", MANIFEST_LIMITS)[1] == []
    assert load_yaml(nested, "s.yaml", SPEC_LIMITS)[1]
    dense = b"a: [" + b"1," * MANIFEST_LIMITS.max_nodes + b"1]\n"
    _, problems = load_yaml(dense, "m.yaml", MANIFEST_LIMITS)
    assert [p.message for p in problems] == [f"file has more than {MANIFEST_LIMITS.max_nodes} YAML nodes"]


# --- tabs: what kustomize accepts ------------------------------------------------------------

HEAD = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\n"
TAB_CASES = {
    "after a value": "apiVersion: v1\t\nkind: ConfigMap\nmetadata:\n  name: c\n",
    "before a comment": "apiVersion: v1\t# note\nkind: ConfigMap\nmetadata:\n  name: c\n",
    "after a block colon": "apiVersion:\tv1\nkind: ConfigMap\nmetadata:\n  name: c\n",
    "inside a plain scalar": HEAD + "data:\n  a: b\tc\n",
    "after a quoted value": HEAD + 'data:\n  a: "b"\t\n',
    "in flow context": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name:\tc}\n",
    "inside a block scalar": HEAD + "data:\n  a: |\n    x\ty\n",
    "after the document start": "---\t\n" + HEAD,
    "before a colon": HEAD + "data:\n  a\t: b\n",
    "continuation after spaces": HEAD + "data:\n  a: b\n   \tc\n",
    "as indentation": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n\tname: c\n",
    "after a dash": HEAD + "data:\n  a: b\nitems:\n-\tx\n",
    "on an empty line": HEAD + "\t\ndata:\n  a: b\n",
    "indenting a continuation": HEAD + "data:\n  a: b\n\tc\n",
}


def kustomize_accepts(tmp_path: Path, text: str) -> dict[str, Any] | None:
    """The object ``kubectl kustomize`` builds from ``text``, or None when it refuses it."""
    (tmp_path / "m.yaml").write_text(text)
    (tmp_path / "kustomization.yaml").write_text("resources: [m.yaml]\n")
    proc = subprocess.run([kubectl_path(), "kustomize", str(tmp_path)], capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        return None
    built: dict[str, Any] = YAML(typ="safe").load(proc.stdout)
    return built


@pytest.mark.parametrize("case", sorted(TAB_CASES))
def test_tabs_are_read_as_kustomize_reads_them(case: str, tmp_path: Path) -> None:
    """Repro: ``apiVersion: v1<TAB>`` builds with kustomize but was a YAML syntax error."""
    text = TAB_CASES[case]
    built = kustomize_accepts(tmp_path, text)
    documents, problems = load_yaml(text.encode(), "m.yaml", MANIFEST_LIMITS)
    if built is None:
        assert problems and problems[0].message.startswith("YAML syntax error"), case
    else:
        assert problems == [], case
        assert documents[0].data == built, case


def test_tab_cases_cover_accepted_and_refused_input(tmp_path: Path) -> None:
    results = {name: kustomize_accepts(tmp_path, text) is not None for name, text in TAB_CASES.items()}
    assert results["after a value"] and not results["as indentation"]
    assert 3 <= sum(not ok for ok in results.values()) < len(results) - 5


def test_a_manifest_with_trailing_tabs_compiles_and_renders(repo: Path) -> None:
    use_resources(repo, {"vendor/tabs.yaml": TAB_CASES["after a value"].encode()})
    assert "ConfigMap/c" in kinds(accepted(repo))


# --- other shapes kustomize reads ----------------------------------------------------------

SHAPES = {
    "bom": b"\xef\xbb\xbf" + config_map("bom").encode(),
    "crlf": config_map("crlf", "data:\n  a: b\n").replace("\n", "\r\n").encode(),
    "document-marker-comments": (
        "# published file\n--- # first\n" + config_map("marked") + "--- # second\n" + config_map("marked-2")
    ).encode(),
    "empty-documents": ("---\n---\n# only a comment\n---\n" + config_map("after-empty") + "---\n").encode(),
    "list-kind": (
        b"apiVersion: v1\nkind: List\nitems:\n"
        b"- {apiVersion: v1, kind: ConfigMap, metadata: {name: listed-1}}\n"
        b"- {apiVersion: v1, kind: ConfigMap, metadata: {name: listed-2}}\n"
    ),
    "long-line": config_map("long", f"data:\n  blob: {'y' * 1_000_000}\n").encode(),
}
EXPECTED = {
    "bom": ["ConfigMap/bom"],
    "crlf": ["ConfigMap/crlf"],
    "document-marker-comments": ["ConfigMap/marked", "ConfigMap/marked-2"],
    "empty-documents": ["ConfigMap/after-empty"],
    "list-kind": ["ConfigMap/listed-1", "ConfigMap/listed-2"],
    "long-line": ["ConfigMap/long"],
}


@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_manifest_shapes_kustomize_reads(shape: str, repo: Path) -> None:
    use_resources(repo, {f"vendor/{shape}.yaml": SHAPES[shape]})
    built = kinds(accepted(repo))
    for name in EXPECTED[shape]:
        assert name in built, (shape, built)
    assert git(repo, "cat-file", "-s", f"env/dev:overlays/dev/extra/vendor/{shape}.yaml") == str(len(SHAPES[shape]))


def test_a_plain_directory_and_a_kustomization_directory(repo: Path) -> None:
    use_resources(
        repo,
        {
            "vendor/plain/a.yaml": config_map("plain-a").encode(),
            "vendor/plain/b.yml": config_map("plain-b").encode(),
            "vendor/kust/kustomization.yaml": b"resources: [cm.yaml]\nnamePrefix: k-\n",
            "vendor/kust/cm.yaml": config_map("inner").encode(),
        },
        entries=["vendor/plain", "vendor/kust"],
    )
    built = kinds(accepted(repo))
    assert {"ConfigMap/plain-a", "ConfigMap/plain-b", "ConfigMap/k-inner"} <= set(built)


# --- published Namespaces ----------------------------------------------------------------

PUBLISHED_NS = (
    "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {name}\n  labels:\n"
    "    pod-security.kubernetes.io/enforce: {level}\n    app.kubernetes.io/name: {name}\n"
    "  annotations: {{owner: platform}}\n"
)


def namespace_doc(name: str, level: str = "baseline") -> str:
    return PUBLISHED_NS.format(name=name, level=level)


def only_namespace(objects: list[dict[str, Any]]) -> dict[str, Any]:
    found = [o for o in objects if o["kind"] == "Namespace"]
    assert len(found) == 1, kinds(objects)
    return found[0]


def test_a_published_namespace_folds_into_the_environments(repo: Path) -> None:
    """Repro: a set shipping its own Namespace failed with "namespace transformation
    produces ID conflict"."""
    manifest = namespace_doc("argocd") + "---\n" + config_map("argocd-cm", "  namespace: argocd\n")
    use_resources(repo, {"vendor/argocd.yaml": manifest.encode()})
    objects = accepted(repo)
    namespace = only_namespace(objects)
    assert namespace["metadata"]["name"] == NAMESPACE
    labels = namespace["metadata"]["labels"]
    assert labels["pod-security.kubernetes.io/enforce"] == "baseline"
    assert labels["app.kubernetes.io/name"] == NAMESPACE  # the environment's own label wins
    assert labels["app.kubernetes.io/managed-by"] == "gitops-agent"
    assert namespace["metadata"]["annotations"] == {"owner": "platform"}
    cm = next(o for o in objects if o["metadata"]["name"] == "argocd-cm")
    assert cm["metadata"]["namespace"] == NAMESPACE
    # the published file is copied byte for byte
    assert git(repo, "show", "env/dev:overlays/dev/extra/vendor/argocd.yaml") + "\n" == manifest


def test_a_published_namespace_with_the_environments_name(repo: Path) -> None:
    use_resources(repo, {"vendor/ns.yaml": namespace_doc(NAMESPACE, "restricted").encode()})
    namespace = only_namespace(accepted(repo))
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    assert namespace["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "gitops-agent"


def test_several_published_namespaces_fold_together(repo: Path) -> None:
    use_resources(
        repo,
        {
            "vendor/one.yaml": namespace_doc("one").encode(),
            "vendor/two.yaml": (
                b"apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: Namespace\n"
                b"  metadata: {name: two, labels: {team: ml}}\n"
            ),
        },
    )
    labels = only_namespace(accepted(repo))["metadata"]["labels"]
    assert labels["pod-security.kubernetes.io/enforce"] == "baseline" and labels["team"] == "ml"


def test_published_namespaces_that_disagree_are_refused(repo: Path) -> None:
    use_resources(
        repo,
        {
            "vendor/one.yaml": namespace_doc("one").encode(),
            "vendor/two.yaml": namespace_doc("two", "privileged").encode(),
        },
    )
    lines = refused(repo)
    assert any(
        line.startswith("vendor/two.yaml:6:41: metadata.labels.pod-security.kubernetes.io/enforce: ")
        and "'privileged'" in line
        and "vendor/one.yaml:1" in line
        for line in lines
    ), lines


def test_the_same_published_namespace_twice_is_refused(repo: Path) -> None:
    use_resources(repo, {"vendor/one.yaml": (namespace_doc("one") + "---\n" + namespace_doc("one")).encode()})
    lines = refused(repo)
    assert any(
        "vendor/one.yaml:13:9: metadata.name: Namespace 'one' is also defined at vendor/one.yaml:1" in x for x in lines
    )


# --- duplicate keys in lists Kubernetes merges by key ------------------------------------------

DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata: {{name: web}}
spec:
  selector: {{matchLabels: {{app: web}}}}
  template:
    metadata: {{labels: {{app: web}}}}
    spec:
{pod}
"""
CONTAINER = "      - name: web\n        image: nginx:1.27\n"
DUPLICATES = {
    "env name": (
        CONTAINER + "        env:\n        - {name: A, value: '1'}\n        - {name: A, value: '2'}\n",
        "spec.template.spec.containers[0].env[1]",
        "duplicate env name 'A'",
    ),
    "container ports": (
        CONTAINER + "        ports:\n        - {containerPort: 80}\n        - {containerPort: 80, protocol: TCP}\n",
        "spec.template.spec.containers[0].ports[1]",
        "duplicate ports containerPort '80', protocol 'TCP'",
    ),
    "volumeMounts": (
        CONTAINER + "        volumeMounts:\n        - {name: a, mountPath: /x}\n        - {name: b, mountPath: /x}\n",
        "spec.template.spec.containers[0].volumeMounts[1]",
        "duplicate volumeMounts mountPath '/x'",
    ),
    "containers": (CONTAINER + CONTAINER, "spec.template.spec.containers[1]", "duplicate containers name 'web'"),
}


def deployment(pod: str, extra: str = "") -> str:
    return DEPLOYMENT.format(pod="      containers:\n" + pod + extra)


@pytest.mark.parametrize("case", sorted(DUPLICATES))
def test_duplicate_list_keys_in_a_manifest_are_located(case: str, repo: Path) -> None:
    pod, field, message = DUPLICATES[case]
    use_resources(repo, {"vendor/web.yaml": deployment(pod).encode()})
    lines = refused(repo)
    assert any(re.match(rf"vendor/web\.yaml:\d+:\d+: {re.escape(field)}: {re.escape(message)}", x) for x in lines), (
        lines
    )


MORE_DUPLICATES = {
    "volumes": ("      volumes:\n      - {name: v, emptyDir: {}}\n      - {name: v, emptyDir: {}}\n", "volumes[1]"),
    "imagePullSecrets": ("      imagePullSecrets: [{name: r}, {name: r}]\n", "imagePullSecrets[1]"),
    "hostAliases": (
        "      hostAliases: [{ip: 10.0.0.1, hostnames: [a]}, {ip: 10.0.0.1, hostnames: [b]}]\n",
        "hostAliases[1]",
    ),
    "topologySpreadConstraints": (
        "      topologySpreadConstraints:\n"
        "      - {maxSkew: 1, topologyKey: zone, whenUnsatisfiable: DoNotSchedule, labelSelector: {}}\n"
        "      - {maxSkew: 2, topologyKey: zone, whenUnsatisfiable: DoNotSchedule, labelSelector: {}}\n",
        "topologySpreadConstraints[1]",
    ),
    "initContainers": (
        "      initContainers:\n      - {name: i, image: busybox}\n      - {name: i, image: busybox}\n",
        "initContainers[1]",
    ),
}


@pytest.mark.parametrize("case", sorted(MORE_DUPLICATES))
def test_duplicate_pod_spec_list_keys_are_located(case: str, repo: Path) -> None:
    extra, field = MORE_DUPLICATES[case]
    use_resources(repo, {"vendor/web.yaml": deployment(CONTAINER, extra).encode()})
    lines = refused(repo)
    assert any(f": spec.template.spec.{field}: duplicate {case}" in x for x in lines), lines


def test_distinct_keys_are_fine(repo: Path) -> None:
    pod = CONTAINER + "        ports:\n        - {containerPort: 53}\n        - {containerPort: 53, protocol: UDP}\n"
    use_resources(repo, {"vendor/web.yaml": deployment(pod).encode()})
    assert "Deployment/web" in kinds(accepted(repo))


def test_duplicates_in_service_ports_cronjobs_pods_and_lists(repo: Path) -> None:
    service = (
        "apiVersion: v1\nkind: Service\nmetadata: {name: s}\nspec:\n  ports:\n  - {port: 80}\n  - {port: 80, name: b}\n"
    )
    cronjob = (
        "apiVersion: batch/v1\nkind: CronJob\nmetadata: {name: c}\nspec:\n  schedule: '* * * * *'\n"
        "  jobTemplate:\n    spec:\n      template:\n        spec:\n          restartPolicy: Never\n"
        "          containers:\n          - name: c\n            image: busybox\n"
        "            env: [{name: X}, {name: X}]\n"
    )
    listed = (
        "apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: Pod\n  metadata: {name: p}\n"
        "  spec:\n    containers: [{name: a, image: x}, {name: a, image: y}]\n"
    )
    use_resources(
        repo,
        {
            "vendor/svc.yaml": service.encode(),
            "vendor/cron.yaml": cronjob.encode(),
            "vendor/list.yaml": listed.encode(),
        },
    )
    text = "\n".join(refused(repo))
    assert "vendor/svc.yaml:7:5: spec.ports[1]: duplicate ports port '80', protocol 'TCP' (first at line 6)" in text
    assert "vendor/cron.yaml:14:30: spec.jobTemplate.spec.template.spec.containers[0].env[1]: duplicate env" in text
    assert "vendor/list.yaml:8:39: items[0].spec.containers[1]: duplicate containers name 'a'" in text


def test_duplicate_port_numbers_in_a_workflow_are_located(repo: Path) -> None:
    """The compiled output's member of the kind: two port names with one number would give
    a container and a Service with duplicate ports."""
    workflow = repo / "workflows" / "image-recognition.yaml"
    text = workflow.read_text()
    assert "ports: {http: 8080}" in text
    workflow.write_text(text.replace("ports: {http: 8080}", "ports: {http: 8080, web: 8080}", 1))
    git(repo, "commit", "-q", "-am", "two names for one port")
    before = branches(repo)
    code, _, err = cli(["validate", "--repo", str(repo)])
    assert code == 2
    assert re.search(
        r"workflows/\S+\.yaml:\d+:\d+: spec\.services\.\S+\.ports\.web: duplicate containerPort 8080", err
    ), err
    code, _, err = cli(["compile", "--repo", str(repo), "--commit"])
    assert code == 2 and "duplicate containerPort 8080" in err
    assert branches(repo) == before


def test_binding_subjects_in_a_folded_namespace_move_with_it(repo: Path) -> None:
    """kustomize moves a subject's namespace only when the set's objects name it; a set
    whose objects carry no namespace (Argo CD's install) would keep bindings to
    ServiceAccounts in a namespace that is folded away."""
    binding = (
        "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRoleBinding\nmetadata: {name: 'ctl:admin'}\n"
        "roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: admin}\n"
        "subjects:\n- {kind: ServiceAccount, name: ctl, namespace: argocd}\n"
        "- {kind: ServiceAccount, name: dns, namespace: kube-system}\n"
    )
    account = "apiVersion: v1\nkind: ServiceAccount\nmetadata: {name: ctl}\n"
    use_resources(repo, {"vendor/set.yaml": "---\n".join([namespace_doc("argocd"), account, binding]).encode()})
    objects = accepted(repo)
    (found,) = [o for o in objects if o["kind"] == "ClusterRoleBinding" and o["metadata"]["name"] == "ctl:admin"]
    assert [s["namespace"] for s in found["subjects"]] == [NAMESPACE, "kube-system"]


PLAIN_SAMPLES = [
    "true",
    "True",
    "TRUE",
    "tRue",
    "false",
    "null",
    "Null",
    "NULL",
    "nUll",
    "no",
    "yes",
    "on",
    "off",
    "n",
    "t",
    "f",
    "0",
    "00",
    "01",
    "-0",
    "-1",
    "+1",
    "123",
    "1_000",
    "0x1F",
    "0o17",
    "1e3",
    "1.5",
    ".inf",
    ".nan",
    "-.inf",
    "~",
    "2001-12-14",
    "12:30",
    "abc",
    "/path",
    "$x",
    "@x",
    "%x",
    "-",
    "--x",
    "-a",
    ".a",
    "+a",
    "0a",
    "9z",
    "nan",
    "inf",
    "Infinity",
    "ümlaut",
    "=",
    "<<",
    "1:2",
    "-12345678901234567890",
    "99999999999999999999",
    "!x",
    "&a",
    "*b",
    "<x",
]


@settings(max_examples=300, deadline=None)
@given(text=st.one_of(st.sampled_from(PLAIN_SAMPLES), st.text(min_size=1, max_size=12)))
def test_the_fast_plain_scalar_path_agrees_with_the_resolver(text: str) -> None:
    """Plain scalars skip ruamel's resolver when their value is plain to see; the value is
    the one the YAML 1.2 core resolver gives."""
    known, value = _plain_core_value(text)
    if not known:
        return
    resolver = YAML(typ="safe", pure=True)
    tag = str(resolver.resolver.resolve(ScalarNode, text, (True, False)))
    constructed = text if tag.endswith(("str", "timestamp")) else None
    expected = constructed if constructed is not None else resolver.constructor.construct_object(ScalarNode(tag, text))
    assert value == expected and type(value) is type(expected)


ANCHOR_CASES = {
    "alias": HEAD + "  labels: &l {x: y}\n  annotations: *l\n",
    "merge key": HEAD + "data:\n  <<: {k: v, z: merged}\n  z: w\n",
    "merge list": "x: &a {k: 1, j: 2}\ny: &b {k: 3, m: 4}\n" + HEAD + "data:\n  <<: [*a, *b]\n",
    "alias of a scalar": HEAD + "  labels: {a: &v one, b: *v}\n",
    "unknown anchor": HEAD + "  labels: *nowhere\n",
    "recursive alias": HEAD + "data: &d\n  d: *d\n",
}


@pytest.mark.parametrize("case", sorted(ANCHOR_CASES))
def test_anchors_aliases_and_merge_keys_as_kustomize_reads_them(case: str, tmp_path: Path) -> None:
    """kustomize (yaml.v3) expands anchors, aliases and merge keys in manifests; so do we,
    each alias counting the nodes it repeats. Spec files still refuse them."""
    text = ANCHOR_CASES[case]
    built = kustomize_accepts(tmp_path, text)
    documents, problems = load_yaml(text.encode(), "m.yaml", MANIFEST_LIMITS)
    if built is None:
        assert problems, case
        return
    assert problems == [], case
    (document,) = [d for d in documents if isinstance(d.data, dict) and d.data.get("kind") == "ConfigMap"]
    ours = {k: v for k, v in document.data.items() if k in built}
    for value in (ours, built):
        value.get("data", {}).pop("<<", None)
    assert {k: ours[k] for k in ("metadata", "data") if k in built} == {
        k: built[k] for k in ("metadata", "data") if k in built
    }
    assert load_yaml(text.encode(), "spec.yaml", SPEC_LIMITS)[1], "a spec file accepted an anchor"


def test_an_alias_bomb_in_a_manifest_hits_the_node_bound() -> None:
    rows = ["a: &a [x, x, x, x, x, x, x, x, x, x]"]
    rows += [f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 10)}]" for i in range(8)]
    _, problems = load_yaml(("\n".join(rows) + "\n").encode(), "m.yaml", MANIFEST_LIMITS)
    assert [p.message for p in problems] == [f"file has more than {MANIFEST_LIMITS.max_nodes} YAML nodes"]


# --- objects that would collide in the overlay ---------------------------------------------


def test_the_same_object_in_two_namespaces_is_located(repo: Path, tmp_path: Path) -> None:
    """Two ConfigMaps named alike in different namespaces both land in the environment's:
    kustomize refuses the overlay ("namespace transformation produces ID conflict")."""
    first = config_map("shared", "  namespace: team-a\n")
    second = "# the other team's copy\n" + config_map("shared", "  namespace: team-b\n")
    (tmp_path / "kust").mkdir()
    (tmp_path / "kust" / "a.yaml").write_text(first)
    (tmp_path / "kust" / "b.yaml").write_text(second)
    (tmp_path / "kust" / "kustomization.yaml").write_text("namespace: ml\nresources: [a.yaml, b.yaml]\n")
    proc = subprocess.run([kubectl_path(), "kustomize", str(tmp_path / "kust")], capture_output=True, check=False)
    assert proc.returncode != 0 and b"ID conflict" in proc.stderr
    use_resources(repo, {"vendor/a.yaml": first.encode(), "vendor/b.yaml": second.encode()})
    lines = refused(repo)
    assert (
        "vendor/b.yaml:5:9: metadata.name: ConfigMap 'shared' is also defined at vendor/a.yaml:4 "
        f"(both land in namespace {NAMESPACE!r})" in lines
    ), lines


def test_an_object_a_workflow_generates_is_located_at_compile(repo: Path) -> None:
    clash = config_map("image-recognition-config")
    use_resources(repo, {"vendor/clash.yaml": clash.encode()})
    before = branches(repo)
    code, _, err = cli(["compile", "--repo", str(repo), "--commit", "--env", "dev"])
    assert code == 2
    assert (
        "vendor/clash.yaml:4:9: metadata.name: ConfigMap 'image-recognition-config' is also generated by "
        "workflow 'image-recognition'" in err
    ), err
    assert branches(repo) == before


def test_validate_reports_manifest_problems_with_the_environments_own(repo: Path) -> None:
    pod, _, _ = DUPLICATES["env name"]
    use_resources(repo, {"vendor/web.yaml": deployment(pod).encode()})
    env = repo / "environments" / "dev.yaml"
    env.write_text(env.read_text().replace("interval: 30s", "interval: soon"))
    git(repo, "commit", "-q", "-am", "bad interval")
    code, _, err = cli(["validate", "--repo", str(repo)])
    assert code == 2
    assert "environments/dev.yaml:" in err and "spec.sync.interval" in err, err
    assert "vendor/web.yaml:" in err and "duplicate env name 'A'" in err, err


def test_compiled_objects_are_checked_for_duplicate_list_keys(repo: Path) -> None:
    """The guard behind the spec checks: a hand-built workflow whose service gives one port
    number two names (which validation refuses) still never reaches a tree."""
    specs = load_specs(repo)
    workflow = specs.workflows["image-recognition"]
    services = tuple(
        dataclasses.replace(s, ports=frozen_map({**s.ports, "web": next(iter(s.ports.values()))})) if s.ports else s
        for s in workflow.services
    )
    broken = dataclasses.replace(workflow, services=services)
    workflows = frozen_map({**specs.workflows, "image-recognition": broken})
    raw = dict(specs.raw_workflows)
    raw["image-recognition"] = {}
    hand_built = dataclasses.replace(specs, workflows=workflows, raw_workflows=frozen_map(raw))
    env = dataclasses.replace(specs.environments["dev"], overrides=frozen_map({}))
    with pytest.raises(SpecError) as raised:
        compile_environment(hand_built, env, source_commit=None, repo_root=repo)
    messages = [str(d) for d in raised.value.diagnostics]
    assert any(
        re.match(
            r"workflows/image-recognition\.yaml:0:0: spec\.template\.spec\.containers\[0\]\.ports\[1\]: "
            r"compiled Deployment/\S+: duplicate ports containerPort '8080', protocol 'TCP'",
            m,
        )
        for m in messages
    ), messages
