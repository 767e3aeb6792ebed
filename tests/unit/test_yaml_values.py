"""Strings that look like numbers, booleans, nulls or timestamps stay the same strings from git,
through kustomize, to every output: the reader resolves plain scalars as kustomize (go-yaml v3)
does, and every emitter quotes what any YAML reader could take for something else."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ruamel.yaml import YAML

from gitops_agent.compile import compile_environment
from gitops_agent.errors import InvalidInputError
from gitops_agent.reconcile.diff import to_yaml
from gitops_agent.render.overlay import read_kustomize_output, render_files
from gitops_agent.spec import load_specs
from gitops_agent.vocabulary import labels as L
from gitops_agent.vocabulary.yaml import (
    NonFiniteNumberError,
    dump,
    dump_all,
    load_all,
    manifest_lines,
    needs_quotes,
    resolve_plain,
)
from tests.support.number_like import KIND_MEMBERS, overflowing_config

# What go-yaml v3 (gopkg.in/yaml.v3 v3.0.1, decoding into an untyped value) gives each plain scalar.
GO_YAML_V3 = {
    "609e4400": "609e4400",
    "1e400": "1e400",
    "9223372036854775807": 9223372036854775807,
    "9223372036854775808": 9223372036854775808,
    "18446744073709551615": 18446744073709551615,
    "18446744073709551616": 1.8446744073709552e19,
    "-9223372036854775809": -9.223372036854776e18,
    "1_000": 1000,
    "1_": 1,
    "_1": "_1",
    "+1": 1,
    ".5": 0.5,
    ".5_5": 0.55,
    "._5": "._5",
    "1.": 1.0,
    "1e3": 1000.0,
    "1e-400": 0.0,
    "0777": 511,
    "08": 8.0,
    "0x1F": 31,
    "0X1f": 31,
    "-0x1F": -31,
    "0x": "0x",
    "0o17": 15,
    "0b101": 5,
    "0b+1": 1,
    "0o-7": -7,
    "1:20": "1:20",
    "y": "y",
    "yes": "yes",
    "on": "on",
    "True": True,
    "NULL": None,
    "~": None,
    "": None,
    "2001-12-14": "2001-12-14",
    "<<": "<<",
    "=": "=",
    "Infinity": "Infinity",
    "1.4.0": "1.4.0",
    "500m": "500m",
}


def test_plain_scalars_resolve_as_go_yaml_v3_resolves_them() -> None:
    for text, expected in GO_YAML_V3.items():
        got = resolve_plain(text)
        assert type(got) is type(expected) and got == expected, text
    assert math.isinf(resolve_plain(".Inf"))  # type: ignore[arg-type]
    assert math.isnan(resolve_plain(".NaN"))  # type: ignore[arg-type]


def _readers(text: str) -> list[Any]:
    """``text`` as read by YAML 1.1 (PyYAML), YAML 1.2 (ruamel.yaml) and go-yaml v3 (ours)."""
    return [yaml.safe_load(text), YAML(typ="safe", pure=True).load(text), load_all(text)[0]]


def _assert_every_emitter_keeps(value: str) -> None:
    document = {"kind": "ConfigMap", "metadata": {"annotations": {"build/hash": value}}, "data": {value: value}}
    for emitted in (dump(document).decode(), "".join(manifest_lines(document)), to_yaml(document)):
        for read in _readers(emitted):
            assert read == document, f"{value!r} emitted as:\n{emitted}"


@pytest.mark.parametrize("value", KIND_MEMBERS)
def test_every_member_of_the_kind_is_quoted_and_read_back_exactly(value: str) -> None:
    assert needs_quotes(value)
    _assert_every_emitter_keeps(value)


@pytest.mark.parametrize("value", ["nginx", "500m", "1Gi", "v1", "true-story", "1.4.0", "Infinity", "a b"])
def test_ordinary_strings_stay_plain(value: str) -> None:
    assert not needs_quotes(value)
    assert dump({"k": value}).decode() == f"k: {value}\n"
    _assert_every_emitter_keeps(value)


_digits = st.text("0123456789", min_size=1, max_size=5)
_sign = st.sampled_from(["", "+", "-"])


def _underscore(text: str, where: int) -> str:
    return text[:where] + "_" + text[where:] if where <= len(text) else text


_decimals = st.builds(
    lambda sign, whole, dot, fraction, e, exponent: f"{sign}{whole}{dot}{fraction}{e}{exponent if e else ''}",
    _sign,
    _digits | st.just(""),
    st.sampled_from(["", "."]),
    st.text("0123456789", max_size=3),
    st.sampled_from(["", "e", "E", "e+", "e-", "E+"]),
    _digits,
)
_hashes = st.builds(lambda a, b: f"{a}e{b}"[:8], _digits, st.text("0123456789", min_size=2, max_size=7))
_prefixed = st.builds(
    lambda sign, prefix, body: f"{sign}{prefix}{body}",
    _sign,
    st.sampled_from(["0x", "0X", "0o", "0O", "0b", "0B", "0"]),
    st.text("0123456789abcdefABCDEF_+-", max_size=6),
)
_underscored = st.builds(_underscore, _decimals, st.integers(0, 6))
_huge = st.integers(2**63 - 2, 2**70).map(str) | st.integers(-(2**70), -(2**63) - 1).map(str)
_sexagesimal = st.builds(
    lambda sign, head, parts, fraction: f"{sign}{head}" + "".join(f":{p}" for p in parts) + fraction,
    _sign,
    _digits,
    st.lists(st.integers(0, 59).map(str), min_size=1, max_size=3),
    st.sampled_from(["", ".", ".5"]),
)
_timestamps = st.builds(
    lambda moment, separator, fraction, zone, date_only: (
        moment.strftime("%Y-%m-%d") if date_only else moment.strftime(f"%Y-%m-%d{separator}%H:%M:%S") + fraction + zone
    ),
    st.datetimes(),
    st.sampled_from(["T", "t", " "]),
    st.sampled_from(["", ".1", ".10", ".123456"]),
    st.sampled_from(["", "Z", "-05:00", "+01", " Z"]),
    st.booleans(),
)
_words = st.builds(
    lambda word, case: case(word),
    st.sampled_from(["y", "n", "yes", "no", "true", "false", "on", "off", "null", "~", ".inf", "+.inf", "-.inf"])
    | st.sampled_from([".nan", "<<", "=", ""]),
    st.sampled_from([str.lower, str.upper, str.capitalize]),
)
NUMBER_LIKE = st.one_of(_decimals, _hashes, _prefixed, _underscored, _huge, _sexagesimal, _timestamps, _words)
PADDED = st.builds(
    lambda pad, text, end: f"{pad}{text}{end}",
    st.sampled_from(["", " "]),
    NUMBER_LIKE,
    st.sampled_from(["", " ", "\t"]),
)


@settings(max_examples=600, deadline=None)
@given(PADDED)
def test_number_like_strings_survive_every_emitter_and_reader(value: str) -> None:
    _assert_every_emitter_keeps(value)


ANY_TEXT = st.text(max_size=12) | st.text(" \n\t\r\x85\u2028\u2029\ufeff\x7fab:#-'\"|>", max_size=10)


@settings(max_examples=600, deadline=None)
@given(ANY_TEXT)
def test_any_text_survives_every_emitter_and_reader(value: str) -> None:
    """Control characters, ``\\r``, YAML 1.1 line breaks (``\\x85``, ``\\u2028``), tabs that
    start a line: escaped or quoted so that libyaml, PyYAML and ruamel.yaml read them back."""
    _assert_every_emitter_keeps(value)


def _write_repo(root: Path, values: list[str]) -> None:
    """A workflow whose ``config`` holds ``values`` and an environment listing a ConfigMap
    (in ``resources:``) that carries them as annotations and data, written as git holds them."""
    (root / "workflows").mkdir(parents=True)
    (root / "environments").mkdir()
    (root / "extra").mkdir()
    keyed = {f"v{index}": value for index, value in enumerate(values)}
    workflow = {
        "apiVersion": "gitops-agent.io/v1alpha1",
        "kind": "Workflow",
        "metadata": {"name": "wf"},
        "spec": {
            "defaults": {"image": "reg.example.com/a:1.0"},
            "tasks": {"t": {"command": ["true"]}},
            "config": keyed,
        },
    }
    (root / "workflows" / "wf.yaml").write_bytes(dump(workflow))
    environment = {
        "apiVersion": "gitops-agent.io/v1alpha1",
        "kind": "Environment",
        "metadata": {"name": "test"},
        "spec": {"namespace": "ns-test", "branch": "env/test", "resources": ["extra/values.yaml"]},
    }
    (root / "environments" / "test.yaml").write_bytes(dump(environment))
    config_map = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "values", "annotations": {f"example.com/{k}": v for k, v in keyed.items()}},
        "data": keyed,
    }
    (root / "extra" / "values.yaml").write_bytes(dump(config_map))


def _render(root: Path) -> list[dict[str, Any]]:
    specs = load_specs(root)
    tree = compile_environment(specs, specs.environments["test"], source_commit="c" * 40, repo_root=root)
    return render_files(dict(tree), "test")


def _by_name(objects: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    return next(o for o in objects if o["kind"] == kind and o["metadata"]["name"] == name)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(values=st.lists(PADDED, min_size=1, max_size=12))
def test_number_like_strings_reach_render_exactly_through_real_kustomize(
    tmp_path_factory: pytest.TempPathFactory, values: list[str]
) -> None:
    root = tmp_path_factory.mktemp("values")
    _write_repo(root, values)
    objects = _render(root)
    keyed = {f"v{index}": value for index, value in enumerate(values)}
    extra = _by_name(objects, "ConfigMap", "values")
    annotations = {k.removeprefix("example.com/"): v for k, v in extra["metadata"]["annotations"].items()}
    assert annotations == keyed
    assert extra["data"] == keyed
    assert _by_name(objects, "ConfigMap", "wf-config")["data"] == keyed
    as_json = json.dumps(objects, allow_nan=False)  # render -o json: valid JSON, no Infinity/NaN
    assert json.loads(as_json) == objects
    for read in (list(yaml.safe_load_all(dump_all(objects))), load_all(dump_all(objects))):
        assert read == objects  # render's YAML text reads back as the same objects


def test_an_overflowing_config_hash_compiles_and_renders_exactly(tmp_path: Path) -> None:
    config, digest = overflowing_config()
    _write_repo(tmp_path, [])
    workflow = YAML(typ="safe", pure=True).load((tmp_path / "workflows" / "wf.yaml").read_text())
    workflow["spec"]["config"] = config
    (tmp_path / "workflows" / "wf.yaml").write_bytes(dump(workflow))
    objects = _render(tmp_path)
    job = _by_name(objects, "Job", next(o["metadata"]["name"] for o in objects if o["kind"] == "Job"))
    assert job["spec"]["template"]["metadata"]["annotations"][L.CONFIG_HASH_ANNOTATION] == digest
    assert isinstance(resolve_plain(digest), str)  # kustomize prints it plain
    assert f"{L.CONFIG_HASH_ANNOTATION}: {digest}\n" in _kustomize_text(tmp_path)
    json.dumps(objects, allow_nan=False)


def _kustomize_text(root: Path) -> str:
    import subprocess
    import tempfile

    from gitops_agent.adapters.kustomize import kubectl_path

    specs = load_specs(root)
    tree = compile_environment(specs, specs.environments["test"], source_commit="c" * 40, repo_root=root)
    with tempfile.TemporaryDirectory() as tmp:
        for path, content in dict(tree).items():
            (Path(tmp) / path).parent.mkdir(parents=True, exist_ok=True)
            (Path(tmp) / path).write_bytes(content)
        out = subprocess.run(
            [kubectl_path(), "kustomize", str(Path(tmp) / "overlays" / "test")], capture_output=True, check=True
        )
    return out.stdout.decode()


@pytest.mark.parametrize("plain", [".inf", "-.Inf", ".NaN"])
def test_a_plain_infinity_or_nan_is_refused_with_the_object_and_field_named(plain: str) -> None:
    output = f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\n  namespace: ns\nspec:\n  x: [1, {plain}]\n"
    with pytest.raises(NonFiniteNumberError):
        load_all(output)
    with pytest.raises(InvalidInputError, match=r"^ConfigMap/ns/c: spec\.x\[1\]: "):
        read_kustomize_output(output.encode(), "overlays/test")


def test_kustomize_output_keys_are_their_text() -> None:
    assert load_all("1e3: a\ntrue: b\n0x1F: c\n~: d\n") == [{"1e3": "a", "true": "b", "0x1F": "c", "~": "d"}]


@pytest.mark.parametrize("plain", ["609e4400", "1e999", "-2E+400", "123e4567"])
def test_a_plain_spec_value_that_overflows_a_float_stays_its_text(tmp_path: Path, plain: str) -> None:
    """Specs are read as YAML 1.2, where ``609e4400`` is a float that overflows to infinity;
    go-yaml (kustomize, kubectl) keeps such a scalar a string, and so does the spec reader."""
    (tmp_path / "workflows").mkdir()
    (tmp_path / "environments").mkdir()
    (tmp_path / "workflows" / "wf.yaml").write_text(
        "apiVersion: gitops-agent.io/v1alpha1\nkind: Workflow\nmetadata: {name: wf}\nspec:\n"
        "  defaults: {image: reg.example.com/a:1.0}\n"
        f"  tasks: {{t: {{command: ['true'], env: {{BUILD: {plain}}}}}}}\n"
        f"  config: {{hash: {plain}}}\n"
    )
    (tmp_path / "environments" / "test.yaml").write_text(
        "apiVersion: gitops-agent.io/v1alpha1\nkind: Environment\nmetadata: {name: test}\n"
        "spec: {namespace: ns-test, branch: env/test}\n"
    )
    workflow = load_specs(tmp_path).workflows["wf"]
    assert workflow.config["hash"] == plain
    assert workflow.task("t").container.env["BUILD"] == plain


@settings(max_examples=400, deadline=None)
@given(st.floats(allow_nan=False, allow_infinity=False) | st.integers(-(2**63), 2**63 - 1))
def test_numbers_stay_the_same_numbers_for_every_reader(number: float) -> None:
    emitted = dump({"n": number}).decode()
    for read in _readers(emitted):
        assert read == {"n": number} and type(read["n"]) is type(number), emitted


REALWORLD = Path("/work/shared/realworld")


@pytest.mark.parametrize("manifest_set", ["ingress-nginx", "cert-manager", "argo-cd-install", "zookeeper-statefulset"])
def test_published_manifests_render_to_yaml_kustomize_reads_back_as_the_same_objects(
    tmp_path: Path, manifest_set: str
) -> None:
    """Published manifest sets built by the real kustomize: ``render``'s YAML of them, built
    again by kustomize (go-yaml v3, as ``kubectl apply -f`` reads it), gives back exactly the
    objects read, and ``render -o json`` is strict JSON."""
    import shutil
    import subprocess

    from gitops_agent.adapters.kustomize import kubectl_path
    from gitops_agent.render.overlay import render_overlay

    overlay = tmp_path / "overlays" / "test"
    copied = overlay / "extra" / manifest_set
    shutil.copytree(REALWORLD / manifest_set / "manifests", copied)
    if (copied / "kustomization.yaml").exists():
        resources = [f"extra/{manifest_set}"]
    else:
        resources = [f"extra/{manifest_set}/{path.name}" for path in sorted(copied.glob("*.yaml"))]
    (overlay / "kustomization.yaml").write_text(f"namespace: ns-test\nresources: {json.dumps(resources)}\n")
    objects = render_overlay(tmp_path, "test")
    assert len(objects) > 3
    json.dumps(objects, allow_nan=False)
    again = tmp_path / "again"
    again.mkdir()
    (again / "render.yaml").write_bytes(dump_all(objects))
    (again / "kustomization.yaml").write_text("resources: [render.yaml]\n")
    rebuilt = subprocess.run([kubectl_path(), "kustomize", str(again)], capture_output=True, check=True).stdout
    key = lambda o: (o["kind"], o["metadata"].get("namespace", ""), o["metadata"]["name"])  # noqa: E731
    assert sorted(load_all(rebuilt), key=key) == sorted(objects, key=key)
