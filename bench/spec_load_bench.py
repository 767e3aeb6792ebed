"""Benchmark: loading the specs of N workflows, in process, CPU seconds.

Generates N workflows of the shape ``bench/e2e_bench.py`` uses and one environment, and a
second tree that differs in one workflow (a pull request, or the commit after it). Times
(``time.process_time``, median of ``--repeat``):

- ``before``: the loader as it was, ruamel.yaml's pure-Python parser for every file and
  nothing remembered per file (:func:`load_yaml_reference` in place of :func:`load_yaml`,
  every file checked);
- ``cold``: ``load_specs`` of the first tree, the process's memo empty;
- ``second tree``: ``load_specs`` of the other tree right after (what ``plan`` does with
  base and head in one process);
- ``diff after a one-workflow commit``: ``load_specs_cached`` as a new process runs it
  (memo empty) after the commit: the whole-set entry misses, every unchanged file's own
  results come from the on-disk cache; and the same with an empty disk cache (``before``:
  the whole-set key missed and every file was parsed and checked);
- ``no change``: ``load_specs_cached`` on the same tree again (the whole-set entry).

    python bench/spec_load_bench.py [--workflows 600] [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import gitops_agent.spec.loader as loader  # noqa: E402
from bench.e2e_bench import ENVIRONMENT, WORKFLOW, loadavg  # noqa: E402
from gitops_agent.spec.cache import load_specs_cached  # noqa: E402
from gitops_agent.spec.yaml_positions import load_yaml_reference  # noqa: E402


def make_tree(root: Path, workflows: int, changed: int | None = None) -> None:
    """``workflows`` workflows and one environment; workflow ``changed`` with another threshold."""
    (root / "workflows").mkdir(parents=True)
    (root / "environments").mkdir()
    for i in range(workflows):
        text = WORKFLOW.format(i=i)
        if i == changed:
            text = text.replace("threshold: 0.9", "threshold: 0.8")
        (root / "workflows" / f"wf-{i:04d}.yaml").write_text(text)
    (root / "environments" / "agent.yaml").write_text(ENVIRONMENT.format(name="agent"))


def cpu(action: Callable[[], Any], prepare: Callable[[], Any] = lambda: None) -> float:
    prepare()
    started = time.process_time()
    action()
    return time.process_time() - started


@contextmanager
def old_loader() -> Iterator[None]:
    """The loader before: the reference parser for every file, nothing remembered per file
    (in memory or on disk)."""
    real_load, real_checked = loader.load_yaml, loader.checked_file
    loader.load_yaml = load_yaml_reference
    loader.checked_file = lambda display, raw, store=None: loader.check_file(display, raw)
    try:
        yield
    finally:
        loader.load_yaml, loader.checked_file = real_load, real_checked


def measure(args: argparse.Namespace, tmp: Path) -> list[tuple[str, list[float]]]:
    base, head = tmp / "base", tmp / "head"
    make_tree(base, args.workflows)
    make_tree(head, args.workflows, changed=args.workflows // 2)
    cache = tmp / "cache"
    os.environ["GITOPS_AGENT_CACHE"] = str(cache)
    rows: dict[str, list[float]] = {}

    def add(name: str, seconds: float) -> None:
        rows.setdefault(name, []).append(seconds)

    for _ in range(args.repeat):
        with old_loader():
            add("before: load_specs, one tree", cpu(lambda: loader.load_specs(base)))
            add("before: load_specs, second tree (plan's head)", cpu(lambda: loader.load_specs(head)))
            shutil.rmtree(cache, ignore_errors=True)
            load_specs_cached(base)
            add("before: load_specs_cached after a one-workflow commit", cpu(lambda: load_specs_cached(head)))
        add("after: load_specs, one tree, cold", cpu(lambda: loader.load_specs(base), loader.clear_memo))
        add("after: load_specs, second tree in the same process (plan's head)", cpu(lambda: loader.load_specs(head)))
        shutil.rmtree(cache, ignore_errors=True)
        add("after: load_specs_cached, empty disk cache", cpu(lambda: load_specs_cached(base), loader.clear_memo))
        add(
            "after: load_specs_cached, no change (whole-set entry)",
            cpu(lambda: load_specs_cached(base), loader.clear_memo),
        )
        add(
            "after: load_specs_cached after a one-workflow commit, new process (per-file entries)",
            cpu(lambda: load_specs_cached(head), loader.clear_memo),
        )
    return list(rows.items())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workflows", type=int, default=600)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    print(f"load before: {loadavg()}")
    with tempfile.TemporaryDirectory(prefix="spec-load-") as tmp:
        rows = measure(args, Path(tmp))
    print(f"load after: {loadavg()}")
    for name, runs in rows:
        each = ", ".join(f"{r:.2f}" for r in runs)
        print(f"{name}: median {statistics.median(runs):.3f} CPU-s ({each}); {args.workflows} workflows")


if __name__ == "__main__":
    main()
