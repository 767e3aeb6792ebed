"""Benchmark: ``gitops-agent plan`` of a pull request that changes one workflow of N.

Generates N workflows of the shape ``bench/e2e_bench.py`` uses (200 compile to 2,001
objects) and one environment, commits them, then a commit that changes one workflow's
config. Times ``gitops-agent plan --base main~1 --head main -f json`` as a fresh process
(start-up included): cold (render cache emptied, as in a CI job's fresh clone) and warm
(a second plan in the same clone). No cluster is needed. The machine load
(``/proc/loadavg``) is printed before and after. Then, in process (CPU-s of this process
and its kustomize children), the phases of a cold plan: loading each revision's specs, and
the plan of the environment from what differs (``incremental_plan``).

    python bench/plan_one_changed_bench.py [--workflows 600] [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.e2e_bench import ENVIRONMENT, WORKFLOW, agent_path, change_one_workflow, loadavg  # noqa: E402


def make_repo(repo: Path, workflows: int, env: dict[str, str]) -> None:
    """``workflows`` workflows and one environment, committed; then one workflow changed."""
    (repo / "workflows").mkdir(parents=True)
    (repo / "environments").mkdir()
    for i in range(workflows):
        (repo / "workflows" / f"wf-{i:04d}.yaml").write_text(WORKFLOW.format(i=i))
    (repo / "environments" / "agent.yaml").write_text(ENVIRONMENT.format(name="agent"))
    for argv in (["git", "init", "-q", "-b", "main"], ["git", "add", "-A"], ["git", "commit", "-q", "-m", "workflows"]):
        subprocess.run(argv, cwd=repo, env=env, check=True)
    change_one_workflow(repo, workflows // 2, env)


def timed_plan(repo: Path, env: dict[str, str]) -> tuple[float, float]:
    """Wall seconds and CPU seconds (the process and its children) of one ``plan``."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    proc = subprocess.run(
        [agent_path(), "plan", "--base", "main~1", "--head", "main", "-f", "json"],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 1:  # 1: the plan has changes
        raise SystemExit(f"plan exited {proc.returncode}:\n{proc.stderr[-2000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def phases(repo: Path) -> str:
    """CPU seconds of a cold plan's phases, in this process (kustomize children included)."""
    from gitops_agent.adapters import git as gitops_git
    from gitops_agent.compile import CompileMemo
    from gitops_agent.plan.build import incremental_plan, load_revision
    from gitops_agent.render.overlay import cache_for

    def cpu() -> float:
        own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
        return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime

    shutil.rmtree(repo / ".git" / "gitops-agent", ignore_errors=True)
    handle = gitops_git.open_repo(repo)
    spent: list[float] = []
    with tempfile.TemporaryDirectory(prefix="plan-phases-") as tmp:
        revisions = []
        for ref in ("main~1", "main"):
            started = cpu()
            sha = gitops_git.rev_parse(handle, ref)
            assert sha is not None
            revisions.append(load_revision(repo, sha, Path(tmp) / ref))
            spent.append(cpu() - started)
        started = cpu()
        plan = incremental_plan("agent", *revisions, cache=cache_for(repo), memo=CompileMemo())
        spent.append(cpu() - started)
    assert not isinstance(plan, str), plan
    return (
        f"in process: load base {spent[0]:.2f}, load head {spent[1]:.2f}, incremental plan {spent[2]:.2f} CPU-s "
        f"({plan.summary})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workflows", type=int, default=600)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "bench",
        "GIT_AUTHOR_EMAIL": "bench@example.com",
        "GIT_COMMITTER_NAME": "bench",
        "GIT_COMMITTER_EMAIL": "bench@example.com",
    }
    with tempfile.TemporaryDirectory(prefix="plan-one-changed-") as tmp:
        repo = Path(tmp) / "repo"
        make_repo(repo, args.workflows, env)
        print(f"load before: {loadavg()}")
        cold, warm = [], []
        for _ in range(args.repeat):
            shutil.rmtree(repo / ".git" / "gitops-agent", ignore_errors=True)
            cold.append(timed_plan(repo, env))
            warm.append(timed_plan(repo, env))
        print(f"load after: {loadavg()}")
        for name, runs in (("cold", cold), ("warm", warm)):
            walls = ", ".join(f"{w:.1f}" for w, _ in runs)
            print(
                f"plan {name}: median {statistics.median(w for w, _ in runs):.2f} s wall "
                f"({walls}), median {statistics.median(c for _, c in runs):.2f} CPU-s; "
                f"{args.workflows} workflows"
            )
        print(phases(repo))


if __name__ == "__main__":
    main()
