"""Files shipped with gitops-agent: compiler templates, example workflows and environments.

Each entry is a symlink to the top-level folder of the same name in the source tree, so the
repository keeps the layout people expect and wheels bundle the files (setuptools follows
the links when it builds).
"""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parent


def resource_dir(name: str) -> Path:
    """``templates``, ``examples``, ``environments`` or ``manifests``."""
    return ROOT / name
