"""File-level problems: YAML syntax, duplicate keys, document shape, encoding, aliases,
size and depth limits. Each is a located diagnostic, never an exception."""

from __future__ import annotations

from pathlib import Path

from gitops_agent.spec.yaml_positions import MAX_DEPTH, MAX_FILE_BYTES, format_path, load_yaml
from tests.unit.specs.helpers import assert_only, diagnose, workflow_problems

F = "workflows/wf.yaml"


def test_positions_of_keys_and_values_are_one_based() -> None:
    documents, problems = load_yaml(b"a: 1\nb:\n  - x\n  - {c: 2}\n", "f.yaml")
    assert problems == []
    (document,) = documents
    assert document.data == {"a": 1, "b": ["x", {"c": 2}]}
    assert document.keys[("a",)] == (1, 1)
    assert document.values[("a",)] == (1, 4)
    assert document.values[("b", 0)] == (3, 5)
    assert document.keys[("b", 1, "c")] == (4, 6)
    assert document.values[("b", 1, "c")] == (4, 9)


def test_scalars_follow_the_yaml_1_2_core_schema() -> None:
    (document,), _ = load_yaml(
        b"a: yes\nb: 0x1F\nc: 2001-12-14\nd: !!str 12\ne: ~\nf: '1'\ng: 1.5\n", "f.yaml"
    )
    assert document.data == {
        "a": "yes",
        "b": 31,
        "c": "2001-12-14",
        "d": "12",
        "e": None,
        "f": "1",
        "g": 1.5,
    }


def test_field_paths_quote_odd_keys() -> None:
    assert (
        format_path(("spec", "tasks", "train", "dependsOn", 0)) == "spec.tasks.train.dependsOn[0]"
    )
    assert format_path(("spec", "config", "a b")) == 'spec.config["a\\u0020b"]'
    assert format_path(()) == "<root>"


def test_syntax_error_has_its_position(tmp_path: Path) -> None:
    found = workflow_problems(
        tmp_path,
        """\
        apiVersion: gitops-agent.io/v1alpha1
        kind: Workflow
        metadata: {name: wf
        spec: {}
        """,
    )
    assert_only(found, F, 4, 5, "<root>", "YAML syntax error")


def test_tab_indentation_is_a_syntax_error(tmp_path: Path) -> None:
    found = diagnose(tmp_path, {F: "apiVersion: gitops-agent.io/v1alpha1\n\tkind: Workflow\n"})
    assert_only(found, F, 2, 1, "<root>", "YAML syntax error")


def test_duplicate_key_points_at_the_second(tmp_path: Path) -> None:
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
              image: app:2
        """,
    )
    assert_only(found, F, 8, 7, "spec.tasks.prep.image", "duplicate key 'image'", "line 7")


def test_non_mapping_document(tmp_path: Path) -> None:
    found = diagnose(tmp_path, {F: "- apiVersion: gitops-agent.io/v1alpha1\n"})
    assert_only(found, F, 1, 1, "<root>", "must be a mapping")


def test_unknown_api_version(tmp_path: Path) -> None:
    found = workflow_problems(
        tmp_path,
        """\
        apiVersion: apps/v1
        kind: Workflow
        metadata: {name: wf}
        spec: {}
        """,
    )
    assert_only(found, F, 1, 13, "apiVersion", "unknown apiVersion", "gitops-agent.io/v1alpha1")


def test_unknown_kind(tmp_path: Path) -> None:
    found = workflow_problems(
        tmp_path,
        """\
        apiVersion: gitops-agent.io/v1alpha1
        kind: Pipeline
        metadata: {name: wf}
        spec: {}
        """,
    )
    assert_only(found, F, 2, 7, "kind", "unknown kind")


def test_missing_kind(tmp_path: Path) -> None:
    found = workflow_problems(
        tmp_path,
        """\
        apiVersion: gitops-agent.io/v1alpha1
        metadata: {name: wf}
        """,
    )
    assert_only(found, F, 1, 1, "kind", "'kind' is missing")


def test_non_utf8_file_names_the_byte_position(tmp_path: Path) -> None:
    raw = b"apiVersion: gitops-agent.io/v1alpha1\nkind: Workflow\nmetadata: {name: w\xe9}\n"
    found = diagnose(tmp_path, {F: raw})
    assert_only(found, F, 3, 19, "<root>", "not valid UTF-8", "0xe9")


def test_aliases_and_anchors_are_refused(tmp_path: Path) -> None:
    found = workflow_problems(
        tmp_path,
        """\
        apiVersion: gitops-agent.io/v1alpha1
        kind: Workflow
        metadata: {name: wf}
        spec:
          defaults: &base {image: app:1}
        """,
    )
    assert_only(found, F, 5, 13, "<root>", "anchors")


def test_alias_bomb_is_refused_quickly(tmp_path: Path) -> None:
    lines = ['a0: &a0 ["x","x","x","x","x","x","x","x","x"]']
    lines += [f"a{i}: &a{i} [*a{i - 1},*a{i - 1},*a{i - 1},*a{i - 1}]" for i in range(1, 30)]
    found = diagnose(tmp_path, {F: "\n".join(lines) + "\n"})
    assert_only(found, F, 1, 5, "<root>", "anchors")


def test_merge_keys_are_refused(tmp_path: Path) -> None:
    found = diagnose(tmp_path, {F: "apiVersion: gitops-agent.io/v1alpha1\n<<: {kind: Workflow}\n"})
    assert_only(found, F, 2, 1, "<root>", "merge keys")


def test_custom_tags_are_refused(tmp_path: Path) -> None:
    found = diagnose(tmp_path, {F: "apiVersion: !env API_VERSION\n"})
    assert_only(found, F, 1, 13, "<root>", "unsupported YAML tag '!env'")


def test_huge_file_is_refused(tmp_path: Path) -> None:
    found = diagnose(tmp_path, {F: "# " + "x" * MAX_FILE_BYTES + "\n"})
    assert_only(found, F, 1, 1, "<root>", "larger than")


def test_deep_nesting_is_refused(tmp_path: Path) -> None:
    depth = 10_000
    found = diagnose(tmp_path, {F: "a: " + "[" * depth + "]" * depth + "\n"})
    assert_only(found, F, 1, 4 + MAX_DEPTH - 1, "<root>", f"deeper than {MAX_DEPTH}")


def test_empty_file(tmp_path: Path) -> None:
    found = diagnose(tmp_path, {F: "# nothing here\n"})
    assert_only(found, F, 1, 1, "<root>", "no YAML document")


def test_every_file_reports_its_own_problems(tmp_path: Path) -> None:
    found = diagnose(
        tmp_path,
        {
            "workflows/a.yaml": "kind: [\n",
            "workflows/b.yml": "apiVersion: gitops-agent.io/v1alpha1\nkind: Job\n",
            "environments/c.yaml": b"\xff",
        },
    )
    assert [(d.file, d.line) for d in found] == [
        ("environments/c.yaml", 1),
        ("workflows/a.yaml", 2),
        ("workflows/b.yml", 2),
    ]
