"""Documentation that is generated or promised stays true."""

from __future__ import annotations

from pathlib import Path

from tools import spec_docs

ROOT = Path(__file__).resolve().parents[2]


def test_spec_reference_is_generated_from_the_current_schemas() -> None:
    assert (ROOT / "docs" / "spec.md").read_text() == spec_docs.render(), "run: python -m tools.spec_docs"


def test_spec_reference_covers_every_contract_field() -> None:
    text = (ROOT / "docs" / "spec.md").read_text()
    for field in (
        "spec.tasks.<name>.dependsOn",
        "spec.services.<name>.variants",
        "spec.optimize.rightsizing",
        "spec.monitoring.alerts",
        "spec.overrides",
        "spec.sync.prune",
        "spec.images",
    ):
        assert f"`{field}" in text, field


def test_readme_names_the_two_commands() -> None:
    readme = (ROOT / "README.md").read_text()
    assert "./scripts/demo" in readme and "./scripts/test" in readme
    assert (ROOT / ".ci" / "run").read_text().strip().endswith("exec ./scripts/test")
