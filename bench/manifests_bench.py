"""Cost of manifests under an environment's ``resources:``: `validate` and `compile`.

    python bench/manifests_bench.py [--realworld ../shared/realworld] [--mib 16]

Two inputs, each the dev environment's extra resource in a GitOps repository of the
examples: the published Argo CD install (1.9 MB, a 1.4 MB CRD; from the test data next to
the repository), and a synthetic file just under the manifest bound (``--mib``, default
16 MiB) made of Deployments and ConfigMaps like real install files. For each: parse only
(:func:`load_yaml` with ``MANIFEST_LIMITS``), `gitops-agent validate`, and
`gitops-agent compile --out` (in process; wall time and peak RSS growth of the process).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import re
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from gitops_agent.cli import run  # noqa: E402
from gitops_agent.spec.yaml_positions import MANIFEST_LIMITS, load_yaml  # noqa: E402
from tests.support.gitrepos import git, make_gitops_repo  # noqa: E402

DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: app-{i}
  labels: {{app.kubernetes.io/name: app-{i}, app.kubernetes.io/part-of: bench}}
spec:
  replicas: 2
  selector: {{matchLabels: {{app.kubernetes.io/name: app-{i}}}}}
  template:
    metadata:
      labels: {{app.kubernetes.io/name: app-{i}}}
    spec:
      containers:
      - name: app
        image: registry.example.com/app:{i}
        args: [--port=8080, --log-level=info]
        ports: [{{containerPort: 8080, name: http}}]
        env:
        - {{name: MODE, value: production}}
        - {{name: REPLICA, valueFrom: {{fieldRef: {{fieldPath: metadata.name}}}}}}
        resources: {{requests: {{cpu: 100m, memory: 128Mi}}, limits: {{memory: 256Mi}}}}
        readinessProbe: {{httpGet: {{path: /healthz, port: http}}, periodSeconds: 10}}
---
apiVersion: v1
kind: ConfigMap
metadata: {{name: app-{i}-config}}
data:
  settings.yaml: |
    feature_flags: [a, b, c]
    description: {text}
---
"""


def synthetic(size: int) -> bytes:
    """Documents until just under ``size`` bytes."""
    chunks: list[bytes] = []
    total = 0
    i = 0
    while True:
        chunk = DEPLOYMENT.format(i=i, text="x" * 200).encode()
        if total + len(chunk) > size:
            return b"".join(chunks)
        chunks.append(chunk)
        total += len(chunk)
        i += 1


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def timed(label: str, action: object) -> None:
    before = peak_rss_mib()
    started = time.perf_counter()
    result = action() if callable(action) else None
    elapsed = time.perf_counter() - started
    print(f"  {label:<34} {elapsed:7.2f} s   peak RSS +{peak_rss_mib() - before:6.0f} MiB   {result}")


def quiet(argv: list[str]) -> int:
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()) as err:
        code = run(argv)
    if code != 0:
        raise SystemExit(f"{argv}: exit {code}: {err.getvalue()}")
    return code


def bench(name: str, data: bytes, workdir: Path) -> None:
    repo = make_gitops_repo(workdir / name)
    (repo / "vendor").mkdir()
    (repo / "vendor" / "set.yaml").write_bytes(data)
    env = repo / "environments" / "dev.yaml"
    env.write_text(re.sub(r"resources: \[.*\]", "resources: [manifests/common, vendor/set.yaml]", env.read_text()))
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", name)
    documents = data.count(b"\n---")
    print(f"{name}: {len(data) / 2**20:.2f} MiB, ~{documents} documents")

    def parse() -> str:
        docs, problems = load_yaml(data, "set.yaml", MANIFEST_LIMITS)
        assert not problems, problems
        return f"{len(docs)} documents"

    timed("parse (load_yaml, manifest limits)", parse)
    timed("gitops-agent validate", lambda: quiet(["validate", "--repo", str(repo)]))
    out = workdir / f"{name}-out"
    compile_argv = ["compile", "--repo", str(repo), "--env", "dev", "--out", str(out)]
    timed("gitops-agent compile --out --env dev", lambda: quiet(compile_argv))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--realworld", type=Path, default=ROOT.parent / "shared" / "realworld")
    parser.add_argument("--mib", type=float, default=16)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="manifests-bench-") as tmp:
        workdir = Path(tmp)
        install = args.realworld / "argo-cd-install" / "manifests" / "install.yaml"
        bench("argo-cd-install", install.read_bytes(), workdir)
        size = min(int(args.mib * 2**20), MANIFEST_LIMITS.max_bytes)
        bench("synthetic", synthetic(size), workdir)
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
