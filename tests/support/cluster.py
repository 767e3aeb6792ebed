"""Pytest fixtures for a real local control plane (etcd, kube-apiserver, kube-controller-manager,
kube-scheduler, and simulated nodes run by KWOK).

- ``kube_cluster`` (session): a started :class:`RunningCluster` with the simulated nodes of
  ``launcher.NODES`` (Pods are scheduled and run through the stages of
  ``tools/testcluster/stages/``) and the ServiceMonitor and PrometheusRule CRDs of
  ``tests/support/crds/`` installed and Established. Its startup time is
  printed in the terminal summary; the tails of its process logs are attached to the report of
  every failing test that used it.
- ``namespace`` (function): a fresh namespace (with its ``default`` ServiceAccount), deleted
  after the test.
- ``private_kube_cluster`` (function): a factory ``start(extra_apiserver_args=(), nodes=())
  -> RunningCluster`` for tests that break or reconfigure their own control plane (restarts,
  ``--max-requests-inflight``…); no simulated nodes or scheduler unless ``nodes`` are given;
  CRDs installed; stopped after the test; its log tails are attached to a failing test's
  report too.
- ``kube_api(kubeconfig)``: a ``kubernetes`` ApiClient for one of the cluster's kubeconfigs.
"""

from __future__ import annotations

import re
import secrets
import signal
import time
from collections.abc import Callable, Generator, Iterator, Sequence
from pathlib import Path
from types import FrameType
from typing import Any

import pytest
from kubernetes import client, config
from ruamel.yaml import YAML

from tools.testcluster.launcher import NodeSpec, RunningCluster, describe_startup, start_cluster

CRD_DIR = Path(__file__).parent / "crds"
CRD_TIMEOUT_S = 60.0
NAMESPACE_TIMEOUT_S = 30.0

_CLUSTER = pytest.StashKey[RunningCluster]()
_STARTUP = pytest.StashKey[str]()
_PRIVATE = pytest.StashKey[list[RunningCluster]]()


def kube_api(kubeconfig: Path) -> client.ApiClient:
    """A ``kubernetes`` ApiClient for ``kubeconfig`` (admin or restricted)."""
    api: client.ApiClient = config.new_client_from_config(  # type: ignore[no-untyped-call]
        config_file=str(kubeconfig)
    )
    return api


def install_crds(api: client.ApiClient, crd_dir: Path = CRD_DIR) -> list[str]:
    """Create (or keep) every CRD in ``crd_dir``; return once each is Established and its
    resource is served (right after Established, lists answer 429 "storage is
    (re)initializing" until the watch cache is ready)."""
    ext: Any = client.ApiextensionsV1Api(api)  # takes plain dicts as bodies
    custom: Any = client.CustomObjectsApi(api)
    yaml = YAML(typ="safe")
    crds: list[dict[str, Any]] = []
    for path in sorted(crd_dir.glob("*.yaml")):
        crd: dict[str, Any] = yaml.load(path.read_text())
        try:
            ext.create_custom_resource_definition(crd)
        except client.ApiException as e:
            if e.status != 409:
                raise
        crds.append(crd)

    def ready(crd: dict[str, Any]) -> bool:
        conditions = ext.read_custom_resource_definition(crd["metadata"]["name"]).status.conditions
        if not any(c.type == "Established" and c.status == "True" for c in conditions or []):
            return False
        spec = crd["spec"]
        version = next(v["name"] for v in spec["versions"] if v.get("storage"))
        try:
            custom.list_cluster_custom_object(spec["group"], version, spec["names"]["plural"], limit=1)
        except client.ApiException as e:
            if e.status in (404, 429, 503):
                return False
            raise
        return True

    deadline = time.monotonic() + CRD_TIMEOUT_S
    pending = list(crds)
    while pending:
        pending = [crd for crd in pending if not ready(crd)]
        if pending and time.monotonic() > deadline:
            names = [crd["metadata"]["name"] for crd in pending]
            raise TimeoutError(f"CRDs not served after {CRD_TIMEOUT_S}s: {names}")
        if pending:
            time.sleep(0.1)
    return [crd["metadata"]["name"] for crd in crds]


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
            f"{describe_startup(cluster)}; CRDs served in {time.monotonic() - t:.1f}s; logs in {cluster.log_dir}"
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


StartCluster = Callable[..., RunningCluster]


@pytest.fixture
def private_kube_cluster(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[StartCluster]:
    """A factory of control planes owned by one test: ``start(extra_apiserver_args=(),
    nodes=())`` (no simulated nodes or scheduler unless ``nodes``, e.g. ``launcher.NODES``)."""
    started: list[RunningCluster] = []
    request.node.stash[_PRIVATE] = started

    def start(extra_apiserver_args: Sequence[str] = (), nodes: Sequence[NodeSpec] = ()) -> RunningCluster:
        cluster = start_cluster(
            tmp_path / f"kube-cluster-{len(started)}", extra_apiserver_args=extra_apiserver_args, nodes=nodes
        )
        started.append(cluster)
        with kube_api(cluster.kubeconfig) as api:
            install_crds(api)
        return cluster

    try:
        yield start
    finally:
        for cluster in started:
            cluster.stop()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """Attach the log tails of the control planes a failing test used to its report."""
    report = yield
    if report.failed:
        cluster = item.config.stash.get(_CLUSTER, None)
        if cluster is not None and "kube_cluster" in getattr(item, "fixturenames", ()):
            report.sections.append(("control plane logs (tails)", cluster.log_tails(30)))
        private: list[RunningCluster] | None = item.stash.get(_PRIVATE, None)
        for i, own in enumerate(private or []):
            report.sections.append((f"private control plane {i} logs (tails)", own.log_tails(30)))
    return report


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """Print how long the control plane took to start, if this session started one."""
    startup = terminalreporter.config.stash.get(_STARTUP, None)
    if startup is not None:
        terminalreporter.write_sep("-", "kube_cluster")
        terminalreporter.write_line(startup)
