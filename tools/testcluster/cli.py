"""Command line of the test control plane: a background instance for people and scripts.

    python -m tools.testcluster.launcher up      # start in the background (idempotent); prints
                                                 # AGENT_KUBECONFIG=, KUBECONFIG=,
                                                 # RESTRICTED_KUBECONFIG= as its last lines
    python -m tools.testcluster.launcher status  # exit 0 and the same lines when it runs, else 1
    python -m tools.testcluster.launcher down    # stop it and remove its files (idempotent)
    python -m tools.testcluster.launcher run     # in the foreground until Ctrl-C/SIGTERM

``up`` starts a supervisor process (``serve``) that owns the cluster and publishes
``<state dir>/ready.json``; ``down`` sends it SIGTERM. The state dir is
``$GITOPS_AGENT_CLUSTER_DIR`` or ``${XDG_RUNTIME_DIR:-/tmp}/gitops-agent-cluster``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from types import FrameType
from typing import Any

from tools.testcluster.launcher import (
    BIN_DIR_ENV,
    READY_TIMEOUT_S,
    REPO_ROOT,
    STATE_DIR_ENV,
    STOP_TIMEOUT_S,
    binary_dir,
    describe_startup,
    log_tail,
    start_cluster,
)


def default_state_dir() -> Path:
    override = os.environ.get(STATE_DIR_ENV)
    if override:
        return Path(override)
    return Path(os.environ.get("XDG_RUNTIME_DIR") or "/tmp") / "gitops-agent-cluster"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _read_state(state_dir: Path) -> dict[str, Any] | None:
    """The ``ready.json`` of a running supervisor, or ``None``."""
    try:
        state: dict[str, Any] = json.loads((state_dir / "ready.json").read_text())
    except (OSError, ValueError):
        return None
    return state if _pid_alive(int(state["pid"])) else None


def _serve(state_dir: Path) -> int:
    """Supervisor: start the cluster, publish ``ready.json``, stop on SIGTERM/SIGINT."""
    stopping = False

    def on_signal(signum: int, frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    cluster = start_cluster(state_dir / "cluster")
    try:
        state = {
            "pid": os.getpid(),
            "server": cluster.server,
            "kubeconfig": str(cluster.kubeconfig),
            "restricted_kubeconfig": str(cluster.restricted_kubeconfig),
            "agent_kubeconfig": str(cluster.agent_kubeconfig),
            "restricted_namespace": cluster.restricted_namespace,
            "log_dir": str(cluster.log_dir),
            "startup_seconds": round(cluster.startup_seconds, 2),
            "processes": cluster.pids(),
        }
        tmp = state_dir / "ready.json.tmp"
        tmp.write_text(json.dumps(state, indent=2) + "\n")
        tmp.replace(state_dir / "ready.json")
        print(describe_startup(cluster), flush=True)
        while not stopping:
            dead = [name for name, ok in cluster.running().items() if not ok]
            if dead:
                print(f"stopping: {', '.join(dead)} exited", flush=True)
                break
            time.sleep(0.5)
    finally:
        cluster.stop()
        (state_dir / "ready.json").unlink(missing_ok=True)
    return 0


def _print_env(state: dict[str, Any]) -> None:
    print(f"AGENT_KUBECONFIG={state['agent_kubeconfig']}")
    print(f"KUBECONFIG={state['kubeconfig']}")
    print(f"RESTRICTED_KUBECONFIG={state['restricted_kubeconfig']}")


def cmd_up(state_dir: Path) -> int:
    state = _read_state(state_dir)
    if state is not None:
        print(f"control plane already running at {state['server']} (pid {state['pid']})")
        _print_env(state)
        return 0
    shutil.rmtree(state_dir, ignore_errors=True)
    state_dir.mkdir(parents=True)
    bins = binary_dir()
    log = (state_dir / "supervisor.log").open("ab")
    env = {**os.environ, BIN_DIR_ENV: str(bins)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "tools.testcluster.cli", "serve", "--state-dir", str(state_dir)],
        cwd=REPO_ROOT,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    log.close()
    deadline = time.monotonic() + READY_TIMEOUT_S * 2
    while time.monotonic() < deadline:
        state = _read_state(state_dir)
        if state is not None:
            print(
                f"control plane running at {state['server']} (supervisor pid {state['pid']}), "
                f"started in {state['startup_seconds']}s; logs in {state['log_dir']}"
            )
            _print_env(state)
            return 0
        if proc.poll() is not None:
            break
        time.sleep(0.2)
    if proc.poll() is None:
        proc.terminate()
        proc.wait()
    print(f"control plane failed to start; see {state_dir / 'supervisor.log'}:", file=sys.stderr)
    print(log_tail(state_dir / "supervisor.log", 30), file=sys.stderr)
    return 1


def cmd_down(state_dir: Path) -> int:
    state = _read_state(state_dir)
    if state is not None:
        pid = int(state["pid"])
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT_S * 3
        while _pid_alive(pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        if _pid_alive(pid):  # a hung supervisor: kill it and, should any survive, its children
            for proc_pid in [pid, *state.get("processes", {}).values()]:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(int(proc_pid), signal.SIGKILL)
        print(f"control plane stopped (was {state['server']})")
    else:
        print("control plane not running")
    shutil.rmtree(state_dir, ignore_errors=True)
    return 0


def cmd_status(state_dir: Path) -> int:
    state = _read_state(state_dir)
    if state is None:
        print("control plane not running")
        return 1
    print(f"control plane running at {state['server']} (supervisor pid {state['pid']}); logs in {state['log_dir']}")
    _print_env(state)
    return 0


@contextlib.contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    previous = signal.getsignal(signal.SIGTERM)

    def raise_interrupt(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, raise_interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tools.testcluster.launcher",
        description=__doc__.splitlines()[0] if __doc__ else None,
    )
    parser.add_argument(
        "command",
        choices=["up", "down", "status", "serve", "run"],
        help="up/down/status: background control plane; run: foreground until Ctrl-C",
    )
    parser.add_argument("--state-dir", type=Path, default=default_state_dir())
    args = parser.parse_args(argv)
    state_dir: Path = args.state_dir.resolve()
    if args.command == "up":
        return cmd_up(state_dir)
    if args.command == "down":
        return cmd_down(state_dir)
    if args.command == "status":
        return cmd_status(state_dir)
    if args.command == "serve":
        return _serve(state_dir)
    with _sigterm_as_interrupt(), tempfile.TemporaryDirectory(prefix="testcluster-") as tmp:
        cluster = start_cluster(Path(tmp))
        try:
            print(describe_startup(cluster))
            print(f"PIDS={json.dumps(cluster.pids())}")
            print(f"AGENT_KUBECONFIG={cluster.agent_kubeconfig}")
            print(f"KUBECONFIG={cluster.kubeconfig}")
            print(f"RESTRICTED_KUBECONFIG={cluster.restricted_kubeconfig}", flush=True)
            while all(cluster.running().values()):
                time.sleep(0.5)
        except KeyboardInterrupt:
            pass
        finally:
            cluster.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
