"""Benchmark: ``gitops-agent render ENV`` of ~200 workflows, cold and from the render cache,
and the time to read kustomize's output (YAML 1.2 pure-Python reader vs libyaml with
go-yaml v3 resolution).

Writes a GitOps repository with ``--workflows`` copies of the example workflows, compiles
and commits its environment branch, then times the real command (a fresh process each run)
with an empty cache and with a warm one, and the parse of the same kustomize output.

    python bench/render_bench.py [--workflows 200] [--runs 3]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ruamel.yaml import YAML  # noqa: E402

from gitops_agent.adapters import git as gitops_git  # noqa: E402
from gitops_agent.adapters.kustomize import kubectl_path  # noqa: E402
from gitops_agent.cli import run  # noqa: E402
from gitops_agent.render.overlay import cache_directory  # noqa: E402
from gitops_agent.vocabulary.yaml import dump, load_all  # noqa: E402
from tests.support.gitrepos import git  # noqa: E402

ENV = "bench"


def workflow(index: int) -> dict[str, Any]:
    """One workflow like the examples: a task DAG, two services (one autoscaled with a
    variant), monitoring and config files; names unique per index."""
    name = f"wf{index:03d}"
    return {
        "apiVersion": "gitops-agent.io/v1alpha1",
        "kind": "Workflow",
        "metadata": {"name": name, "labels": {"team": f"team{index % 7}"}},
        "spec": {
            "defaults": {
                "image": f"registry.example.com/{name}:1.{index % 10}.0",
                "env": {"MODEL_DIR": f"s3://ml/{name}", "BUILD": f"{index:04d}"},
                "resources": {"cpu": "250m", "memory": "512Mi"},
            },
            "tasks": {
                "prepare": {"command": ["python", "-m", f"{name}.prepare"], "retries": 2, "timeout": "30m"},
                "train": {"dependsOn": ["prepare"], "command": ["python", "-m", f"{name}.train"]},
                "evaluate": {"dependsOn": ["train"], "command": ["python", "-m", f"{name}.evaluate"]},
            },
            "services": {
                f"api-{index:03d}": {
                    "dependsOn": ["evaluate"],
                    "ports": {"http": 8080},
                    "autoscale": {"min": 2, "max": 10, "cpuUtilization": 70},
                    "variants": {"candidate": {"image": f"registry.example.com/{name}:2.0.0", "weight": 10}},
                    "probes": {"readiness": {"path": "/healthz", "port": "http"}},
                },
                f"worker-{index:03d}": {"replicas": 2, "ports": {"metrics": 9090}},
            },
            "monitoring": {"scrape": {"port": "http"}, "alerts": [{"name": "Down", "expr": "up == 0"}]},
            "config": {"settings.yaml": f"threshold: 0.{index % 9 + 1}\nname: {name}\n", "version": "1.10"},
        },
    }


def write_repo(root: Path, workflows: int) -> None:
    git(root, "init", "-q", "-b", "main")
    (root / "workflows").mkdir()
    (root / "environments").mkdir()
    for index in range(workflows):
        (root / "workflows" / f"wf{index:03d}.yaml").write_bytes(dump(workflow(index)))
    (root / "environments" / f"{ENV}.yaml").write_text(
        "apiVersion: gitops-agent.io/v1alpha1\nkind: Environment\n"
        f"metadata: {{name: {ENV}}}\nspec: {{namespace: ml-{ENV}, branch: env/{ENV}}}\n"
    )
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "bench workflows")


def timed_render(repo: Path) -> float:
    start = time.perf_counter()
    subprocess.run(
        [str(Path(sys.executable).parent / "gitops-agent"), "render", ENV, "--repo", str(repo), "-o", "json"],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return time.perf_counter() - start


def kustomize_output(repo: Path) -> bytes:
    with tempfile.TemporaryDirectory() as tmp:
        gitops_git.export_tree(gitops_git.open_repo(repo), f"env/{ENV}", Path(tmp))
        return subprocess.run(
            [kubectl_path(), "kustomize", str(Path(tmp) / "overlays" / ENV)], check=True, capture_output=True
        ).stdout


def best(seconds: list[float]) -> str:
    return f"median {statistics.median(seconds):.3f}s (min {min(seconds):.3f}s)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--workflows", type=int, default=200)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="render-bench-") as tmp:
        repo = Path(tmp) / "repo"
        repo.mkdir()
        write_repo(repo, args.workflows)
        assert run(["compile", "--repo", str(repo), "--env", ENV, "--commit"]) == 0
        cache = cache_directory(gitops_git.common_dir(gitops_git.open_repo(repo)))
        cold, warm = [], []
        for _ in range(args.runs):
            shutil.rmtree(cache, ignore_errors=True)
            cold.append(timed_render(repo))
            warm.append(timed_render(repo))
        output = kustomize_output(repo)
        pure, fast = [], []
        for _ in range(args.runs):
            start = time.perf_counter()
            old = [doc for doc in YAML(typ="safe", pure=True).load_all(output) if doc is not None]
            pure.append(time.perf_counter() - start)
            start = time.perf_counter()
            new = load_all(output)
            fast.append(time.perf_counter() - start)
        print(f"workflows: {args.workflows}; objects: {len(new)}; kustomize output: {len(output) / 1e6:.2f} MB")
        print(f"render -o json, cold (kustomize + parse + cache write): {best(cold)}")
        print(f"render -o json, warm (render cache hit):                {best(warm)}")
        print(f"parse, ruamel.yaml pure YAML 1.2 (before): {best(pure)}")
        print(f"parse, libyaml + go-yaml v3 resolution (after): {best(fast)}")
        differing = sum(1 for a, b in zip(old, new, strict=True) if a != b)
        print(f"objects whose values the two readers read differently: {differing}")


if __name__ == "__main__":
    main()
