"""Test helpers for the spec loader's caches: a private cache directory and a parse recorder."""

from __future__ import annotations

from pathlib import Path

import pytest

from gitops_agent.spec import loader


def private_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point the user cache (``GITOPS_AGENT_CACHE``) at an empty directory of the test's own."""
    root = tmp_path / "cache"
    monkeypatch.setenv("GITOPS_AGENT_CACHE", str(root))
    return root


def count_parses(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Record every spec file the loader parses from now on (the process's memo emptied first)."""
    loader.clear_memo()
    parsed: list[str] = []
    real = loader.load_yaml

    def recording(raw: bytes, display: str):  # type: ignore[no-untyped-def]
        parsed.append(display)
        return real(raw, display)

    monkeypatch.setattr(loader, "load_yaml", recording)
    return parsed
