"""The status page of a real ``reconcile`` process against the local control plane, loaded in
headless Chromium: one node per task with its state, drift healed with who changed it, the
source commit and the audit timeline. Job status is written by the test (no kubelet)."""

from __future__ import annotations

import re
import shutil
import signal
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path

import pytest
from ruamel.yaml import YAML

from gitops_agent.cli import run
from tests.integration.reconcile_helpers import add_environment, delete_namespaces, kubectl
from tests.integration.test_loop import exists, http_get, wait_for
from tests.support.gitrepos import git, make_gitops_repo

pytestmark = pytest.mark.integration
ENV = "statuspage"


class Tasks(HTMLParser):
    """The task nodes of the page's SVG: (workflow, task) → state."""

    def __init__(self) -> None:
        super().__init__()
        self.states: dict[tuple[str, str], str] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "g" and found.get("class") == "task":
            self.states[(str(found["data-workflow"]), str(found["data-task"]))] = str(found["data-state"])


def task_states(html: str) -> dict[tuple[str, str], str]:
    parser = Tasks()
    parser.feed(html)
    return parser.states


def chromium(*args: str) -> str:
    binary = shutil.which("chromium")
    assert binary, "chromium is missing: run ./scripts/install-deps"
    proc = subprocess.run([binary, "--headless", "--no-sandbox", "--disable-gpu", *args],
                          capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout


def job_name(kubeconfig: Path, namespace: str, task: str) -> str:
    out = kubectl(kubeconfig, "-n", namespace, "get", "jobs", "-l", f"gitops-agent.io/task={task}", "-o", "name")
    names = out.split()
    return names[0].split("/", 1)[1] if names else ""


def simulate(environment: Path, tasks: dict[tuple[str, str], dict[str, str]]) -> None:
    """Environment overrides that set the simulated nodes' variables on tasks (no retries)."""
    yaml = YAML()
    document = yaml.load(environment)
    overrides = document["spec"].setdefault("overrides", {})
    for (workflow, task), env in tasks.items():
        entry = overrides.setdefault(workflow, {}).setdefault("tasks", {}).setdefault(task, {})
        entry.setdefault("env", {}).update(env)
        entry["retries"] = 0
    yaml.dump(document, environment)


@pytest.fixture
def repo(tmp_path: Path, kube_cluster) -> Iterator[tuple[Path, str]]:  # type: ignore[no-untyped-def]
    repo = make_gitops_repo(tmp_path / "repo")
    namespace = f"ml-{ENV}"
    add_environment(repo, "dev", ENV, namespace)
    simulate(repo / "environments" / f"{ENV}.yaml", {
        # on the simulated nodes: one extract fails at once, two tasks keep running
        ("fraud-risk-scoring", "extract-devices"): {"GITOPS_AGENT_SIMULATE": "fail"},
        ("image-recognition", "train"): {"GITOPS_AGENT_SIMULATE_DURATION": "10m"},
        ("customer-service-agent", "build-index"): {"GITOPS_AGENT_SIMULATE_DURATION": "10m"},
    })
    git(repo, "commit", "-q", "-am", "simulated task outcomes")
    assert run(["compile", "--repo", str(repo), "--env", ENV, "--commit"]) == 0
    yield repo, namespace
    delete_namespaces(kube_cluster.kubeconfig, namespace)


@pytest.fixture
def loop(repo: tuple[Path, str], kube_cluster, tmp_path: Path) -> Iterator[int]:  # type: ignore[no-untyped-def]
    script = Path(sys.executable).parent / "gitops-agent"
    log = (tmp_path / "loop.log").open("w+")
    process = subprocess.Popen(
        [str(script), "reconcile", ENV, "--repo", str(repo[0]), "--kubeconfig", str(kube_cluster.kubeconfig),
         "--interval", "2s", "--metrics-port", "0"],
        stdout=subprocess.DEVNULL, stderr=log, text=True,
    )
    port = 0

    def port_known() -> bool:
        nonlocal port
        log.seek(0)
        found = re.search(r"status page: http://localhost:(\d+)/", log.read())
        port = int(found.group(1)) if found else 0
        return bool(port)

    try:
        wait_for(port_known, 30, "the status server")
        yield port
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=15) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        log.seek(0)
        print(log.read())


def test_status_page_in_a_browser(loop: int, repo: tuple[Path, str], kube_cluster, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    kubeconfig, (gitops, namespace) = kube_cluster.kubeconfig, repo
    page = f"http://127.0.0.1:{loop}/environments/{ENV}"
    wait_for(lambda: bool(job_name(kubeconfig, namespace, "extract-devices")), 60, "the first sync")

    # the simulated nodes run the tasks: two extracts succeed, one fails; prepare-data succeeds
    # drift by another field manager, healed by the loop
    wait_for(lambda: exists(kubeconfig, namespace, "configmap", "image-recognition-config"), 30, "the config")
    kubectl(kubeconfig, "-n", namespace, "patch", "configmap", "image-recognition-config",
            "--field-manager=kubectl-edit", "--type=merge", "-p", '{"data":{"thresholds.yaml":"min_accuracy: 0.1"}}')

    expected = {
        ("fraud-risk-scoring", "extract-transactions"): "succeeded",
        ("fraud-risk-scoring", "extract-accounts"): "succeeded",
        ("fraud-risk-scoring", "extract-devices"): "failed",
        ("fraud-risk-scoring", "score"): "blocked",
        ("fraud-risk-scoring", "report"): "blocked",
        ("image-recognition", "prepare-data"): "succeeded",
        ("image-recognition", "train"): "running",
        ("image-recognition", "evaluate"): "waiting",
        ("customer-service-agent", "build-index"): "running",
    }

    def settled() -> bool:
        status, html = http_get(page)
        return status == 200 and task_states(html) == expected and "kubectl-edit" in html

    wait_for(settled, 60, "the page to show every task's state and the healed drift")

    dom = chromium("--dump-dom", page)
    assert task_states(dom) == expected
    assert "<script" not in dom
    source = git(gitops, "rev-parse", "HEAD").strip()
    revision = git(gitops, "rev-parse", f"env/{ENV}").strip()
    assert revision in dom and source in dom  # the environment commit and the spec commit behind it
    assert re.search(r"healed.*kubectl-edit \(Update", dom, re.DOTALL)
    assert "data[&quot;thresholds.yaml&quot;]" in dom or 'data["thresholds.yaml"]' in dom
    assert ">sync<" in dom and ">compile<" in dom  # the audit timeline

    index = chromium("--dump-dom", f"http://127.0.0.1:{loop}/")
    assert f'href="/environments/{ENV}"' in index and revision[:12] in index

    shot = tmp_path / "status-page.png"
    chromium(f"--screenshot={shot}", "--window-size=1280,1600", "--hide-scrollbars", page)
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 20_000
    print(f"status page screenshot: {shot}")

    request = urllib.request.Request(page, method="POST", data=b"")
    try:
        urllib.request.urlopen(request, timeout=5)
        raise AssertionError("a POST was accepted")
    except urllib.error.HTTPError as error:
        assert error.code == 405
