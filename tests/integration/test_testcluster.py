"""The test control plane's launcher: teardown leaves nothing behind (stop, SIGTERM, parent
death), ``scripts/cluster`` is idempotent, and restarts of the apiserver or etcd keep the data
(what fault tests rely on)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from kubernetes import client

from tests.support.cluster import StartCluster, kube_api
from tools.testcluster import launcher
from tools.testcluster.launcher import REPO_ROOT, RunningCluster, start_cluster

pytestmark = pytest.mark.integration
ALL_PROCESSES = {"etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok"}


def process_exists(pid: int) -> bool:
    """True while ``pid`` runs (a zombie waiting to be reaped counts as gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def wait_gone(pids: Iterable[int], timeout: float = 20.0) -> list[int]:
    """The pids still running after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    left = [p for p in pids if process_exists(p)]
    while left and time.monotonic() < deadline:
        time.sleep(0.1)
        left = [p for p in left if process_exists(p)]
    return left


def port_open(server: str) -> bool:
    host, port = server.removeprefix("https://").split(":")
    with socket.socket() as s:
        s.settimeout(1)
        return s.connect_ex((host, int(port))) == 0


def cmdline(pid: int) -> list[str]:
    return Path(f"/proc/{pid}/cmdline").read_bytes().decode().split("\0")


@pytest.fixture
def private_cluster(tmp_path: Path) -> Iterator[RunningCluster]:
    cluster = start_cluster(tmp_path / "cluster", extra_apiserver_args=["--max-requests-inflight=50"])
    try:
        yield cluster
    finally:
        cluster.stop()


def test_stop_ends_every_process_and_frees_the_port(private_cluster: RunningCluster) -> None:
    pids = private_cluster.pids()
    assert set(pids) == ALL_PROCESSES
    assert all(process_exists(p) for p in pids.values())
    assert port_open(private_cluster.server)
    assert private_cluster.startup_seconds < 30

    private_cluster.stop()

    assert wait_gone(pids.values(), timeout=0) == []
    assert not port_open(private_cluster.server)
    assert private_cluster.running() == dict.fromkeys(pids, False)
    private_cluster.stop()  # idempotent
    assert (private_cluster.log_dir / "kube-apiserver.log").stat().st_size > 0


def test_restarted_apiserver_keeps_port_certificate_and_data(
    private_cluster: RunningCluster,
) -> None:
    api = private_cluster.api()
    cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "survivor"}, "data": {"answer": "42"}}
    status, _ = api.request("POST", "/api/v1/namespaces/default/configmaps", cm)
    assert status == 201
    first_pid = private_cluster.pids()["kube-apiserver"]
    assert "--max-requests-inflight=50" in cmdline(first_pid)

    private_cluster.stop_apiserver()
    assert not port_open(private_cluster.server)
    assert private_cluster.running()["etcd"]

    private_cluster.start_apiserver(["--max-requests-inflight=7"])

    second_pid = private_cluster.pids()["kube-apiserver"]
    assert second_pid != first_pid
    assert "--max-requests-inflight=7" in cmdline(second_pid)
    assert "--max-requests-inflight=50" not in cmdline(second_pid)
    # The kubeconfig written at startup still verifies the (reused) serving certificate.
    with kube_api(private_cluster.kubeconfig) as client_api:
        live = client.CoreV1Api(client_api).read_namespaced_config_map("survivor", "default")
    assert live.data == {"answer": "42"}


def test_restarted_etcd_keeps_data(private_cluster: RunningCluster) -> None:
    api = private_cluster.api()
    ns = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "before-etcd-restart"}}
    assert api.request("POST", "/api/v1/namespaces", ns)[0] == 201

    private_cluster.stop_etcd()
    deadline = time.monotonic() + 30
    while api.request("GET", "/readyz")[0] == 200:
        assert time.monotonic() < deadline, "apiserver still ready without etcd"
        time.sleep(0.2)
    private_cluster.start_etcd()

    deadline = time.monotonic() + 60
    while api.request("GET", "/readyz")[0] != 200:
        assert time.monotonic() < deadline, "apiserver not ready again after etcd restart"
        time.sleep(0.2)
    status, body = api.request("GET", "/api/v1/namespaces/before-etcd-restart")
    assert status == 200
    assert body["metadata"]["name"] == "before-etcd-restart"


def _start_foreground(tmp_path: Path) -> tuple[subprocess.Popen[str], dict[str, int]]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "tools.testcluster.launcher", "run"],
        cwd=REPO_ROOT,
        env={**os.environ, "TMPDIR": str(tmp_path)},
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    pids: dict[str, int] = {}
    for line in proc.stdout:
        if line.startswith("PIDS="):
            pids = json.loads(line.removeprefix("PIDS="))
        if line.startswith("RESTRICTED_KUBECONFIG="):
            break
    assert set(pids) == ALL_PROCESSES, proc.poll()
    return proc, pids


def test_sigterm_tears_the_control_plane_down(tmp_path: Path) -> None:
    proc, pids = _start_foreground(tmp_path)
    assert all(process_exists(p) for p in pids.values())

    proc.send_signal(signal.SIGTERM)

    assert proc.wait(timeout=60) == 0
    assert wait_gone(pids.values()) == []
    assert list(tmp_path.iterdir()) == []  # its temporary workdir is removed


def test_processes_die_with_a_killed_parent(tmp_path: Path) -> None:
    proc, pids = _start_foreground(tmp_path)

    proc.kill()
    proc.wait(timeout=10)

    assert wait_gone(pids.values()) == []


def test_cluster_script_is_idempotent(tmp_path: Path) -> None:
    script = REPO_ROOT / "scripts" / "cluster"
    env = {**os.environ, "GITOPS_AGENT_CLUSTER_DIR": str(tmp_path / "state")}

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(script), *args], env=env, capture_output=True, text=True, timeout=300)

    assert run("status").returncode == 1
    up = run("up")
    assert up.returncode == 0, up.stderr
    *_, admin_line, restricted_line = up.stdout.splitlines()
    kubeconfig = Path(admin_line.removeprefix("KUBECONFIG="))
    restricted = Path(restricted_line.removeprefix("RESTRICTED_KUBECONFIG="))
    assert kubeconfig.is_file() and restricted.is_file()
    state = json.loads((tmp_path / "state" / "ready.json").read_text())

    again = run("up")
    assert again.returncode == 0
    assert again.stdout.splitlines()[-2:] == [admin_line, restricted_line]
    assert json.loads((tmp_path / "state" / "ready.json").read_text())["pid"] == state["pid"]
    status = run("status")
    assert status.returncode == 0 and admin_line in status.stdout
    kubectl = subprocess.run(
        ["kubectl", "get", "namespace", "restricted", "-o", "name"],
        env={**os.environ, "KUBECONFIG": str(kubeconfig)},
        capture_output=True,
        text=True,
    )
    assert kubectl.stdout.strip() == "namespace/restricted", kubectl.stderr
    denied = subprocess.run(
        ["kubectl", "get", "configmaps", "-n", "default"],
        env={**os.environ, "KUBECONFIG": str(restricted)},
        capture_output=True,
        text=True,
    )
    assert denied.returncode != 0 and "forbidden" in denied.stderr.lower()

    down = run("down")
    assert down.returncode == 0
    assert wait_gone([state["pid"], *state["processes"].values()]) == []
    assert not (tmp_path / "state").exists()
    assert run("status").returncode == 1
    assert run("down").returncode == 0


def test_a_port_taken_before_binding_is_retried_with_others(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real_free_ports = launcher.free_ports
    calls: list[list[int]] = []
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        taken = squatter.getsockname()[1]

        def first_one_taken(count: int) -> list[int]:
            ports = real_free_ports(count)
            if not calls:
                ports[0] = taken  # the etcd client port
            calls.append(ports)
            return ports

        monkeypatch.setattr(launcher, "free_ports", first_one_taken)
        cluster = start_cluster(tmp_path / "cluster")
    try:
        assert len(calls) == 2
        assert cluster.api().request("GET", "/readyz")[0] == 200
        assert "address already in use" in (cluster.log_dir / "etcd.log").read_text()
    finally:
        cluster.stop()


def test_small_inflight_limits_throttle_the_agent_user_with_429(private_kube_cluster: StartCluster) -> None:
    cluster = private_kube_cluster(
        [
            "--enable-priority-and-fairness=false",
            "--max-requests-inflight=1",
            "--max-mutating-requests-inflight=1",
        ]
    )
    agent, admin = cluster.api(cluster.agent_token), cluster.api()

    def get(api: launcher.Api) -> tuple[int, str | None]:
        resp = api.call("GET", "/api/v1/namespaces")
        return resp.status, resp.headers.get("Retry-After")

    def burst(api: launcher.Api) -> list[tuple[int, str | None]]:
        with ThreadPoolExecutor(max_workers=16) as pool:
            return list(pool.map(lambda _: get(api), range(200)))

    agent_results = burst(agent)
    throttled = [retry for status, retry in agent_results if status == 429]
    assert throttled, "no request of the agent user was throttled"
    assert all(retry is not None and int(retry) >= 1 for retry in throttled)
    assert {status for status, _ in agent_results} <= {200, 429}
    # system:masters is exempt from the limit: the admin is never throttled.
    assert {status for status, _ in burst(admin)} == {200}
    # The CRDs the factory installs are served.
    assert cluster.api().request("GET", "/apis/monitoring.coreos.com/v1/servicemonitors")[0] == 200


def test_build_script_reuses_its_versioned_cache() -> None:
    started = time.monotonic()
    out = subprocess.run(
        [str(REPO_ROOT / "tools" / "testcluster" / "build.sh")], capture_output=True, text=True, check=True
    )
    elapsed = time.monotonic() - started

    bin_dir = Path(out.stdout.strip().splitlines()[-1])
    assert bin_dir.name == "k8s-1.36.3-etcd-3.6.8-kwok-0.8.0"
    assert "cached" in out.stderr and elapsed < 5
    version = subprocess.run([str(bin_dir / "kube-scheduler"), "--version"], capture_output=True, text=True)
    assert version.stdout.strip() == "Kubernetes v1.36.3"
    version = subprocess.run([str(bin_dir / "kwok"), "--version"], capture_output=True, text=True)
    assert "0.8.0" in version.stdout
    version = subprocess.run([str(bin_dir / "kube-apiserver"), "--version"], capture_output=True, text=True)
    assert version.stdout.strip() == "Kubernetes v1.36.3"
    version = subprocess.run([str(bin_dir / "kube-controller-manager"), "--version"], capture_output=True, text=True)
    assert version.stdout.strip() == "Kubernetes v1.36.3"
    etcd = subprocess.run([str(bin_dir / "etcd"), "--version"], capture_output=True, text=True)
    assert etcd.stdout.splitlines()[0] == "etcd Version: 3.6.8"


def test_more_services_than_a_slash_24_holds_get_cluster_ips(kube_cluster: RunningCluster, namespace: str) -> None:
    """The Service range is as wide as real clusters' (a /24 is full after ~250 Services)."""
    api = kube_cluster.api()

    def create(index: int) -> tuple[int, str]:
        body = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": f"svc-{index:03d}"},
                "spec": {"selector": {"app": f"a{index}"}, "ports": [{"port": 80}]}}
        status, resp = api.request("POST", f"/api/v1/namespaces/{namespace}/services", body)
        return status, (resp.get("spec", {}).get("clusterIP", "") if isinstance(resp, dict) else str(resp))

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(create, range(300)))
    assert [status for status, _ in results] == [201] * 300, [r for r in results if r[0] != 201][:3]
    assert len({ip for _, ip in results}) == 300


def test_simulated_nodes_are_ready_and_pods_are_bound_by_the_scheduler(
    kube_cluster: RunningCluster, namespace: str
) -> None:
    api = kube_cluster.api()
    status, nodes = api.request("GET", "/api/v1/nodes")
    assert status == 200
    by_name = {n["metadata"]["name"]: n for n in nodes["items"]}
    assert set(by_name) == {n.name for n in launcher.NODES}
    for node in by_name.values():
        ready = [c for c in node["status"]["conditions"] if c["type"] == "Ready"]
        assert ready and ready[0]["status"] == "True"
    gpu = by_name["gpu-node-0"]
    assert gpu["status"]["allocatable"]["nvidia.com/gpu"] == "4"
    assert gpu["metadata"]["labels"]["nvidia.com/gpu.product"] == "NVIDIA-A100-SXM4-80GB"
    assert gpu["spec"]["taints"] == [{"key": "nvidia.com/gpu", "value": "present", "effect": "NoSchedule"}]

    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web"},
           "spec": {"containers": [{"name": "web", "image": "registry.example.com/web:1",
                                    "resources": {"requests": {"cpu": "1", "memory": "1Gi"}}}]}}
    assert api.request("POST", f"/api/v1/namespaces/{namespace}/pods", pod)[0] == 201
    deadline = time.monotonic() + 30
    while True:
        live = api.request("GET", f"/api/v1/namespaces/{namespace}/pods/web")[1]
        conditions = {c["type"]: c["status"] for c in live["status"].get("conditions", [])}
        if live["status"].get("phase") == "Running" and conditions.get("Ready") == "True":
            break
        assert time.monotonic() < deadline, live["status"]
        time.sleep(0.2)
    assert live["spec"]["nodeName"].startswith("cpu-node-")  # no toleration: never the GPU node
    assert live["status"]["podIP"].startswith("10.244.")
    events = api.request("GET", f"/api/v1/namespaces/{namespace}/events?fieldSelector=involvedObject.name%3Dweb")[1]
    scheduled = [e for e in events["items"] if e["reason"] == "Scheduled"]
    assert scheduled and scheduled[0].get("reportingComponent") == "default-scheduler"
