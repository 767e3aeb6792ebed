"""Layering of the optimizer: strategies are pure; only adapters talk to the outside."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
OPTIMIZE = ROOT / "gitops_agent" / "optimize"
EXTERNAL = {"prometheus_api_client", "requests", "urllib3", "git", "gitdb", "kubernetes", "subprocess", "socket"}
PURE = {
    "model", "quantity", "threshold", "rightsizing", "replicas", "experiments", "queries", "report", "yamledit",
    "retrain",
}


def imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
    return found


def test_no_optimizer_module_imports_an_external_client() -> None:
    files = [*OPTIMIZE.glob("*.py"), ROOT / "gitops_agent" / "commands" / "optimize.py"]
    for path in files:
        roots = {name.split(".")[0] for name in imports(path)}
        assert not roots & EXTERNAL, f"{path.name} imports {roots & EXTERNAL}"


def test_strategies_do_not_touch_adapters() -> None:
    for name in PURE:
        names = imports(OPTIMIZE / f"{name}.py")
        assert not any(n.startswith("gitops_agent.adapters") for n in names), name
        assert "gitops_agent.optimize.proposal" not in names, name


def test_only_the_prometheus_adapter_imports_its_client() -> None:
    users = [
        p.relative_to(ROOT).as_posix()
        for p in (ROOT / "gitops_agent").rglob("*.py")
        if any(n.split(".")[0] == "prometheus_api_client" for n in imports(p))
    ]
    assert users == ["gitops_agent/adapters/prometheus.py"]
