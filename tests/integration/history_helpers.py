"""A small GitOps repository with a bare ``origin``, driven through the real command line.

Used by the rollback and audit tests: one service whose image pin and replica count change
from commit to commit, in an environment named after the test's namespace (so tests never
see each other's objects). The environment heals drift and takes fields back from other
field managers (``selfHeal``, ``force``), as a self-healing production environment would.
"""

from __future__ import annotations

import json
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gitops_agent.adapters.kustomize import kubectl_path
from gitops_agent.cli import run
from tests.support.gitrepos import git

WORKFLOW = """\
apiVersion: gitops-agent.io/v1alpha1
kind: Workflow
metadata:
  name: echo
spec:
  defaults:
    image: registry.example.com/echo:1.0
    resources: {cpu: 50m, memory: 64Mi}
  services:
    echo:
      command: [echo-server]
      ports: {http: 8080}
      replicas: 1
"""


def environment_yaml(name: str, *, tag: str, replicas: int) -> str:
    return (
        "apiVersion: gitops-agent.io/v1alpha1\nkind: Environment\n"
        f"metadata: {{name: {name}}}\nspec:\n  namespace: {name}\n  branch: env/{name}\n"
        f"  images:\n    registry.example.com/echo: '{tag}'\n"
        f"  overrides:\n    echo:\n      services:\n        echo: {{replicas: {replicas}}}\n"
        "  sync: {prune: true, selfHeal: true, force: true, interval: 30s}\n"
    )


def tick() -> None:
    """Wait into the next second: git records commit times in whole seconds."""
    time.sleep(1.05 - (time.time() % 1.0) + 0.01)


@dataclass(frozen=True)
class History:
    repo: Path
    bare: Path
    env: str
    kubeconfig: Path

    def cli(self, *args: str) -> int:
        return run([*args, "--repo", str(self.repo)])

    def change_spec(self, *, tag: str, replicas: int, message: str) -> str:
        """Commit a new image pin and replica count; return the spec commit."""
        path = self.repo / "environments" / f"{self.env}.yaml"
        path.write_text(environment_yaml(self.env, tag=tag, replicas=replicas))
        git(self.repo, "add", "-A")
        git(self.repo, "commit", "-q", "-m", message)
        git(self.repo, "push", "-q", "origin", "HEAD:main")
        return git(self.repo, "rev-parse", "HEAD")

    def compile(self) -> str:
        """``compile --commit --push``; return the environment branch head."""
        assert self.cli("compile", "--commit", "--push") == 0
        return self.branch_head()

    def sync(self) -> None:
        assert self.cli("sync", self.env, "--kubeconfig", str(self.kubeconfig)) == 0

    def branch_head(self, where: Path | None = None) -> str:
        return git(where or self.repo, "rev-parse", f"refs/heads/env/{self.env}")

    def branch_history(self, where: Path | None = None) -> list[str]:
        return git(where or self.repo, "rev-list", f"refs/heads/env/{self.env}").split()

    def kubectl(self, *args: str) -> str:
        proc = subprocess.run(
            [kubectl_path(), f"--kubeconfig={self.kubeconfig}", "-n", self.env, *args],
            capture_output=True,
            text=True,
            check=False,
            timeout=60,
        )
        assert proc.returncode == 0, proc.stderr
        return proc.stdout

    def deployment(self) -> dict[str, Any]:
        found: dict[str, Any] = json.loads(self.kubectl("get", "deployment", "echo", "-o", "json"))
        return found

    def live_image_and_replicas(self) -> tuple[str, int]:
        spec = self.deployment()["spec"]
        return spec["template"]["spec"]["containers"][0]["image"], int(spec["replicas"])


def make_history(tmp_path: Path, env: str, kubeconfig: Path) -> History:
    """A repository (pushed to a bare origin) with the echo workflow and one environment."""
    bare = tmp_path / "origin.git"
    git(tmp_path, "init", "-q", "--bare", "-b", "main", str(bare))
    repo = tmp_path / "gitops"
    git(tmp_path, "init", "-q", "-b", "main", str(repo))
    git(repo, "config", "user.name", "Spec Author")
    git(repo, "config", "user.email", "author@example.com")
    git(repo, "remote", "add", "origin", str(bare))
    (repo / "workflows").mkdir()
    (repo / "environments").mkdir()
    (repo / "workflows" / "echo.yaml").write_text(WORKFLOW)
    history = History(repo, bare, env, kubeconfig)
    history.change_spec(tag="1.1", replicas=1, message="Add echo service")
    return history
