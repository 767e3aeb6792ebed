"""Timings of `plan`, `audit` and the sync-record push race on generated git histories.

    python bench/plan_audit_bench.py [--services 120] [--commits 100] [--writers 3] [--records 10]

plan: a GitOps repository with one workflow of N services in three environments; the
change re-pins the image in every environment, so every Deployment changes. Timed with one
and with four kustomize renders at a time. audit: C spec commits, each compiled and synced
(one note each), then the whole timeline. notes: W processes in W clones append R records
each to one environment commit at the same moment and push to one bare remote.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from gitops_agent.history.audit import timeline  # noqa: E402
from gitops_agent.history.notes import SyncRecord, record_sync  # noqa: E402
from gitops_agent.plan import build as plan_module  # noqa: E402
from gitops_agent.plan.build import compute_plan  # noqa: E402
from gitops_agent.plan.markdown import render_markdown  # noqa: E402
from gitops_agent.spec import load_specs  # noqa: E402
from tests.integration.history_helpers import make_history  # noqa: E402
from tests.support.gitrepos import git  # noqa: E402

ENV = """apiVersion: gitops-agent.io/v1alpha1
kind: Environment
metadata: {{name: {name}}}
spec:
  namespace: ml-{name}
  branch: env/{name}
  images: {{registry.example.com/bulk: '{tag}'}}
"""


def _workflow(services: int) -> str:
    lines = [
        "apiVersion: gitops-agent.io/v1alpha1",
        "kind: Workflow",
        "metadata: {name: bulk}",
        "spec:",
        "  defaults: {image: registry.example.com/bulk:1.0.0, resources: {cpu: 100m, memory: 128Mi}}",
        "  services:",
    ]
    for i in range(services):
        lines += [f"    s-{i:04d}:", f"      command: [serve, '{i}']", "      ports: {http: 8080}", "      replicas: 2"]
    return "\n".join(lines) + "\n"


def bench_plan(work: Path, services: int) -> None:
    repo = work / "plan"
    (repo / "workflows").mkdir(parents=True)
    (repo / "environments").mkdir()
    git(work, "init", "-q", "-b", "main", str(repo))
    (repo / "workflows" / "bulk.yaml").write_text(_workflow(services))
    for env in ("dev", "staging", "prod"):
        (repo / "environments" / f"{env}.yaml").write_text(ENV.format(name=env, tag="1.0.0"))
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "base")
    for env in ("dev", "staging", "prod"):
        (repo / "environments" / f"{env}.yaml").write_text(ENV.format(name=env, tag="1.1.0"))
    git(repo, "commit", "-q", "-am", "re-pin")
    for workers in (1, 2, 4):
        plan_module.RENDER_WORKERS = workers
        started = time.perf_counter()
        result = compute_plan(repo, "HEAD~1", "HEAD")
        elapsed = time.perf_counter() - started
        text = render_markdown(result)
        objects = sum(e.summary["changed"] + e.summary["unchanged"] for e in result.environments)
        changed = sum(e.summary["changed"] for e in result.environments)
        print(
            f"plan: {services} services x 3 environments = {objects} objects, {changed} changed; "
            f"{workers} render(s) at a time: {elapsed:.2f} s; markdown {len(text):,} chars"
            f"{' (truncated)' if 'Plan truncated' in text else ''}"
        )


def bench_audit(work: Path, commits: int) -> None:
    (work / "audit").mkdir()
    h = make_history(work / "audit", "bench", work / "no-kubeconfig")
    started = time.perf_counter()
    for i in range(commits):
        h.change_spec(tag=f"1.{i + 2}", replicas=1 + i % 3, message=f"change {i}")
        env_commit = h.compile()
        record_sync(h.repo, "bench", env_commit, SyncRecord(summary={"update": 1}, result="succeeded"), push=False)
    print(f"audit: built {commits} spec commits + compiles + sync notes in {time.perf_counter() - started:.1f} s")
    specs = load_specs(h.repo)
    started = time.perf_counter()
    events = timeline(h.repo, specs, fetch=False)
    print(f"audit: {len(events)} events in {time.perf_counter() - started:.2f} s")


WRITER = """
import sys, time
from pathlib import Path
from gitops_agent.history.notes import SyncRecord, record_sync
clone, sha, name, start, records = sys.argv[1:6]
time.sleep(max(0.0, float(start) - time.time()))
for i in range(int(records)):
    record_sync(Path(clone), "prod", sha, SyncRecord(summary={"update": i}, result=f"{name}-{i}"))
"""


def bench_notes(work: Path, writers: int, records: int) -> None:
    bare = work / "notes.git"
    git(work, "init", "-q", "--bare", str(bare))
    seed = work / "seed"
    git(work, "init", "-q", "-b", "main", str(seed))
    (seed / "f").write_text("x\n")
    git(seed, "add", "f")
    git(seed, "commit", "-q", "-m", "env")
    git(seed, "push", "-q", str(bare), "main:env/prod")
    sha = git(seed, "rev-parse", "HEAD")
    clones = []
    for i in range(writers):
        clone = work / f"writer{i}"
        git(work, "clone", "-q", str(bare), str(clone))
        clones.append(clone)
    start = time.time() + 2.0
    env = {"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"}
    procs = [
        subprocess.Popen([sys.executable, "-c", WRITER, str(c), sha, f"w{i}", str(start), str(records)], env=env)
        for i, c in enumerate(clones)
    ]
    for proc in procs:
        proc.wait()
    elapsed = time.time() - start
    lines = git(bare, "notes", "--ref", "refs/notes/gitops-agent", "show", sha).splitlines()
    merges = git(bare, "rev-list", "--merges", "refs/notes/gitops-agent").split()
    print(
        f"notes: {writers} writers x {records} records racing: {len(lines)} of {writers * records} kept, "
        f"{len(merges)} merges, {elapsed:.1f} s"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--services", type=int, default=120)
    parser.add_argument("--commits", type=int, default=100)
    parser.add_argument("--writers", type=int, default=3)
    parser.add_argument("--records", type=int, default=10)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="gitops-agent-bench-") as tmp:
        work = Path(tmp)
        bench_plan(work, args.services)
        bench_audit(work, args.commits)
        bench_notes(work, args.writers, args.records)


if __name__ == "__main__":
    main()
