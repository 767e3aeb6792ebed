"""Pytest fixtures for a real local control plane (etcd, kube-apiserver, kube-controller-manager).

- ``kube_cluster`` (session): a started :class:`RunningCluster` with the ServiceMonitor and
  PrometheusRule CRDs of ``tests/support/crds/`` installed and Established. Its startup time is
  printed in the terminal summary; the tails of its process logs are attached to the report of
  every failing test that used it.
- ``namespace`` (function): a fresh namespace (with its ``default`` ServiceAccount), deleted
  after the test.
- ``kube_api(kubeconfig)``: a ``kubernetes`` ApiClient for one of the cluster's kubeconfigs.
"""

from __future__ import annotations

import re
import secrets
import signal
import time
from collections.abc import Generator, Iterator
from pathlib import Path
from types import FrameType
from typing import Any

import pytest
from kubernetes import client, config
from ruamel.yaml import YAML

from tools.testcluster.launcher import RunningCluster, describe_startup, start_cluster

CRD_DIR = Path(__file__).parent / "crds"
CRD_TIMEOUT_S = 60.0
NAMESPACE_TIMEOUT_S = 30.0

_CLUSTER = pytest.StashKey[RunningCluster]()
_STARTUP = pytest.StashKey[str]()


def kube_api(kubeconfig: Path) -> client.ApiClient:
    """A ``kubernetes`` ApiClient for ``kubeconfig`` (admin or restricted)."""
    api: client.ApiClient = config.new_client_from_config(  # type: ignore[no-untyped-call]
        config_file=str(kubeconfig)
    )
    return api


def install_crds(api: client.ApiClient, crd_dir: Path = CRD_DIR) -> list[str]:
    """Create (or keep) every CRD in ``crd_dir`` and wait until each one is Established."""
    ext: Any = client.ApiextensionsV1Api(api)  # takes plain dicts as bodies
    yaml = YAML(typ="safe")
    names = []
    for path in sorted(crd_dir.glob("*.yaml")):
        crd: dict[str, Any] = yaml.load(path.read_text())
        try:
            ext.create_custom_resource_definition(crd)
        except client.ApiException as e:
            if e.status != 409:
                raise
        names.append(crd["metadata"]["name"])
    deadline = time.monotonic() + CRD_TIMEOUT_S
    pending = set(names)
    while pending:
        for name in sorted(pending):
            conditions = ext.read_custom_resource_definition(name).status.conditions or []
            if any(c.type == "Established" and c.status == "True" for c in conditions):
                pending.discard(name)
        if pending and time.monotonic() > deadline:
            raise TimeoutError(f"CRDs not Established after {CRD_TIMEOUT_S}s: {sorted(pending)}")
        if pending:
            time.sleep(0.1)
    return names


def _interrupt_on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


@pytest.fixture(scope="session")
def kube_cluster(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> Iterator[RunningCluster]:
    """A real control plane for the whole session, torn down at its end (also on failures,
    Ctrl-C and SIGTERM, which is turned into an interrupt so that teardown runs)."""
    previous = signal.getsignal(signal.SIGTERM)
    if previous == signal.SIG_DFL:
        signal.signal(signal.SIGTERM, _interrupt_on_sigterm)
    cluster = start_cluster(tmp_path_factory.mktemp("kube-cluster"))
    try:
        request.config.stash[_CLUSTER] = cluster
        t = time.monotonic()
        with kube_api(cluster.kubeconfig) as api:
            install_crds(api)
        request.config.stash[_STARTUP] = (
            f"{describe_startup(cluster)}; CRDs Established in {time.monotonic() - t:.1f}s; logs in {cluster.log_dir}"
        )
        yield cluster
    finally:
        cluster.stop()
        if previous == signal.SIG_DFL:
            signal.signal(signal.SIGTERM, signal.SIG_DFL)


def _namespace_name(test_name: str) -> str:
    stem = re.sub(r"[^a-z0-9-]+", "-", test_name.lower()).strip("-")[:40].rstrip("-")
    return f"t-{stem}-{secrets.token_hex(3)}"


@pytest.fixture
def namespace(kube_cluster: RunningCluster, request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh namespace named after the test; deleted (not awaited) after it."""
    name = _namespace_name(request.node.name)
    api = kube_cluster.api()
    body = {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": name, "labels": {"gitops-agent.io/test": "true"}},
    }
    status, resp = api.request("POST", "/api/v1/namespaces", body)
    if status != 201:
        raise RuntimeError(f"creating Namespace/{name}: HTTP {status}: {resp}")
    # Pods are rejected until the controller manager created the default ServiceAccount.
    deadline = time.monotonic() + NAMESPACE_TIMEOUT_S
    while api.request("GET", f"/api/v1/namespaces/{name}/serviceaccounts/default")[0] != 200:
        if time.monotonic() > deadline:
            raise TimeoutError(f"no default ServiceAccount in Namespace/{name}")
        time.sleep(0.05)
    yield name
    status, resp = api.request("DELETE", f"/api/v1/namespaces/{name}")
    if status not in (200, 202, 404):
        raise RuntimeError(f"deleting Namespace/{name}: HTTP {status}: {resp}")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """Attach the control plane's log tails to failing tests that used it."""
    report = yield
    cluster = item.config.stash.get(_CLUSTER, None)
    uses_cluster = "kube_cluster" in getattr(item, "fixturenames", ())
    if report.failed and cluster is not None and uses_cluster:
        report.sections.append(("control plane logs (tails)", cluster.log_tails(30)))
    return report


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """Print how long the control plane took to start, if this session started one."""
    startup = terminalreporter.config.stash.get(_STARTUP, None)
    if startup is not None:
        terminalreporter.write_sep("-", "kube_cluster")
        terminalreporter.write_line(startup)
