"""Shared pytest configuration.

Fixture modules live in ``tests/support/`` and are registered here as plugins, so every
test directory sees them (cluster, Prometheus, git remotes, spec builders).
"""

import logging

# pytest-httpserver's werkzeug logs each request at INFO through a handler of its own, installed
# on its first request: it would write "127.0.0.1 - - GET ..." into the stderr a test captures
# from the command under test, depending on which test ran first.
logging.getLogger("werkzeug").setLevel(logging.WARNING)

pytest_plugins: list[str] = [
    "tests.support.cluster",
    "tests.support.gitrepos",
    "tests.support.prometheus",
    "tests.support.reliability",
]
