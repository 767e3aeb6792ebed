"""The status page: task states from change sets, the DAG layout, escaping, masked Secrets,
what the loop keeps between rounds, and the read-only server."""

from __future__ import annotations

import urllib.error
import urllib.request
import xml.etree.ElementTree as ET
from datetime import UTC, datetime
from typing import Any

import pytest

from gitops_agent.reconcile.changeset import Action, Change, ChangeSet
from gitops_agent.reconcile.diff import DiffResult
from gitops_agent.reconcile.fieldset import ManagerEntry
from gitops_agent.reconcile.health import HealthStatus
from gitops_agent.reconcile.loop import StatusServer
from gitops_agent.reconcile.metrics import Metrics
from gitops_agent.reconcile.status_page import (
    NODE_H,
    NODE_W,
    Observed,
    TaskNode,
    TaskState,
    TimelineRow,
    layers,
    layout,
    observe,
    observe_failure,
    render_environment,
    render_index,
    snapshot,
    task_graph_svg,
    task_nodes,
)
from gitops_agent.vocabulary.objects import ObjectRef
from tests.unit.test_reconcile_loop import round_, setup

SVG = "{http://www.w3.org/2000/svg}"


def job(task: str, needs: tuple[str, ...] = (), workflow: str = "scoring") -> dict[str, Any]:
    metadata: dict[str, Any] = {
        "name": f"{workflow}-{task}-abc123",
        "namespace": "ml",
        "labels": {"gitops-agent.io/task": task, "app.kubernetes.io/part-of": workflow},
    }
    if needs:
        metadata["annotations"] = {"gitops-agent.io/depends-on": ",".join(needs)}
    return {"apiVersion": "batch/v1", "kind": "Job", "metadata": metadata, "spec": {}}


def change(obj: dict[str, Any], action: Action, health: HealthStatus | None = None, message: str = "") -> Change:
    ref = ObjectRef("batch", "v1", "Job", "ml", obj["metadata"]["name"])
    return Change(ref, action, 0, message=message, health=health)


def change_set(*changes: Change) -> ChangeSet:
    return ChangeSet("dev", "r1", tuple(changes))


# fan-out from extract, fan-in at score: the fraud-scoring shape
FAN = [job("extract"), job("accounts", ("extract",)), job("devices", ("extract",)),
       job("transactions", ("extract",)), job("score", ("accounts", "devices", "transactions")),
       job("report", ("score",))]


def states(nodes: tuple[TaskNode, ...]) -> dict[str, TaskState]:
    return {n.task: n.state for n in nodes}


def test_each_state_comes_from_the_jobs_change_entry() -> None:
    objects = [job("a"), job("b"), job("c"), job("d"), job("e"), job("f"), job("g")]
    found = change_set(
        change(objects[0], Action.UNCHANGED, HealthStatus.HEALTHY),
        change(objects[1], Action.CREATE, HealthStatus.PROGRESSING),  # created by this sync
        change(objects[2], Action.UNCHANGED, HealthStatus.DEGRADED, "job failed: BackoffLimitExceeded"),
        change(objects[3], Action.WAITING, message="waiting for 'a'"),
        change(objects[4], Action.BLOCKED, message="dependency 'c' failed"),
        change(objects[5], Action.COMPLETED, message="succeeded at 2026-11-30T10:00:00Z"),
        change(objects[6], Action.ERROR, message="HTTP 403: forbidden"),
    )
    nodes = task_nodes(objects, found)
    assert states(nodes) == {"a": "succeeded", "b": "running", "c": "failed", "d": "waiting", "e": "blocked",
                             "f": "completed", "g": "failed"}
    assert {n.task: n.message for n in nodes}["g"] == "HTTP 403: forbidden"


def test_tasks_not_created_wait_or_are_blocked_transitively_behind_a_failure() -> None:
    found = change_set(
        change(FAN[0], Action.UNCHANGED, HealthStatus.HEALTHY),
        change(FAN[1], Action.UNCHANGED, HealthStatus.DEGRADED),
        change(FAN[2], Action.UNCHANGED, HealthStatus.PROGRESSING),
        change(FAN[3], Action.CREATE, HealthStatus.MISSING),
        change(FAN[4], Action.CREATE, HealthStatus.MISSING),
    )
    nodes = task_nodes(FAN, found)
    assert states(nodes) == {"extract": "succeeded", "accounts": "failed", "devices": "running",
                             "transactions": "waiting", "score": "blocked", "report": "blocked"}
    assert {n.task: n.message for n in nodes}["report"] == "dependency 'score' blocked"
    # before the first round nothing is known: every task waits
    assert set(states(task_nodes(FAN, None)).values()) == {TaskState.WAITING}
    # a dependency without a Job in the desired state blocks (as the sync's gate does)
    orphan = task_nodes([job("lonely", ("ghost",))], None)
    assert orphan[0].state is TaskState.BLOCKED and "ghost" in orphan[0].message


def test_layout_of_a_dag_with_fan_out_and_fan_in() -> None:
    nodes = task_nodes(FAN, None)
    column = layers(nodes)
    assert {k[1]: v for k, v in column.items()} == {"extract": 0, "accounts": 1, "devices": 1, "transactions": 1,
                                                   "score": 2, "report": 3}
    drawn = layout(nodes)
    pos = {k[1]: v for k, v in drawn.positions.items()}
    for node in nodes:  # every edge runs left to right
        for need in node.needs:
            assert pos[need][0] + NODE_W < pos[node.task][0]
    boxes = list(pos.values())
    for i, (x1, y1) in enumerate(boxes):  # no two nodes overlap
        for x2, y2 in boxes[i + 1:]:
            assert abs(x1 - x2) >= NODE_W or abs(y1 - y2) >= NODE_H
    fan = sorted(pos[t][1] for t in ("accounts", "devices", "transactions"))
    assert fan[0] < pos["score"][1] < fan[-1]  # the fan-in node sits between its parents
    assert pos["extract"][1] == pos["score"][1] == pos["report"][1]  # single nodes centred on the column
    for x, y in boxes:
        assert x >= 0 and x + NODE_W <= drawn.width and y >= 0 and y + NODE_H <= drawn.height


def test_workflows_are_separate_groups_and_cycles_do_not_hang() -> None:
    nodes = task_nodes([*FAN, job("prepare", workflow="imgrec"), job("train", ("prepare",), "imgrec"),
                        job("x", ("y",), "loop"), job("y", ("x",), "loop")], None)
    drawn = layout(nodes)
    assert [g.workflow for g in drawn.groups] == ["imgrec", "loop", "scoring"]
    tops = [g.y for g in drawn.groups]
    assert tops == sorted(tops) and len(set(tops)) == 3
    for group in drawn.groups:
        inside = [p for k, p in drawn.positions.items() if k[0] == group.workflow]
        assert all(group.y < y and y + NODE_H < group.y + group.height for _, y in inside)


def test_the_graph_has_a_node_per_task_with_its_state_and_an_edge_per_dependency() -> None:
    found = change_set(change(FAN[0], Action.UNCHANGED, HealthStatus.HEALTHY))
    svg = task_graph_svg(task_nodes(FAN, found))
    root = ET.fromstring(svg)
    tasks = root.findall(f".//{SVG}g[@class='task']")
    assert {(g.get("data-task"), g.get("data-state")) for g in tasks} == {
        ("extract", "succeeded"), ("accounts", "waiting"), ("devices", "waiting"), ("transactions", "waiting"),
        ("score", "waiting"), ("report", "waiting")}
    for g in tasks:  # the state is written on the node, not only its colour
        assert [t.text for t in g.findall(f"{SVG}text")][1] == g.get("data-state")
    assert len(root.findall(f".//{SVG}path[@class='edge']")) == 3 + 3 + 1


def test_everything_from_git_or_the_cluster_is_escaped() -> None:
    evil = '<script>alert("x")</script>'
    objects = [job(evil, workflow=evil + "&")]
    ref = ObjectRef("", "v1", "ConfigMap", "ml", evil)
    drifted = Change(ref, Action.UPDATE, 0, message=evil, health=HealthStatus.HEALTHY,
                     changed_by=(ManagerEntry(evil, "Update", "", "2026-11-30T10:00:00Z", frozenset()),))
    found = ChangeSet("dev", evil, (change(objects[0], Action.ERROR, message=evil), drifted))
    observed = observe(None, evil, tuple(objects), found, None, drift_fix=False, at=0.0)
    timeline = (TimelineRow(datetime(2026, 11, 30, tzinfo=UTC), "sync", evil, evil, evil),)
    page = snapshot(evil, evil, evil, observed, source_commit=evil, timeline=timeline, timeline_error=evil)
    html = render_environment(page) + render_index([page])
    assert "<script" not in html and "alert(\"x\")" not in html
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in html
    svg = task_graph_svg(page.tasks)
    ET.fromstring(svg)  # still well-formed XML with the name inside attributes and text


def test_drift_shows_who_changed_what_with_secret_values_masked() -> None:
    secret_ref = ObjectRef("", "v1", "Secret", "ml", "api-keys")
    live = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "api-keys"}, "data": {"token": "aHVudGVyMg=="}}
    wanted = {**live, "data": {"token": "c2VjcmV0LXRva2Vu"}}
    author = ManagerEntry("kubectl-edit", "Update", "", "2026-11-30T10:00:00Z", frozenset())
    healed = Change(secret_ref, Action.UPDATE, 0, sides=DiffResult(secret_ref, live, wanted), changed_by=(author,))
    first = observe(None, "r1", (), change_set(), None, drift_fix=False, at=1.0)
    fixed = observe(first, "r1", (), change_set(healed), change_set(healed), drift_fix=True, at=2.0)
    later = observe(fixed, "r1", (), change_set(), None, drift_fix=False, at=3.0)  # a quiet round after it
    page = snapshot("dev", "ml", "env/dev", later)
    assert [(d.object, d.healed) for d in page.drift] == [("Secret/ml/api-keys", True)]
    assert page.drift[0].changed_by.startswith("kubectl-edit (Update")
    assert page.drift[0].fields == ("data.token: *** (before) → *** (after)",)
    html = render_environment(page)
    assert "aHVudGVyMg" not in html and "c2VjcmV0LXRva2Vu" not in html
    assert page.last_sync is not None and page.last_sync.drift_fix and page.last_sync.result == "success"


def test_failed_rounds_keep_what_was_known() -> None:
    first = observe(None, "r1", (job("a"),), change_set(), None, drift_fix=False, at=1.0)
    failed = observe_failure(first, "r1", (job("a"),), "cluster unreachable", at=2.0)
    assert failed.error == "cluster unreachable" and failed.changes is first.changes
    assert observe_failure(None, "", (), "git fetch failed", at=1.0) == Observed(1.0, error="git fetch failed")
    page = render_environment(snapshot("dev", "ml", "env/dev", failed))
    assert "Last round failed: cluster unreachable" in page
    assert '<meta http-equiv="refresh" content="10">' in page


def test_the_loop_keeps_each_environments_last_round_for_the_page() -> None:
    reconciler, cluster, _, env = setup()
    assert reconciler.observed("dev") is None
    round_(reconciler, env)
    first = reconciler.observed("dev")
    assert first is not None and first.revision == "r1" and first.synced
    assert first.last_sync is not None and not first.last_sync.drift_fix
    cluster.objects.clear()  # drift
    round_(reconciler, env)
    healed = reconciler.observed("dev")
    assert healed is not None and healed.last_drift_fix is not None
    assert [str(c.ref) for c in healed.last_drift_fix.result.changes] == ["ConfigMap/ml/settings"]
    cluster.down = True
    assert not round_(reconciler, env)
    down = reconciler.observed("dev")
    assert down is not None and "unreachable" in down.error and down.last_drift_fix == healed.last_drift_fix


def request(url: str, method: str = "GET") -> tuple[int, dict[str, str], str]:
    try:
        with urllib.request.urlopen(urllib.request.Request(url, method=method), timeout=5) as response:
            return response.status, dict(response.headers), response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), ""


@pytest.fixture
def server() -> Any:
    pages = {"/": (200, "<p>index</p>"), "/environments/dev": (200, "<p>dev</p>")}

    def page(path: str) -> tuple[int, str] | None:
        if path == "/environments/broken":
            raise RuntimeError("git exploded")
        return pages.get(path)

    running = StatusServer(Metrics(), lambda: True, 0, host="127.0.0.1", pages=page)
    running.start()
    yield f"http://127.0.0.1:{running.port}"
    running.stop()


def test_the_server_is_read_only(server: str) -> None:
    status, headers, body = request(server + "/environments/dev?x=1")
    assert status == 200 and body == "<p>dev</p>"
    assert headers["Content-Type"] == "text/html; charset=utf-8"
    assert "default-src 'none'" in headers["Content-Security-Policy"]
    for method in ("POST", "PUT", "PATCH", "DELETE", "OPTIONS", "PROPFIND"):
        status, headers, _ = request(server + "/environments/dev", method)
        assert (status, headers.get("Allow")) == (405, "GET, HEAD"), method
    status, headers, body = request(server + "/", "HEAD")
    assert status == 200 and body == "" and headers["Content-Length"] == str(len("<p>index</p>"))
    assert request(server + "/environments/nope")[0] == 404
    status, headers, body = request(server + "/metrics")
    assert status == 200 and "# TYPE gitops_agent_syncs_total counter" in body
    assert request(server + "/healthz")[0] == 200
    # a page that fails is a 500 for that request; the server goes on
    assert request(server + "/environments/broken")[0] == 500
    assert request(server + "/environments/dev")[0] == 200


def test_index_lists_every_environment_with_a_link() -> None:
    found = change_set(change(FAN[0], Action.UNCHANGED, HealthStatus.HEALTHY))
    dev = snapshot("dev", "ml-dev", "env/dev", observe(None, "a" * 40, tuple(FAN), found, found,
                                                       drift_fix=False, at=0.0))
    prod = snapshot("prod west", "ml-prod", "env/prod", None)
    html = render_index([dev, prod])
    assert '<a href="/environments/dev">dev</a>' in html
    assert '<a href="/environments/prod%20west">prod west</a>' in html
    assert "aaaaaaaaaaaa" in html and dev.counts == {"succeeded": 1, "waiting": 5}


def test_a_sync_that_changed_nothing_does_not_hide_the_last_drift_fix() -> None:
    """The loop syncs again each round while tasks wait; the page still shows the last real fix."""
    ref = ObjectRef("", "v1", "ConfigMap", "ml", "settings")
    healed = Change(ref, Action.UPDATE, 0, health=HealthStatus.HEALTHY)
    fixed = observe(None, "r1", (), change_set(healed), change_set(healed), drift_fix=True, at=1.0)
    # nothing changed; or only scheduled work: a task's Job created once its dependencies succeeded
    for resync in (change_set(change(FAN[4], Action.WAITING, message="waiting for 'accounts'")),
                   change_set(change(FAN[4], Action.CREATE, HealthStatus.PROGRESSING),
                              change(FAN[5], Action.WAITING, message="waiting for 'score'"))):
        later = observe(fixed, "r1", tuple(FAN), resync, resync, drift_fix=True, at=2.0)
        assert later.last_drift_fix is fixed.last_drift_fix
        assert later.last_sync is not None and later.last_sync.at == 2.0 and not later.last_sync.drift_fix
        assert [d.object for d in snapshot("dev", "ml", "env/dev", later).drift] == ["ConfigMap/ml/settings"]


def test_with_self_heal_off_drift_found_is_listed_but_not_tasks_yet_to_run() -> None:
    edited = Change(ObjectRef("", "v1", "ConfigMap", "ml", "settings"), Action.UPDATE, 0,
                    health=HealthStatus.HEALTHY)
    found = change_set(edited, change(FAN[4], Action.CREATE, HealthStatus.MISSING))
    page = snapshot("dev", "ml", "env/dev", observe(None, "r1", tuple(FAN), found, None, drift_fix=False, at=0.0))
    assert [(d.object, d.healed) for d in page.drift] == [("ConfigMap/ml/settings", False)]
    assert "drifted" in render_environment(page)


def test_objects_that_need_attention_come_first() -> None:
    ok = Change(ObjectRef("", "v1", "ConfigMap", "ml", "a"), Action.UNCHANGED, 0, health=HealthStatus.HEALTHY)
    bad = Change(ObjectRef("apps", "v1", "Deployment", "ml", "b"), Action.UNCHANGED, 0,
                 health=HealthStatus.DEGRADED)
    rows = snapshot("dev", "ml", "env/dev", observe(None, "r1", (), change_set(ok, bad), None,
                                                    drift_fix=False, at=0.0)).objects
    assert [r.name for r in rows] == ["b", "a"]
