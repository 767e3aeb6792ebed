"""The shared vocabulary: each term that decides pruning or masking has exactly one definition."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

from gitops_agent.plan import diff_environment
from gitops_agent.reconcile.diff import unified_diff
from gitops_agent.reconcile.objects import has_ownership_labels, is_owned, tracking_id
from gitops_agent.reconcile.review import field_changes
from gitops_agent.vocabulary import labels
from gitops_agent.vocabulary.masking import MASK, MASK_AFTER, MASK_BEFORE, mask_secrets
from gitops_agent.vocabulary.objects import ObjectKey, ref_of, task_of

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
    definitions = sorted(
        f"{path.relative_to(ROOT)}: {name}" for path in _modules() for name in _defined_names(path) if name in unique
    )
    assert all(line.startswith("gitops_agent/vocabulary/") for line in definitions), definitions
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
