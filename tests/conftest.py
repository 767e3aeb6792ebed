"""Shared pytest configuration.

Fixture modules live in ``tests/support/`` and are registered here as plugins, so every
test directory sees them (cluster, Prometheus, git remotes, spec builders).
"""

pytest_plugins: list[str] = [
    "tests.support.cluster",
    "tests.support.gitrepos",
    "tests.support.prometheus",
    "tests.support.reliability",
]
