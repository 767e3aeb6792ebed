"""Run a real local Kubernetes control plane: etcd, kube-apiserver, kube-controller-manager,
kube-scheduler, and simulated nodes (KWOK) on which Pods run through their lifecycle.

Standard library and the ``openssl`` command only, so scripts can use it before any Python
dependency is installed. Binaries come from ``tools/testcluster/build.sh`` (or the directory
named by ``GITOPS_AGENT_TESTCLUSTER_BIN``).

Nodes (:data:`NODES`) are Node objects that KWOK marks Ready and whose Pods it moves through
the stages of ``tools/testcluster/stages/`` (see that folder: Pods become Running and Ready,
a Job's Pods succeed after ``GITOPS_AGENT_SIMULATE_DURATION``, ``GITOPS_AGENT_SIMULATE=fail``
makes a Pod fail or crash-loop). The real kube-scheduler binds Pods to them, so requests,
taints and tolerations are decided as on a real cluster.

    start_cluster(workdir) -> RunningCluster     # tests and scripts
    python -m tools.testcluster.launcher up|down|status|run   # see tools/testcluster/cli.py

Every process runs in its own process group, is killed when its parent dies
(``setpriv --pdeathsig KILL``) and is stopped by ``RunningCluster.stop()`` and at interpreter
exit. Each process logs to ``<workdir>/logs/<name>.log``.
"""

from __future__ import annotations

import atexit
import base64
import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[2]
BUILD_SCRIPT = REPO_ROOT / "tools" / "testcluster" / "build.sh"
BIN_DIR_ENV = "GITOPS_AGENT_TESTCLUSTER_BIN"
STATE_DIR_ENV = "GITOPS_AGENT_CLUSTER_DIR"

RESTRICTED_USER = "restricted"
# Full rights through RBAC but not in system:masters, so (unlike admin) API Priority and
# Fairness and --max-requests-inflight apply to it, as to an agent running in the cluster.
AGENT_USER = "agent"
RESTRICTED_NAMESPACE = "restricted"
# kubeadm's default: a /12 leaves room for a million Services (a /24 is full at ~250).
SERVICE_CLUSTER_IP_RANGE = "10.96.0.0/12"
POD_CIDR = "10.244.0.0/16"
STAGES_DIR = REPO_ROOT / "tools" / "testcluster" / "stages"
NODE_SELECTOR_LABEL = "gitops-agent.io/simulated-node"
GPU_RESOURCE = "nvidia.com/gpu"
GPU_PRODUCT_LABEL = "nvidia.com/gpu.product"
SERVICE_ACCOUNT_ISSUER = "https://kubernetes.default.svc.cluster.local"
CONTROLLERS = (
    "namespace-controller",
    "garbage-collector-controller",
    "deployment-controller",
    "disruption-controller",
    "replicaset-controller",
    "statefulset-controller",
    "daemonset-controller",
    "job-controller",
    "cronjob-controller",
    "ttl-after-finished-controller",
    "serviceaccount-controller",
    "serviceaccount-token-controller",
    "root-ca-certificate-publisher-controller",
    "endpointslice-controller",
    "clusterrole-aggregation-controller",
    # Claims bind to PersistentVolumes, and the finalizers the StorageObjectInUseProtection
    # admission plugin puts on claims and volumes are removed (else a Namespace holding a
    # claim is never deleted).
    "persistentvolume-binder-controller",
    "persistentvolumeclaim-protection-controller",
    "persistentvolume-protection-controller",
)


@dataclass(frozen=True)
class NodeSpec:
    """One simulated node: its name, capacity, labels and taints (as in a Node's spec)."""

    name: str
    capacity: dict[str, str]
    labels: dict[str, str] = field(default_factory=dict)
    taints: tuple[dict[str, str], ...] = ()


_CPU_NODE = {"cpu": "32", "memory": "128Gi", "pods": "250", "ephemeral-storage": "500Gi"}
_GPU_NODE = {"cpu": "64", "memory": "512Gi", "pods": "110", "ephemeral-storage": "1Ti", GPU_RESOURCE: "4"}
NODES: tuple[NodeSpec, ...] = (
    NodeSpec("cpu-node-0", _CPU_NODE),
    NodeSpec("cpu-node-1", _CPU_NODE),
    NodeSpec("cpu-node-2", _CPU_NODE),
    NodeSpec(
        "gpu-node-0",
        _GPU_NODE,
        # the labels NVIDIA GPU feature discovery sets, and the taint GPU node pools carry
        {GPU_PRODUCT_LABEL: "NVIDIA-A100-SXM4-80GB", "nvidia.com/gpu.count": "4"},
        ({"key": GPU_RESOURCE, "value": "present", "effect": "NoSchedule"},),
    ),
)
"""Three CPU nodes and a GPU node (4 × nvidia.com/gpu, tainted ``nvidia.com/gpu=present:NoSchedule``).
The API server runs the ExtendedResourceToleration admission plugin (as GKE and AKS do), so
a Pod that requests ``nvidia.com/gpu`` tolerates that taint; one that does not stays off the
GPU node."""

READY_TIMEOUT_S = 90.0
PORT_ATTEMPTS = 3
STOP_TIMEOUT_S = 15.0


class ClusterStartError(RuntimeError):
    """The control plane did not come up; the message carries the relevant log tail."""


def binary_dir() -> Path:
    """The directory holding ``etcd``, ``kube-apiserver`` and ``kube-controller-manager``.

    ``GITOPS_AGENT_TESTCLUSTER_BIN`` wins; otherwise ``build.sh`` runs (instant when cached).
    """
    override = os.environ.get(BIN_DIR_ENV)
    if override:
        return Path(override)
    out = subprocess.run([str(BUILD_SCRIPT)], check=True, stdout=subprocess.PIPE, text=True).stdout.strip()
    return Path(out.splitlines()[-1])


def free_ports(count: int) -> list[int]:
    """``count`` distinct TCP ports on 127.0.0.1 that nothing listens on right now."""
    with contextlib.ExitStack() as stack:
        socks = [stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) for _ in range(count)]
        for s in socks:
            s.bind(("127.0.0.1", 0))
        return [int(s.getsockname()[1]) for s in socks]


def log_tail(path: Path, lines: int) -> str:
    if not path.exists():
        return "(no log)"
    with path.open("rb") as f:
        f.seek(0, os.SEEK_END)
        f.seek(max(0, f.tell() - 256 * lines))
        text = f.read().decode("utf-8", "replace")
    return "\n".join(text.splitlines()[-lines:])


_SETPRIV = shutil.which("setpriv")


@dataclass
class _Process:
    """One control-plane binary, run in its own process group with its log in a file."""

    name: str
    argv: list[str]
    log: Path
    popen: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        # SIGKILL: after an abrupt parent death all three stop at once, and an apiserver
        # whose etcd vanished can take long over a graceful SIGTERM shutdown.
        prefix = [_SETPRIV, "--pdeathsig", "KILL"] if _SETPRIV else []
        with self.log.open("ab") as log:
            log.write(f"--- {time.strftime('%H:%M:%S')} starting: {' '.join(self.argv)}\n".encode())
            log.flush()
            self.popen = subprocess.Popen(
                [*prefix, *self.argv],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    @property
    def pid(self) -> int | None:
        return self.popen.pid if self.popen is not None else None

    def stop(self, *, graceful: bool = True) -> None:
        """SIGTERM the process group and SIGKILL it after ``STOP_TIMEOUT_S`` (or SIGKILL it
        right away when not ``graceful``); idempotent."""
        if self.popen is None:
            return
        pgid = self.popen.pid
        for sig in (signal.SIGTERM, signal.SIGKILL) if graceful else (signal.SIGKILL,):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pgid, sig)
            try:
                self.popen.wait(timeout=STOP_TIMEOUT_S)
                break
            except subprocess.TimeoutExpired:
                continue
        self.popen.wait()

    def tail(self, lines: int) -> str:
        return log_tail(self.log, lines)


@dataclass(frozen=True)
class ApiResponse:
    status: int
    body: Any  # decoded JSON, else text, else None
    headers: dict[str, str]


class Api:
    """A minimal authenticated JSON client for the apiserver (stdlib only)."""

    def __init__(self, server: str, token: str, ca_file: Path) -> None:
        self.server = server
        self.token = token
        self.context = ssl.create_default_context(cafile=str(ca_file))

    def call(self, method: str, path: str, body: object = None) -> ApiResponse:
        """One request; HTTP error statuses are returned, connection errors raise OSError."""
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.server + path, data=data, method=method)
        req.add_header("Authorization", f"Bearer {self.token}")
        req.add_header("Accept", "application/json")
        if data is not None:
            req.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(req, context=self.context, timeout=10) as resp:
                raw = resp.read()
                status, headers = int(resp.status), dict(resp.headers.items())
        except urllib.error.HTTPError as e:
            raw = e.read()
            status, headers = e.code, dict(e.headers.items())
        decoded: Any = None
        if raw:
            try:
                decoded = json.loads(raw)
            except ValueError:
                decoded = raw.decode("utf-8", "replace")
        return ApiResponse(status, decoded, headers)

    def request(self, method: str, path: str, body: object = None) -> tuple[int, Any]:
        """``(status, decoded body)`` of one request."""
        resp = self.call(method, path, body)
        return resp.status, resp.body


def _openssl(*args: str) -> None:
    subprocess.run(["openssl", *args], check=True, capture_output=True)


def _kubeconfig(server: str, ca_pem: bytes, users: Sequence[tuple[str, str, str]]) -> str:
    """A kubeconfig (JSON, which is YAML) with one context per ``(name, token, namespace)``."""
    contexts = [
        {"name": name, "context": {"cluster": "testcluster", "user": name, "namespace": ns}} for name, _, ns in users
    ]
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": "testcluster",
                "cluster": {
                    "server": server,
                    "certificate-authority-data": base64.b64encode(ca_pem).decode(),
                },
            }
        ],
        "users": [{"name": name, "user": {"token": token}} for name, token, _ in users],
        "contexts": contexts,
        "current-context": users[0][0],
        "preferences": {},
    }
    return json.dumps(config, indent=2) + "\n"


@dataclass
class RunningCluster:
    """A started control plane. ``stop()`` tears it down (idempotent)."""

    workdir: Path
    kubeconfig: Path
    restricted_kubeconfig: Path
    agent_kubeconfig: Path
    restricted_namespace: str
    server: str
    log_dir: Path
    ca_file: Path
    admin_token: str = field(repr=False)
    restricted_token: str = field(repr=False)
    agent_token: str = field(repr=False)
    startup_seconds: float = 0.0
    timings: dict[str, float] = field(default_factory=dict)
    apiserver_args: list[str] = field(default_factory=list)
    _etcd: _Process | None = field(default=None, repr=False)
    _apiserver: _Process | None = field(default=None, repr=False)
    _controller_manager: _Process | None = field(default=None, repr=False)
    _scheduler: _Process | None = field(default=None, repr=False)
    _kwok: _Process | None = field(default=None, repr=False)
    _base_apiserver_argv: list[str] = field(default_factory=list, repr=False)
    nodes: tuple[NodeSpec, ...] = ()

    # -- lifecycle ---------------------------------------------------------------------------

    def _processes(self) -> list[_Process]:
        """Every process started, in start order."""
        procs = (self._etcd, self._apiserver, self._controller_manager, self._scheduler, self._kwok)
        return [p for p in procs if p is not None]

    def stop(self) -> None:
        """Stop KWOK, the scheduler, the controller manager, the apiserver and etcd (process
        groups), in that order."""
        for proc in reversed(self._processes()):
            proc.stop()

    def stop_apiserver(self, *, graceful: bool = False) -> None:
        """Stop only kube-apiserver (etcd data, certificates and port stay), for fault tests.

        By default it is killed (SIGKILL), like a crash; ``graceful`` sends SIGTERM first, which
        closes the port at once but may take up to ``STOP_TIMEOUT_S`` while watches drain.
        """
        if self._apiserver is not None:
            self._apiserver.stop(graceful=graceful)

    def start_apiserver(self, extra_args: Sequence[str] | None = None) -> float:
        """(Re)start kube-apiserver on the same port, certificates and etcd; wait for /readyz.

        ``extra_args`` replaces the extra flags given to ``start_cluster`` (``None`` keeps
        them). Returns the seconds until ready.
        """
        if self._apiserver is not None and self._apiserver.alive():
            raise ClusterStartError("kube-apiserver is already running")
        if extra_args is not None:
            self.apiserver_args = list(extra_args)
        self._apiserver = _Process(
            "kube-apiserver",
            [*self._base_apiserver_argv, *self.apiserver_args],
            self.log_dir / "kube-apiserver.log",
        )
        t = time.monotonic()
        self._apiserver.start()
        self._wait_ready(self._apiserver)
        return time.monotonic() - t

    def stop_etcd(self, *, graceful: bool = False) -> None:
        """Stop etcd only (its data dir stays), for fault tests; killed unless ``graceful``."""
        if self._etcd is not None:
            self._etcd.stop(graceful=graceful)

    def start_etcd(self) -> None:
        """Restart etcd on the same ports and data dir; wait until it is healthy."""
        if self._etcd is None or self._etcd.alive():
            raise ClusterStartError("etcd was never started or is already running")
        self._etcd = _Process(self._etcd.name, self._etcd.argv, self._etcd.log)
        self._etcd.start()
        _wait_etcd(self._etcd, self._etcd_client_url())

    # -- inspection --------------------------------------------------------------------------

    def pids(self) -> dict[str, int]:
        """Process ids of the processes this cluster started (running or not)."""
        return {p.name: p.pid for p in self._processes() if p.pid is not None}

    def running(self) -> dict[str, bool]:
        return {p.name: p.alive() for p in self._processes()}

    def log_tails(self, lines: int = 40) -> str:
        """The last ``lines`` lines of every process log, headed by the file name."""
        parts = []
        for path in sorted(self.log_dir.glob("*.log")):
            parts.append(f"==> {path} <==\n{log_tail(path, lines)}")
        return "\n\n".join(parts)

    def api(self, token: str | None = None) -> Api:
        """A stdlib JSON client authenticated as admin (or with ``token``)."""
        return Api(self.server, token or self.admin_token, self.ca_file)

    # -- internals ---------------------------------------------------------------------------

    def _etcd_client_url(self) -> str:
        assert self._etcd is not None
        arg = next(a for a in self._etcd.argv if a.startswith("--listen-client-urls="))
        return arg.split("=", 1)[1]

    def _wait_ready(self, proc: _Process) -> None:
        deadline = time.monotonic() + READY_TIMEOUT_S
        last = ""
        while time.monotonic() < deadline:
            if not proc.alive():
                raise ClusterStartError(f"{proc.name} exited:\n{proc.tail(40)}")
            if self.ca_file.exists():
                try:
                    status, body = self.api().request("GET", "/readyz")
                    if status == 200:
                        return
                    last = f"HTTP {status}: {body}"
                except (OSError, ssl.SSLError) as e:
                    last = str(e)
            time.sleep(0.1)
        raise ClusterStartError(f"{proc.name} not ready after {READY_TIMEOUT_S}s ({last}):\n{proc.tail(40)}")


def _wait_etcd(proc: _Process, client_url: str) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if not proc.alive():
            raise ClusterStartError(f"etcd exited:\n{proc.tail(40)}")
        try:
            with urllib.request.urlopen(client_url + "/health", timeout=2) as resp:
                if json.loads(resp.read()).get("health") == "true":
                    return
        except (OSError, ValueError):
            pass
        time.sleep(0.05)
    raise ClusterStartError(f"etcd not healthy after {READY_TIMEOUT_S}s:\n{proc.tail(40)}")


def _wait_for(what: str, check: Any, procs: Sequence[_Process]) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        for p in procs:
            if not p.alive():
                raise ClusterStartError(f"{p.name} exited while waiting for {what}:\n{p.tail(40)}")
        if check():
            return
        time.sleep(0.1)
    tails = "\n".join(f"--- {p.name}\n{p.tail(30)}" for p in procs)
    raise ClusterStartError(f"timed out waiting for {what}:\n{tails}")


def start_cluster(
    workdir: Path,
    *,
    extra_apiserver_args: Sequence[str] = (),
    bin_dir: Path | None = None,
    nodes: Sequence[NodeSpec] = NODES,
) -> RunningCluster:
    """Start etcd, kube-apiserver, kube-controller-manager and, unless ``nodes`` is empty,
    kube-scheduler and KWOK with ``nodes`` under ``workdir``.

    Returns once ``/readyz`` answers, the ``default`` namespace exists, the restricted user's
    namespace and RoleBinding exist, the controller manager has created that namespace's
    ``default`` ServiceAccount and every node is Ready. Stops whatever started if anything
    fails; retries with other ports if one was taken between choosing and binding it.
    Raises :class:`ClusterStartError` (with the log tail of the process at fault).
    """
    t0 = time.monotonic()
    bins = bin_dir or binary_dir()
    workdir = workdir.resolve()
    for attempt in range(1, PORT_ATTEMPTS + 1):
        try:
            return _start_once(workdir, extra_apiserver_args, bins, t0, tuple(nodes))
        except ClusterStartError as e:
            if attempt == PORT_ATTEMPTS or "address already in use" not in str(e):
                raise
            for stale in ("etcd-data", "apiserver-certs"):
                shutil.rmtree(workdir / stale, ignore_errors=True)
    raise AssertionError("unreachable")


def _start_once(
    workdir: Path, extra_apiserver_args: Sequence[str], bins: Path, t0: float, nodes: tuple[NodeSpec, ...]
) -> RunningCluster:
    log_dir = workdir / "logs"
    pki = workdir / "pki"
    cert_dir = workdir / "apiserver-certs"
    for d in (log_dir, pki, cert_dir):
        d.mkdir(parents=True, exist_ok=True)
    timings: dict[str, float] = {}
    t = time.monotonic()
    sa_key, sa_pub = pki / "sa.key", pki / "sa.pub"
    _openssl("genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", str(sa_key))
    _openssl("rsa", "-in", str(sa_key), "-pubout", "-out", str(sa_pub))
    admin_token, restricted_token, agent_token = (secrets.token_hex(24) for _ in range(3))
    tokens = pki / "tokens.csv"
    tokens.write_text(
        f'{admin_token},admin,admin,"system:masters"\n'
        f"{restricted_token},{RESTRICTED_USER},{RESTRICTED_USER}\n"
        f"{agent_token},{AGENT_USER},{AGENT_USER}\n"
    )
    tokens.chmod(0o600)
    timings["keys"] = time.monotonic() - t

    etcd_client, etcd_peer, api_port = free_ports(3)
    client_url = f"http://127.0.0.1:{etcd_client}"
    peer_url = f"http://127.0.0.1:{etcd_peer}"
    server = f"https://127.0.0.1:{api_port}"
    ca_file = cert_dir / "apiserver.crt"  # the apiserver's self-signed certificate bundle

    cluster = RunningCluster(
        workdir=workdir,
        kubeconfig=workdir / "kubeconfig",
        restricted_kubeconfig=workdir / "restricted.kubeconfig",
        agent_kubeconfig=workdir / "agent.kubeconfig",
        restricted_namespace=RESTRICTED_NAMESPACE,
        server=server,
        log_dir=log_dir,
        ca_file=ca_file,
        admin_token=admin_token,
        restricted_token=restricted_token,
        agent_token=agent_token,
        apiserver_args=list(extra_apiserver_args),
        nodes=nodes,
    )
    atexit.register(cluster.stop)
    try:
        t = time.monotonic()
        cluster._etcd = _Process(
            "etcd",
            [
                str(bins / "etcd"),
                "--name=testcluster",
                f"--data-dir={workdir / 'etcd-data'}",
                f"--listen-client-urls={client_url}",
                f"--advertise-client-urls={client_url}",
                f"--listen-peer-urls={peer_url}",
                f"--initial-advertise-peer-urls={peer_url}",
                f"--initial-cluster=testcluster={peer_url}",
                "--unsafe-no-fsync",
                "--log-level=warn",
            ],
            log_dir / "etcd.log",
        )
        cluster._etcd.start()
        _wait_etcd(cluster._etcd, client_url)
        timings["etcd"] = time.monotonic() - t

        cluster._base_apiserver_argv = [
            str(bins / "kube-apiserver"),
            f"--etcd-servers={client_url}",
            f"--secure-port={api_port}",
            "--bind-address=127.0.0.1",
            "--advertise-address=127.0.0.1",
            f"--cert-dir={cert_dir}",
            f"--service-cluster-ip-range={SERVICE_CLUSTER_IP_RANGE}",
            "--authorization-mode=RBAC",
            f"--token-auth-file={tokens}",
            f"--service-account-key-file={sa_pub}",
            f"--service-account-signing-key-file={sa_key}",
            f"--service-account-issuer={SERVICE_ACCOUNT_ISSUER}",
            "--allow-privileged=true",
            # a Pod requesting nvidia.com/gpu tolerates the GPU nodes' taint, as on GKE and AKS
            "--enable-admission-plugins=ExtendedResourceToleration",
            # It taints every new Node not-ready until the node lifecycle controller sees a
            # kubelet's heartbeat; no kubelet runs here (KWOK marks the nodes Ready at once).
            "--disable-admission-plugins=TaintNodesByCondition",
            # A loopback advertise address cannot back the `kubernetes` Service's endpoints.
            "--endpoint-reconciler-type=none",
            "--profiling=false",
        ]
        t = time.monotonic()
        cluster.start_apiserver()
        timings["apiserver"] = time.monotonic() - t

        ca_pem = ca_file.read_bytes()
        cluster.kubeconfig.write_text(
            _kubeconfig(
                server,
                ca_pem,
                [
                    ("admin", admin_token, "default"),
                    ("restricted", restricted_token, RESTRICTED_NAMESPACE),
                    ("agent", agent_token, "default"),
                ],
            )
        )
        cluster.restricted_kubeconfig.write_text(
            _kubeconfig(server, ca_pem, [("restricted", restricted_token, RESTRICTED_NAMESPACE)])
        )
        cluster.agent_kubeconfig.write_text(_kubeconfig(server, ca_pem, [("agent", agent_token, "default")]))
        for path in (cluster.kubeconfig, cluster.restricted_kubeconfig, cluster.agent_kubeconfig):
            path.chmod(0o600)

        t = time.monotonic()
        cluster._controller_manager = _Process(
            "kube-controller-manager",
            [
                str(bins / "kube-controller-manager"),
                f"--kubeconfig={cluster.kubeconfig}",
                "--leader-elect=false",
                "--secure-port=0",
                f"--controllers={','.join(CONTROLLERS)}",
                f"--service-account-private-key-file={sa_key}",
                f"--root-ca-file={ca_file}",
                f"--service-cluster-ip-range={SERVICE_CLUSTER_IP_RANGE}",
                "--concurrent-gc-syncs=5",
            ],
            log_dir / "kube-controller-manager.log",
        )
        cluster._controller_manager.start()
        if nodes:
            _start_node_simulation(cluster, bins)
        api = cluster.api()
        _setup_users(api)
        live = cluster._processes()
        _wait_for(
            "the default namespace",
            lambda: api.request("GET", "/api/v1/namespaces/default")[0] == 200,
            live,
        )
        agent, restricted = cluster.api(agent_token), cluster.api(restricted_token)
        _wait_for(
            "the RBAC bindings of the agent and restricted users",
            lambda: (
                agent.request("GET", "/api/v1/namespaces?limit=1")[0] == 200
                and restricted.request("GET", f"/api/v1/namespaces/{RESTRICTED_NAMESPACE}/configmaps?limit=1")[0] == 200
            ),
            live,
        )
        sa_path = f"/api/v1/namespaces/{RESTRICTED_NAMESPACE}/serviceaccounts/default"
        _wait_for(
            "kube-controller-manager (default ServiceAccount)",
            lambda: api.request("GET", sa_path)[0] == 200,
            live,
        )
        timings["controller-manager"] = time.monotonic() - t
        if nodes:
            t = time.monotonic()
            _create_nodes(api, nodes)
            _wait_for(f"{len(nodes)} simulated nodes Ready", lambda: _nodes_ready(api, nodes), live)
            timings["nodes"] = time.monotonic() - t
    except BaseException:
        cluster.stop()
        raise
    cluster.timings = timings
    cluster.startup_seconds = time.monotonic() - t0
    return cluster


def _start_node_simulation(cluster: RunningCluster, bins: Path) -> None:
    """Start kube-scheduler and KWOK (which manages only the nodes labelled
    ``NODE_SELECTOR_LABEL=kwok``) against the admin kubeconfig."""
    cluster._scheduler = _Process(
        "kube-scheduler",
        [
            str(bins / "kube-scheduler"),
            f"--kubeconfig={cluster.kubeconfig}",
            "--leader-elect=false",
            "--secure-port=0",
        ],
        cluster.log_dir / "kube-scheduler.log",
    )
    cluster._scheduler.start()
    cluster._kwok = _Process(
        "kwok",
        [
            str(bins / "kwok"),
            f"--kubeconfig={cluster.kubeconfig}",
            "--manage-all-nodes=false",
            f"--manage-nodes-with-label-selector={NODE_SELECTOR_LABEL}=kwok",
            f"--cidr={POD_CIDR}",
            "--node-ip=10.240.0.1",
            "--server-address=",
            *(f"--config={path}" for path in sorted(STAGES_DIR.glob("*.yaml"))),
        ],
        cluster.log_dir / "kwok.log",
    )
    cluster._kwok.start()


def node_manifest(node: NodeSpec) -> dict[str, Any]:
    """The Node object of a simulated node (status included: a Node's status may be set on
    create), labelled for KWOK and with the well-known labels a kubelet sets."""
    labels = {
        "kubernetes.io/hostname": node.name,
        "kubernetes.io/os": "linux",
        "kubernetes.io/arch": "amd64",
        "type": "kwok",
        NODE_SELECTOR_LABEL: "kwok",
        **node.labels,
    }
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": node.name, "labels": labels, "annotations": {"kwok.x-k8s.io/node": "fake"}},
        "spec": {"taints": [dict(t) for t in node.taints]},
        "status": {"capacity": dict(node.capacity), "allocatable": dict(node.capacity)},
    }


def _create_nodes(api: Api, nodes: Sequence[NodeSpec]) -> None:
    for node in nodes:
        status, resp = api.request("POST", "/api/v1/nodes", node_manifest(node))
        if status not in (201, 409):
            raise ClusterStartError(f"creating Node/{node.name}: HTTP {status}: {resp}")


def _nodes_ready(api: Api, nodes: Sequence[NodeSpec]) -> bool:
    status, body = api.request("GET", f"/api/v1/nodes?labelSelector={NODE_SELECTOR_LABEL}%3Dkwok")
    if status != 200:
        return False
    ready = {
        item["metadata"]["name"]
        for item in body.get("items", [])
        for c in (item.get("status") or {}).get("conditions") or []
        if c.get("type") == "Ready" and c.get("status") == "True"
    }
    return all(node.name in ready for node in nodes)


def _setup_users(api: Api) -> None:
    """Namespace ``restricted`` with a RoleBinding giving the restricted user ``edit`` there,
    and a ClusterRoleBinding giving the agent user ``cluster-admin``."""
    rbac = "rbac.authorization.k8s.io"
    ns = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": RESTRICTED_NAMESPACE}}
    binding = {
        "apiVersion": f"{rbac}/v1",
        "kind": "RoleBinding",
        "metadata": {"name": f"{RESTRICTED_USER}-edit", "namespace": RESTRICTED_NAMESPACE},
        "roleRef": {"apiGroup": rbac, "kind": "ClusterRole", "name": "edit"},
        "subjects": [{"apiGroup": rbac, "kind": "User", "name": RESTRICTED_USER}],
    }
    agent_binding = {
        "apiVersion": f"{rbac}/v1",
        "kind": "ClusterRoleBinding",
        "metadata": {"name": f"{AGENT_USER}-cluster-admin"},
        "roleRef": {"apiGroup": rbac, "kind": "ClusterRole", "name": "cluster-admin"},
        "subjects": [{"apiGroup": rbac, "kind": "User", "name": AGENT_USER}],
    }
    for path, body in (
        ("/api/v1/namespaces", ns),
        (f"/apis/{rbac}/v1/namespaces/{RESTRICTED_NAMESPACE}/rolebindings", binding),
        (f"/apis/{rbac}/v1/clusterrolebindings", agent_binding),
    ):
        status, resp = api.request("POST", path, body)
        if status not in (201, 409):
            raise ClusterStartError(f"POST {path}: HTTP {status}: {resp}")


def describe_startup(cluster: RunningCluster) -> str:
    """One line: total startup time and its phases."""
    phases = ", ".join(f"{k} {v:.1f}s" for k, v in cluster.timings.items())
    return f"control plane ready in {cluster.startup_seconds:.1f}s ({phases})"


if __name__ == "__main__":
    from tools.testcluster.cli import main

    sys.exit(main())
