"""The shared vocabulary: each term that decides pruning or masking has exactly one definition."""

from __future__ import annotations

import ast
import json
import re
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from kubernetes.utils import parse_quantity as kubernetes_parse_quantity

from gitops_agent.commands.common import parse_seconds
from gitops_agent.errors import InvalidInputError
from gitops_agent.history.audit import parse_since
from gitops_agent.optimize.recommend import _seconds as _window_seconds
from gitops_agent.plan.build import diff_environment
from gitops_agent.reconcile.diff import unified_diff
from gitops_agent.reconcile.objects import has_ownership_labels, is_owned, tracking_id
from gitops_agent.reconcile.review import field_changes
from gitops_agent.vocabulary import labels
from gitops_agent.vocabulary.durations import PATTERN as DURATION_PATTERN
from gitops_agent.vocabulary.durations import parse_duration
from gitops_agent.vocabulary.masking import MASK, MASK_AFTER, MASK_BEFORE, mask_secrets, mask_secrets_in_text
from gitops_agent.vocabulary.objects import ObjectKey, ref_of, task_of
from gitops_agent.vocabulary.quantities import parse_quantity, quantities_equal, quantity_float

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "gitops_agent"
LABELS_MODULE = PACKAGE / "vocabulary" / "labels.py"
MASKING_MODULE = PACKAGE / "vocabulary" / "masking.py"
MASK_LIKE = re.compile(r"\*\*\*|<masked")
LABEL_KEY = re.compile(r"(app\.kubernetes\.io|gitops-agent\.io)/[\w.-]*")
SPEC_API_VERSION = re.compile(r"gitops-agent\.io/v\d+((alpha|beta)\d+)?")


def _modules() -> Iterator[Path]:
    yield from sorted(PACKAGE.rglob("*.py"))


def _code_strings(path: Path) -> Iterator[tuple[int, str]]:
    """String constants of a module, docstrings left out (they may name a key in prose)."""
    tree = ast.parse(path.read_text())
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings:
            yield node.lineno, node.value


def _defined_names(path: Path) -> Iterator[str]:
    """Functions, classes and module or class variables, and type aliases (``Manifest = dict[...]``)."""
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.FunctionDef | ast.ClassDef):
            yield node.name
        elif isinstance(node, ast.Assign):
            yield from (t.id for t in node.targets if isinstance(t, ast.Name))
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            yield node.target.id


def test_label_and_annotation_keys_are_written_only_in_the_vocabulary() -> None:
    found = [
        f"{path.relative_to(ROOT)}:{line}: {text}"
        for path in _modules()
        if path != LABELS_MODULE
        for line, text in _code_strings(path)
        if LABEL_KEY.fullmatch(text) and not SPEC_API_VERSION.fullmatch(text)
    ]
    assert found == []


def test_ownership_and_identity_are_defined_once() -> None:
    unique = {"ownership_selector", "ownership", "Manifest", "ObjectKey", "ObjectRef", "ref_of", "task_of", "is_job"}
    unique |= {"parse_quantity", "quantities_equal", "parse_duration", "mask_secrets", "is_secret"}
    unique |= {"manifest_lines", "needs_quotes", "double_quoted", "resolve_plain", "dump", "load_all", "_PLAIN"}
    unique |= {"api_error", "identity_env", "split_api_version"}
    definitions = sorted(
        f"{path.relative_to(ROOT)}: {name}" for path in _modules() for name in _defined_names(path) if name in unique
    )
    shared = ("gitops_agent/vocabulary/", "gitops_agent/errors.py", "gitops_agent/adapters/git.py")
    assert all(line.startswith(shared) for line in definitions), definitions
    assert len(definitions) == len(unique)


def test_the_ownership_selector_lists_exactly_what_the_ownership_labels_mark() -> None:
    selector = labels.ownership_selector("dev")
    assert selector == "app.kubernetes.io/managed-by=gitops-agent,gitops-agent.io/environment=dev"
    obj = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": "ml-dev"}}
    obj["metadata"]["labels"] = labels.ownership("dev")
    assert has_ownership_labels(obj, "dev") and not has_ownership_labels(obj, "prod")
    obj["metadata"]["annotations"] = {labels.TRACKING_ANNOTATION: tracking_id("dev", ref_of(obj))}
    assert is_owned(obj, "dev")


def test_task_of_names_the_workflow_and_task_of_a_batch_job_only() -> None:
    task_labels = {labels.PART_OF_LABEL: "fraud", labels.TASK_LABEL: "score"}
    job = {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "j", "labels": task_labels}}
    assert task_of(job) == ("fraud", "score")
    assert task_of({**job, "apiVersion": "example.com/v1"}) is None
    assert task_of({**job, "metadata": {"name": "j"}}) is None


def test_an_object_key_leaves_the_version_out() -> None:
    meta = {"name": "h", "namespace": "n"}
    v1 = {"apiVersion": "autoscaling/v1", "kind": "HorizontalPodAutoscaler", "metadata": meta}
    v2 = {**v1, "apiVersion": "autoscaling/v2"}
    assert ObjectKey.of(v1) == ObjectKey.of(v2) == ObjectKey("autoscaling", "HorizontalPodAutoscaler", "n", "h")
    assert str(ObjectKey.of(v1)) == "HorizontalPodAutoscaler/n/h"
    assert ref_of(v1).key == ref_of(v2).key


def test_the_mask_is_written_only_in_the_vocabulary() -> None:
    found = [
        f"{path.relative_to(ROOT)}:{line}: {text}"
        for path in _modules()
        if path != MASKING_MODULE
        for line, text in _code_strings(path)
        if MASK_LIKE.search(text)
    ]
    masks = [name for path in _modules() for name in _defined_names(path) if name.startswith("MASK")]
    assert found == [] and sorted(masks) == ["MASK", "MASK_AFTER", "MASK_BEFORE"]


def _secret(**data: str) -> dict[str, object]:
    return {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s", "namespace": "n"}, "data": data}


def test_equal_values_mask_equal_and_different_values_mask_different() -> None:
    before, after = _secret(same="YQ==", gone="Yg==", changed="MQ=="), _secret(same="YQ==", new="Yw==", changed="Mg==")
    old, new = mask_secrets(before, after)
    assert old is not None and new is not None
    assert old["data"] == {"same": MASK, "gone": MASK, "changed": MASK_BEFORE}
    assert new["data"] == {"same": MASK, "new": MASK, "changed": MASK_AFTER}
    assert before["data"] == {"same": "YQ==", "gone": "Yg==", "changed": "MQ=="}  # the inputs are left alone


def test_plan_sync_and_field_changes_show_one_mask() -> None:
    """``plan`` (git against git), the sync diff (live against git) and field changes agree."""
    before, after = _secret(token="c2VjcmV0LTE="), _secret(token="c2VjcmV0LTI=")
    (planned,) = diff_environment("dev", [before], [after]).changes
    synced = unified_diff(ref_of(after), before, after)
    fields = [f.to_json() for f in field_changes(before, after)]
    for text in (planned.diff, synced):
        assert f'-  token: "{MASK_BEFORE}"' in text and f'+  token: "{MASK_AFTER}"' in text
        assert "c2VjcmV0" not in text
    assert fields == [{"path": "data.token", "old": MASK_BEFORE, "new": MASK_AFTER}]


@pytest.mark.parametrize(
    "text",
    ["0", "500m", "2", "+1", "-1", "1Gi", "1.5Mi", "1G", "1e3", "1E-2", "2n", "1u", ".5", "5.", "12Ei", "1E", "2E3"],
)
def test_quantities_read_as_the_kubernetes_client_reads_them(text: str) -> None:
    """Exa suffixes (``Ei``, ``E``) were once read as a broken exponent and refused."""
    assert parse_quantity(text) == kubernetes_parse_quantity(text)


@pytest.mark.parametrize("value", ["1GB", "2 cores", "1gi", "", "m", "1e31", "1.2.3", True, None, [1]])
def test_what_is_not_a_quantity(value: object) -> None:
    assert parse_quantity(value) is None
    with pytest.raises(ValueError, match="not a Kubernetes quantity"):
        quantity_float(value)


def test_quantities_are_exact_however_written() -> None:
    assert quantities_equal("1000m", 1) and quantities_equal("1Gi", "1073741824") and quantities_equal(0.5, "500m")
    assert not quantities_equal("1Gi", "1G")
    assert quantity_float("1536Mi") == 1.5 * 2**30


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("30s", 30), ("5m", 300), ("1h30m", 5400), ("7d", 604800), ("2w", 1209600), ("1w2d3h", 788400),
     ("1h0m0s", 3600)],
)
def test_one_duration_syntax_prometheus_units_up_to_weeks(text: str, seconds: int) -> None:
    assert parse_duration(text) == seconds
    assert re.fullmatch(DURATION_PATTERN, text)


@pytest.mark.parametrize("text", ["", "1", "1.5h", "300ms", "1y", "30m1h", "1h1h", "0s", "522w", "-1s", " 1s"])
def test_what_is_not_a_duration(text: str) -> None:
    assert parse_duration(text) is None


def test_every_schema_duration_is_the_vocabulary_syntax() -> None:
    for name in ("workflow", "environment"):
        schema = json.loads((ROOT / "schemas" / f"{name}.schema.json").read_text())
        assert schema["$defs"]["duration"]["pattern"] == DURATION_PATTERN


def test_every_reader_of_a_duration_accepts_weeks() -> None:
    """Specs, flags, ``audit --since`` and optimize windows once disagreed on ``w``."""
    assert parse_since("2w", now=datetime(2026, 1, 15, tzinfo=UTC)) == datetime(2026, 1, 1, tzinfo=UTC)
    assert parse_seconds("1w", "--interval") == 604800.0
    with pytest.raises(InvalidInputError):
        parse_seconds("1.5h", "--interval")
    assert _window_seconds("1w2d") == 777600 and _window_seconds("1h30m") == 5400


def test_the_vocabulary_depends_on_no_subsystem() -> None:
    """stdlib, ruamel.yaml and PyYAML only: spec, compile, reconcile, plan and optimize all import it."""
    allowed_roots = {"ruamel", "yaml", "__future__"}
    for path in sorted((PACKAGE / "vocabulary").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            for name in names:
                root = name.split(".")[0]
                inside = name.startswith("gitops_agent.vocabulary")
                assert inside or root in allowed_roots or root in sys.stdlib_module_names, f"{path.name}: {name}"


def test_no_other_manifest_alias() -> None:
    """compile's ``Obj``, render's and plan's ``Manifest``: one alias now."""
    aliases = [
        f"{path.relative_to(ROOT)}: {ast.unparse(node)}"
        for path in _modules()
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.Assign) and ast.unparse(node.value) == "dict[str, Any]"
    ]
    assert aliases == ["gitops_agent/vocabulary/objects.py: Manifest = dict[str, Any]"]


def test_secrets_written_into_text_as_json_are_masked_and_nothing_else_changes() -> None:
    secret = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}, "data": {"k": "c2VjcmV0"}}
    config = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"k": "plain"}}
    listed = {"apiVersion": "v1", "kind": "List", "items": [config, {**secret, "stringData": {"t": "tok"}}]}
    text = f"error: conflict: [{json.dumps(secret)} {json.dumps(config)}] in {json.dumps(listed)} {{not json}}"
    masked = mask_secrets_in_text(text)
    assert "c2VjcmV0" not in masked and "tok" not in masked
    assert masked.count('"k":"***"') == 2 and '"t":"***"' in masked
    assert json.dumps(config) in masked and masked.startswith("error: conflict: [") and masked.endswith("{not json}")
    assert mask_secrets_in_text("no objects { here") == "no objects { here"
