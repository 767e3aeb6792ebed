"""Benchmark: ``sync --wait`` of ~1,000 compiled objects (tasks and services) until Healthy,
on the local control plane with simulated nodes (``tools/testcluster``: the real scheduler
binds every Pod, KWOK runs it, the real job and deployment controllers report).

The spec: W workflows, each a DAG of four tasks (prepare → train → evaluate, and an
independent export) and three services that depend on ``evaluate`` — each service compiles
to a Deployment and a Service, each task to a Job, so W = 100 gives 1,000 objects (plus the
Namespace). It is compiled with ``gitops-agent compile --commit`` into a real git repository,
rendered from the environment branch, and synced in this process with ``wait=True``.

Reported apart:

* wall time of the sync, from the first request to Healthy;
* the agent's own time: CPU seconds (user + system) the agent's process spent in the sync;
* waiting on the cluster: the rest of the wall time — API round trips and, within it, the
  sleeps between polls while Jobs ran and Deployments became available;
* API requests made, by kind of call.

    python bench/wait_bench.py [--workflows 100] [--task-seconds 1]
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

GIT = {"GIT_AUTHOR_NAME": "Bench", "GIT_AUTHOR_EMAIL": "bench@example.com",
       "GIT_COMMITTER_NAME": "Bench", "GIT_COMMITTER_EMAIL": "bench@example.com"}
ENVIRONMENT = """apiVersion: gitops-agent.io/v1alpha1
kind: Environment
metadata: {name: bench}
spec:
  namespace: bench
  branch: env/bench
  sync: {prune: true}
"""


def workflow(index: int, task_seconds: float) -> str:
    name = f"wf-{index:03d}"
    duration = f'{{GITOPS_AGENT_SIMULATE_DURATION: "{task_seconds}s"}}'
    return f"""apiVersion: gitops-agent.io/v1alpha1
kind: Workflow
metadata: {{name: {name}}}
spec:
  defaults:
    image: registry.example.com/bench:1.0.{index}
    resources: {{cpu: 50m, memory: 64Mi}}
    env: {duration}
  tasks:
    prepare: {{command: [prepare]}}
    train: {{dependsOn: [prepare], command: [train]}}
    evaluate: {{dependsOn: [train], command: [evaluate]}}
    export: {{command: [export]}}
  services:
    api-{index:03d}: {{dependsOn: [evaluate], ports: {{http: 8080}}}}
    batch-{index:03d}: {{dependsOn: [evaluate], ports: {{http: 8080}}}}
    canary-{index:03d}: {{dependsOn: [evaluate], ports: {{http: 8080}}}}
"""


def make_repo(path: Path, workflows: int, task_seconds: float) -> None:
    (path / "workflows").mkdir(parents=True)
    (path / "environments").mkdir()
    for index in range(workflows):
        (path / "workflows" / f"wf-{index:03d}.yaml").write_text(workflow(index, task_seconds))
    (path / "environments" / "bench.yaml").write_text(ENVIRONMENT)
    env = {**os.environ, **GIT}
    for args in (["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-qm", "bench workflows"]):
        subprocess.run(["git", *args], cwd=path, check=True, env=env)


class TimedCluster:
    """Wraps a cluster: counts the calls the engine makes, by method."""

    def __init__(self, cluster: Any) -> None:
        self._cluster = cluster
        self.calls: Counter[str] = Counter()
        self._lock = threading.Lock()

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._cluster, name)
        if not callable(attribute) or name in ("resource", "schema"):
            return attribute

        def call(*args: Any, **kwargs: Any) -> Any:
            with self._lock:
                self.calls[name] += 1
            return attribute(*args, **kwargs)

        return call


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--workflows", type=int, default=100, help="10 objects each")
    parser.add_argument("--task-seconds", type=float, default=1.0, help="how long each task's Pod runs")
    parser.add_argument("--timeout", type=float, default=900.0)
    args = parser.parse_args()

    from gitops_agent.adapters.kube import KubeCluster
    from gitops_agent.app.environment import load_environment
    from gitops_agent.app.sync import render_desired
    from gitops_agent.app.targets import target_for
    from gitops_agent.cli import run
    from gitops_agent.reconcile import apply as apply_module
    from gitops_agent.reconcile.engine import SyncOptions, sync
    from tools.testcluster.launcher import describe_startup, start_cluster

    with tempfile.TemporaryDirectory(prefix="wait-bench-") as tmp:
        work = Path(tmp)
        cluster = start_cluster(work / "cluster")
        print(describe_startup(cluster), flush=True)
        try:
            repo = work / "repo"
            make_repo(repo, args.workflows, args.task_seconds)
            t = time.perf_counter()
            assert run(["compile", "--repo", str(repo), "--commit"]) == 0
            compile_seconds = time.perf_counter() - t
            environment = load_environment(repo, "bench")
            rendered = render_desired(repo, environment, None)
            objects = list(rendered.objects)

            slept = [0.0]
            real_sleep = time.sleep

            def counted_sleep(seconds: float) -> None:
                if threading.current_thread() is threading.main_thread():
                    slept[0] += seconds
                real_sleep(seconds)

            kube = KubeCluster(cluster.kubeconfig)
            timed = TimedCluster(kube)
            apply_module.time.sleep = counted_sleep  # type: ignore[attr-defined]
            cpu0 = resource.getrusage(resource.RUSAGE_SELF)
            t = time.perf_counter()
            try:
                result = sync(timed, objects, target_for(environment, rendered.revision),  # type: ignore[arg-type]
                              SyncOptions(wait=True, timeout=args.timeout))
            finally:
                wall = time.perf_counter() - t
                cpu1 = resource.getrusage(resource.RUSAGE_SELF)
                apply_module.time.sleep = real_sleep  # type: ignore[attr-defined]
                kube.close()
            cpu = (cpu1.ru_utime - cpu0.ru_utime) + (cpu1.ru_stime - cpu0.ru_stime)
            kinds = Counter(c.ref.kind for c in result.changes)
            unhealthy = [(c.ref.kind, c.ref.name, str(c.health), c.message) for c in result.changes
                         if str(c.health) not in ("Healthy", "None")]
            print(f"machine: {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}")
            print(f"compiled {args.workflows} workflows in {compile_seconds:.1f}s: {len(objects)} objects "
                  f"({', '.join(f'{n} {k}' for k, n in sorted(kinds.items()))})")
            print(f"sync --wait: {result.health} in {wall:.1f}s wall")
            print(f"  agent's own time (CPU, user+system): {cpu:.1f}s")
            print(f"  waiting on the cluster: {wall - cpu:.1f}s, of which {slept[0]:.1f}s between polls "
                  "(Jobs running, Deployments becoming available)")
            print(f"  API calls: {dict(sorted(timed.calls.items()))}")
            if unhealthy:
                print(f"  not Healthy: {unhealthy[:5]}")
        finally:
            cluster.stop()


if __name__ == "__main__":
    main()
