"""Helpers for the spec loader tests: write a small repository, collect diagnostics."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

from gitops_agent.errors import Diagnostic
from gitops_agent.spec import validate_paths

DIAGNOSTIC_FORMAT = re.compile(r"^[^:]+:\d+:\d+: \S+: .+")

VALID_WORKFLOW = """\
apiVersion: gitops-agent.io/v1alpha1
kind: Workflow
metadata:
  name: wf
spec:
  defaults:
    image: registry.example.com/app:1.0
  tasks:
    prep:
      command: [python, -m, prep]
  services:
    api:
      dependsOn: [prep]
      ports: {http: 8080}
"""

VALID_ENVIRONMENT = """\
apiVersion: gitops-agent.io/v1alpha1
kind: Environment
metadata: {name: dev}
spec:
  namespace: ml-dev
  branch: env/dev
"""


def write_repo(root: Path, files: dict[str, str | bytes]) -> Path:
    """Write ``files`` (repo-relative path → text, dedented) under ``root``."""
    for rel, content in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(textwrap.dedent(content), encoding="utf-8")
    return root


def diagnose(root: Path, files: dict[str, str | bytes]) -> list[Diagnostic]:
    """All diagnostics of a repository made of ``files``; every one is well formed."""
    write_repo(root, files)
    found = validate_paths(root, None)
    for diagnostic in found:
        assert DIAGNOSTIC_FORMAT.match(str(diagnostic)), str(diagnostic)
    return found


def workflow_problems(root: Path, text: str) -> list[Diagnostic]:
    """Diagnostics of a repository holding only ``workflows/wf.yaml``."""
    return diagnose(root, {"workflows/wf.yaml": text})


def assert_only(
    found: list[Diagnostic], file: str, line: int, col: int, field: str, *fragments: str
) -> Diagnostic:
    """``found`` is exactly one diagnostic at that place whose message has ``fragments``."""
    assert [(d.file, d.line, d.col, d.field) for d in found] == [(file, line, col, field)], [
        str(d) for d in found
    ]
    for fragment in fragments:
        assert fragment in found[0].message, str(found[0])
    return found[0]
