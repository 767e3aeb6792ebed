"""Benchmark: the commands as people type them, from the GitOps repository to the exit code.

Generates N workflows of realistic shape in a temporary GitOps repository (each: a config
ConfigMap, a task Job, a scheduled CronJob, three services with a Deployment and a Service
each, one of them autoscaled by an HPA; 200 workflows compile to 2,001 objects), compiles
three environments of identical shape (one per tool, each in a namespace of its own) with
``gitops-agent compile --commit``, starts a real control plane (``tools/testcluster``, its
Service range widened to a /16 so every Service gets a ClusterIP) and measures, in one run:

* first sync: ``gitops-agent sync ENV`` (the installed console script, from the repository)
  vs ``kubectl apply --server-side -k overlays/ENV`` vs the ``fluxssa`` program (Flux's
  ``fluxcd/pkg/ssa`` engine after an in-process kustomize build, as kustomize-controller);
* no-op diff: ``gitops-agent diff ENV`` (the first one after the sync, then repeats) vs
  ``kubectl diff --server-side -k`` vs ``fluxssa -mode diff`` (build + a dry-run apply per
  object, as ``flux diff kustomization``);
* the render alone: ``gitops-agent render ENV`` (cold, then on the rendered commit) and
  ``kubectl kustomize`` of the overlay;
* a spec commit that changes one workflow: ``diff``, ``sync`` and ``plan`` of the new
  commit, each against a full render of the overlay.

gitops-agent's render cache (whole commits and workflow slices) is emptied before its first
sync and before one no-op diff, so those include a cold render as their peers' do.

Every measurement is a fresh process timed from start to exit. kubectl and fluxssa build the
overlay checked out from the environment branch (kustomize on every side). The machine load
(``/proc/loadavg``) is printed before and after.

    python bench/e2e_bench.py [--workflows 200] [--repeat 3] [--results bench/RESULTS.md]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

TOOLS = ("agent", "kubectl", "flux")
SERVICE_RANGE = "10.0.0.0/16"  # 65,534 ClusterIPs, as real clusters size their Service range

WORKFLOW = """apiVersion: gitops-agent.io/v1alpha1
kind: Workflow
metadata: {{name: wf-{i:04d}}}
spec:
  defaults: {{image: registry.example.com/wf-{i:04d}:1.0.0, resources: {{cpu: 100m, memory: 128Mi}}}}
  config:
    settings.yaml: |
      index: {i}
      threshold: 0.9
  tasks:
    prepare: {{command: [python, -m, prepare, '{i}'], retries: 1, timeout: 30m}}
    nightly: {{schedule: "15 2 * * *", command: [python, -m, evaluate], timeout: 1h}}
  services:
    s{i:04d}-api:
      command: [python, -m, serve]
      ports: {{http: 8080}}
      autoscale: {{min: 1, max: 4, cpuUtilization: 70}}
    s{i:04d}-worker: {{command: [python, -m, work], ports: {{metrics: 9100}}}}
    s{i:04d}-batch: {{command: [python, -m, batch], ports: {{grpc: 9000}}}}
"""

ENVIRONMENT = """apiVersion: gitops-agent.io/v1alpha1
kind: Environment
metadata: {{name: {name}}}
spec:
  namespace: e2e-{name}
  branch: env/{name}
"""


@dataclass
class Run:
    """One timed process: wall seconds from start to exit, and its exit code."""

    seconds: float
    code: int
    tail: str = ""
    stopped: bool = False
    """Stopped at ``--peer-timeout``: ``seconds`` is a lower bound."""


@dataclass
class Results:
    workflows: int
    objects: int = 0
    load_before: str = ""
    load_after: str = ""
    runs: dict[str, list[Run]] = field(default_factory=dict)

    def add(self, key: str, run: Run) -> None:
        self.runs.setdefault(key, []).append(run)

    def median(self, key: str) -> float:
        """The median seconds of ``key``'s runs; NaN when it was skipped (``--skip``)."""
        runs = self.runs.get(key)
        return statistics.median(r.seconds for r in runs) if runs else math.nan

    def stopped(self, key: str) -> bool:
        """Whether a run of ``key`` was stopped at the peer timeout (its time is a lower bound)."""
        return any(r.stopped for r in self.runs.get(key, ()))


def timed(
    argv: list[str],
    env: dict[str, str],
    cwd: Path | None = None,
    ok: tuple[int, ...] = (0,),
    timeout: float | None = None,
) -> Run:
    """Run ``argv`` to completion (or until ``timeout`` seconds: then a stopped run, whose time
    is a lower bound); fail the benchmark on an unexpected exit code."""
    started = time.perf_counter()
    try:
        proc = subprocess.run(argv, env=env, cwd=cwd, capture_output=True, text=True, check=False, timeout=timeout)
    except subprocess.TimeoutExpired:
        print(f"  > {timeout:.0f} s  stopped  {Path(argv[0]).name} {' '.join(argv[1:3])}", file=sys.stderr)
        return Run(time.perf_counter() - started, -1, stopped=True)
    run = Run(time.perf_counter() - started, proc.returncode, (proc.stdout[-600:] + proc.stderr[-1500:]))
    if proc.returncode not in ok:
        raise SystemExit(f"{' '.join(argv[:4])} … exited {proc.returncode}:\n{run.tail}")
    print(f"  {run.seconds:7.2f} s  exit {run.code}  {Path(argv[0]).name} {' '.join(argv[1:3])}", file=sys.stderr)
    return run


def loadavg() -> str:
    return ", ".join(Path("/proc/loadavg").read_text().split()[:3])


def make_repo(repo: Path, workflows: int, env: dict[str, str]) -> None:
    """A GitOps repository with ``workflows`` workflows and one environment per tool, compiled."""
    (repo / "workflows").mkdir(parents=True)
    (repo / "environments").mkdir()
    for i in range(workflows):
        (repo / "workflows" / f"wf-{i:04d}.yaml").write_text(WORKFLOW.format(i=i))
    for name in TOOLS:
        (repo / "environments" / f"{name}.yaml").write_text(ENVIRONMENT.format(name=name))
    for argv in (["git", "init", "-q", "-b", "main"], ["git", "add", "-A"], ["git", "commit", "-q", "-m", "workflows"]):
        subprocess.run(argv, cwd=repo, env=env, check=True)
    timed([agent_path(), "compile", "--commit"], env, cwd=repo)


def export_branch(repo: Path, branch: str, dest: Path) -> Path:
    """The environment branch's tree as plain files (what a person checks out to run kubectl)."""
    dest.mkdir(parents=True)
    archive = subprocess.run(["git", "archive", branch], cwd=repo, capture_output=True, check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(dest)], input=archive, check=True)
    return dest


def agent_path() -> str:
    return str(Path(sys.executable).parent / "gitops-agent")


def kubectl_bin() -> str:
    return str(Path(sys.executable).parent / "kubectl")


def fluxssa_bin() -> str:
    built = subprocess.run([str(ROOT / "bench" / "fluxssa" / "build.sh")], capture_output=True, text=True, check=False)
    if built.returncode != 0:
        raise SystemExit(f"bench/fluxssa/build.sh failed:\n{built.stderr[-2000:]}")
    return built.stdout.strip().splitlines()[-1]


def settle(env: dict[str, str], namespace: str, pods: int, timeout: float = 180.0) -> None:
    """Wait until the controllers made the Pods of the last sync, so their work stays out of
    the next measurement."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        out = subprocess.run([kubectl_bin(), "-n", namespace, "get", "pods", "-o", "name"], env=env,
                             capture_output=True, text=True, check=False).stdout
        if len(out.split()) >= pods:
            return
        time.sleep(2.0)


def measure(
    work: Path, env: dict[str, str], workflows: int, repeat: int, flux: str, skip: frozenset[str], peer_timeout: float
) -> Results:
    results = Results(workflows)
    repo = work / "repo"
    print(f"compiling {workflows} workflows x {len(TOOLS)} environments ...", file=sys.stderr)
    make_repo(repo, workflows, env)
    trees = {name: export_branch(repo, f"env/{name}", work / f"tree-{name}") for name in ("kubectl", "flux")}
    overlay = {name: str(tree / "overlays" / name) for name, tree in trees.items()}
    agent, kubectl = agent_path(), kubectl_bin()

    print("render alone ...", file=sys.stderr)
    clear_render_cache(repo)
    results.add("render agent cold", timed([agent, "render", "agent", "-o", "json"], env, cwd=repo))
    results.add("render agent", timed([agent, "render", "agent", "-o", "json"], env, cwd=repo))
    results.add("render kubectl", timed([kubectl, "kustomize", overlay["kubectl"]], env, timeout=peer_timeout))
    results.objects = len(json.loads(subprocess.run([agent, "render", "agent", "-o", "json"], env=env, cwd=repo,
                                                    capture_output=True, text=True, check=True).stdout)["objects"])

    results.load_before = loadavg()
    pods = workflows * 4  # 3 Deployments + 1 Job per workflow
    print("first sync ...", file=sys.stderr)
    if "kubectl-sync" not in skip:
        results.add("sync kubectl", timed([kubectl, "apply", "--server-side", "--field-manager=kubectl", "-k",
                                           overlay["kubectl"]], env, timeout=peer_timeout))
        settle(env, "e2e-kubectl", pods)
    if "flux" not in skip:
        results.add("sync flux", timed([flux, "-mode", "apply", "-path", overlay["flux"]], env, timeout=peer_timeout))
        settle(env, "e2e-flux", pods)
    clear_render_cache(repo)  # the first sync of a new commit renders it
    results.add("sync agent", timed([agent, "sync", "agent"], env, cwd=repo))
    settle(env, "e2e-agent", pods)

    print("no-op diff ...", file=sys.stderr)
    results.add("diff agent first", timed([agent, "diff", "agent"], env, cwd=repo))
    clear_render_cache(repo)
    results.add("diff agent cold", timed([agent, "diff", "agent"], env, cwd=repo))
    for _ in range(repeat):
        results.add("diff agent", timed([agent, "diff", "agent"], env, cwd=repo))
        if "kubectl-diff" not in skip:
            results.add("diff kubectl", timed([kubectl, "diff", "--server-side", "--field-manager=kubectl", "-k",
                                               overlay["kubectl"]], env, timeout=peer_timeout))
        if "flux" not in skip:
            results.add("diff flux", timed([flux, "-mode", "diff", "-path", overlay["flux"]], env,
                                           timeout=peer_timeout))

    print("a commit changing one workflow ...", file=sys.stderr)
    change_one_workflow(repo, workflows // 2, env)
    results.add("compile one changed", timed([agent, "compile", "--commit", "--env", "agent"], env, cwd=repo))
    results.add("diff agent one changed", timed([agent, "diff", "agent"], env, cwd=repo, ok=(1,)))
    results.add("sync agent one changed", timed([agent, "sync", "agent"], env, cwd=repo))
    results.add("plan agent one changed", timed([agent, "plan", "--base", "main~1", "--head", "main", "--env", "agent",
                                                 "-f", "json"], env, cwd=repo, ok=(1,)))
    results.load_after = loadavg()
    return results


def clear_render_cache(repo: Path) -> None:
    """Forget every render of the repository (whole commits and slices): the next command renders cold."""
    shutil.rmtree(repo / ".git" / "gitops-agent" / "render-cache", ignore_errors=True)


def change_one_workflow(repo: Path, index: int, env: dict[str, str]) -> None:
    """A spec commit that changes one workflow's config (its ConfigMap and its Deployments' config hash)."""
    path = repo / "workflows" / f"wf-{index:04d}.yaml"
    path.write_text(path.read_text().replace("threshold: 0.9", "threshold: 0.8"))
    subprocess.run(["git", "commit", "-q", "-am", f"wf-{index:04d}: threshold 0.8"], cwd=repo, env=env, check=True)


def ratio(theirs: float, ours: float, stopped: bool = False) -> str:
    """``theirs / ours`` as ``3.20x`` (``> 3.20x`` when their run was stopped), ``-`` if not run."""
    if not ours or math.isnan(theirs / ours):
        return "-"
    return f"{'> ' if stopped else ''}{theirs / ours:.2f}x"


def secs(value: float, stopped: bool = False) -> str:
    """``12.3 s``; ``> 900.0 s (stopped)`` for a run stopped at the peer timeout; ``not run``."""
    if math.isnan(value):
        return "not run"
    return f"> {value:.1f} s (stopped)" if stopped else f"{value:.1f} s"


def report(r: Results, repeat: int) -> str:
    machine = f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}"
    sync_a, diff_a = r.median("sync agent"), r.median("diff agent")
    first, cold = r.median("diff agent first"), r.median("diff agent cold")
    render_cold, render_a = r.median("render agent cold"), r.median("render agent")
    render_k = r.median("render kubectl")
    one = {what: r.median(f"{what} agent one changed") for what in ("diff", "sync", "plan")}

    def peer(key: str) -> str:
        return secs(r.median(key), r.stopped(key))

    def vs(key: str, ours: float) -> str:
        return ratio(r.median(key), ours, r.stopped(key))

    share = "< " if r.stopped("render kubectl") else ""
    lines = [
        f"## End to end: the commands as typed, {r.workflows} compiled workflows (`bench/e2e_bench.py`)",
        "",
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {machine}; control plane from `tools/testcluster` "
        f"(Service range {SERVICE_RANGE}) on the same machine. {r.workflows} workflows compiled by "
        f"`gitops-agent compile --commit` into {r.objects} objects per environment (per workflow: a "
        "ConfigMap, a Job, a CronJob, 3 Deployments with 3 Services, an HPA). Every time is a whole "
        "process from start to exit: `gitops-agent` from the repository (git, render, cluster); kubectl "
        "(from the virtualenv) and `fluxssa` (fluxcd/pkg/ssa v0.78.0 + kustomize/api v0.21.1, "
        "`bench/fluxssa/`) on the overlay checked out from the environment branch. One first sync per tool "
        "(each into its own namespace; gitops-agent's with an empty render cache, so it renders); no-op "
        f"diffs: median of {repeat}. Load average (1, 5, 15 min) {r.load_before} before, {r.load_after} after.",
        "",
        "| command | gitops-agent | kubectl --server-side -k | ratio | fluxssa (build + engine) | ratio |",
        "| --- | --- | --- | --- | --- | --- |",
        f"| first sync (new commit, render included) | {secs(sync_a)} | {peer('sync kubectl')} (`apply`) | "
        f"{vs('sync kubectl', sync_a)} | {peer('sync flux')} (`ApplyAllStaged`) | {vs('sync flux', sync_a)} |",
        f"| no-op diff, commit not rendered yet (cold) | {secs(cold)} | {peer('diff kubectl')} (`diff`) | "
        f"{vs('diff kubectl', cold)} | {peer('diff flux')} (`Diff` per object) | {vs('diff flux', cold)} |",
        f"| no-op diff (first after the sync) | {secs(first)} | {peer('diff kubectl')} | "
        f"{vs('diff kubectl', first)} | {peer('diff flux')} | {vs('diff flux', first)} |",
        f"| no-op diff, commit rendered (repeated) | {secs(diff_a)} | {peer('diff kubectl')} | "
        f"{vs('diff kubectl', diff_a)} | {peer('diff flux')} | {vs('diff flux', diff_a)} |",
        f"| render only, cold | {secs(render_cold)} (`render -o json`) | {peer('render kubectl')} "
        f"(`kubectl kustomize`) | {vs('render kubectl', render_cold)} | - | - |",
        f"| render only, rendered commit | {secs(render_a)} | {peer('render kubectl')} | "
        f"{vs('render kubectl', render_a)} | - | - |",
        "",
        f"A spec commit changing one workflow's config (`compile --commit --env agent`: "
        f"{secs(r.median('compile one changed'))}), then each command on the new environment commit, against "
        f"a full render of the overlay (`kubectl kustomize`, {peer('render kubectl')}):",
        "",
        "| command | time | share of a full render |",
        "| --- | --- | --- |",
        *(
            f"| `{what}` | {secs(seconds)} | {share}{100 * seconds / render_k:.0f}% |"
            for what, seconds in (
                ("diff agent", one["diff"]),
                ("sync agent", one["sync"]),
                ("plan --base main~1 --head main --env agent", one["plan"]),
            )
        ),
        "",
        "Ratios are the other tool's time over gitops-agent's (above 1: gitops-agent is faster). All runs: "
        + "; ".join(f"{key} {', '.join(f'{run.seconds:.1f}' for run in runs)} s" for key, runs in r.runs.items())
        + ".",
        "",
    ]
    return "\n".join(lines)


def prepend_section(results_file: Path, section: str) -> None:
    """Insert ``section`` after the file's title and introduction, above the older sections."""
    text = results_file.read_text(encoding="utf-8")
    head, sep, rest = text.partition("\n## ")
    results_file.write_text(head.rstrip("\n") + "\n\n" + section + ("\n## " + rest if sep else ""), encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--workflows", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=3, help="no-op diffs per tool")
    parser.add_argument("--results", type=Path, default=None, help="put a Markdown section at the top of this file")
    parser.add_argument("--skip", default="", help="comma-separated peers' runs left out: flux, kubectl-sync, "
                        "kubectl-diff (each is a full kustomize build; at 1,000 workflows one takes over half an "
                        "hour here)")
    parser.add_argument("--peer-timeout", type=float, default=None,
                        help="stop a peer's run after this many seconds and report its time as a lower bound")
    args = parser.parse_args()
    skip = frozenset(filter(None, args.skip.split(",")))
    known = {"flux", "kubectl-sync", "kubectl-diff"}
    if skip - known:
        parser.error(f"--skip: unknown {', '.join(sorted(skip - known))}")

    from tools.testcluster.launcher import start_cluster

    flux = "" if "flux" in skip else fluxssa_bin()
    with tempfile.TemporaryDirectory(prefix="e2e-bench-") as tmp:
        work = Path(tmp)
        cluster = start_cluster(work / "cluster", extra_apiserver_args=[f"--service-cluster-ip-range={SERVICE_RANGE}"])
        try:
            env = dict(os.environ, KUBECONFIG=str(cluster.kubeconfig), GIT_AUTHOR_NAME="bench",
                       GIT_AUTHOR_EMAIL="bench@example.com", GIT_COMMITTER_NAME="bench",
                       GIT_COMMITTER_EMAIL="bench@example.com",
                       PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}")
            env.pop("GITOPS_AGENT_CLUSTER_DIR", None)
            results = measure(work, env, args.workflows, args.repeat, flux, skip, args.peer_timeout)
        finally:
            cluster.stop()
    text = report(results, args.repeat)
    print(text)
    if args.results:
        prepend_section(args.results, text)


if __name__ == "__main__":
    if shutil.which("git") is None:
        raise SystemExit("git is needed")
    main()
