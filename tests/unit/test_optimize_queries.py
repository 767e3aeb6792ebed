"""The query plan stays bounded and per-pod answers fold into workloads."""

from __future__ import annotations

from gitops_agent.optimize.queries import Query, QueryKind, assemble, plan, workload_of


def test_pod_names_map_to_workloads() -> None:
    assert workload_of("classifier-7d9f8b6c5-x2k4q") == "classifier"
    assert workload_of("classifier-candidate-7d9f8b6c5-x2k4q") == "classifier-candidate"
    assert workload_of("imgrec-train-1a2b3c4d-abcde") == "imgrec-train"
    assert workload_of("imgrec-retrain-nightly-29410560-zzzzz") == "imgrec-retrain-nightly"
    assert workload_of("lonely") is None


def test_plan_size_does_not_depend_on_containers() -> None:
    names = [f"svc{i}" for i in range(500)]
    full = plan("ml-prod", "7d", {95.0}, containers=names, hpa_workloads=names[:50], ab_workloads=["svc1", "svc1-b"])
    assert len(full.queries) == 7  # cpu, memory, samples, oom, load, request load, traffic
    assert all('namespace="ml-prod"' in q.promql for q in full.queries)
    load = next(q.promql for q in full.queries if q.kind is QueryKind.LOAD)
    assert 'pod=~"(svc0|svc1|svc10|' in load and "svc499" not in load
    assert len(plan("ml-prod", "7d", {90.0, 95.0}, containers=["a"]).queries) == 5
    assert plan("ml-prod", "7d", {95.0}, containers=[]).queries == ()


def test_assemble_folds_pods() -> None:
    p = plan("ns", "7d", {95.0}, containers=["api"], hpa_workloads=["api"], ab_workloads=["api"])
    by_kind = {q.kind: q for q in p.queries}

    def row(pod: str, value: float, **extra: str) -> tuple[dict[str, str], float]:
        return {"namespace": "ns", "pod": pod, "container": "api", **extra}, value

    results: dict[Query, list[tuple[dict[str, str], float]]] = {
        by_kind[QueryKind.CPU]: [row("api-abc12-aaaaa", 0.2), row("api-abc12-bbbbb", 0.3)],
        by_kind[QueryKind.MEMORY]: [
            row("api-abc12-aaaaa", 100.0),
            row("api-v2-abc12-ccccc", 300.0),
        ],
        by_kind[QueryKind.SAMPLES]: [row("api-abc12-aaaaa", 60), row("api-abc12-bbbbb", 70)],
        by_kind[QueryKind.OOM]: [row("api-abc12-bbbbb", 1)],
        by_kind[QueryKind.LOAD]: [
            ({"workload": "api", "container": "api", "stat": "peak"}, 2.0),
            ({"workload": "api", "container": "api", "stat": "trough"}, 0.5),
            ({"workload": "api", "container": "api", "stat": "mean"}, 1.0),
        ],
        by_kind[QueryKind.REQUEST_LOAD]: [
            ({"workload": "api", "stat": "peak"}, 40.0),
            ({"workload": "api", "stat": "trough"}, 10.0),
            ({"workload": "api", "stat": "mean"}, 15.0),
            ({"workload": "api-b", "stat": "trough"}, 1.0),  # no peak: not a usable history
        ],
        by_kind[QueryKind.TRAFFIC]: [
            ({"workload": "api", "code": "200"}, 900.0),
            ({"workload": "api", "code": "503"}, 100.0),
        ],
    }
    fetched = assemble(p, results)
    main = fetched.usage(("api",), "api", 95.0)
    assert main is not None
    assert (main.cpu_cores, main.memory_peak, main.points, main.pods, main.oom_killed) == (
        0.3,
        100.0,
        130,
        2,
        True,
    )
    both = fetched.usage(("api", "api-v2"), "api", 95.0)
    assert both is not None and both.memory_peak == 300.0
    assert fetched.usage(("other",), "api", 95.0) is None
    assert fetched.load[("api", "api")] == (2.0, 0.5, 1.0)
    assert fetched.request_load == {"api": (40.0, 10.0, 15.0)}
    assert fetched.traffic["api"].error_rate == 0.1


def test_latency_buckets_fold_per_workload() -> None:
    p = plan("ns", "7d", {95.0}, containers=[], latency_workloads=["api", "api-b"])
    [query] = p.queries
    assert query.kind is QueryKind.LATENCY and "by (namespace, workload, le)" in query.promql
    rows = [
        ({"workload": "api", "le": "0.5"}, 90.0),
        ({"workload": "api", "le": "+Inf"}, 100.0),
        ({"workload": "api", "le": "0.1"}, 40.0),
        ({"workload": "api", "le": "bogus"}, 1.0),
    ]
    history = assemble(p, {query: rows}).latency["api"]
    assert history.buckets == ((0.1, 40.0), (0.5, 90.0), (float("inf"), 100.0))
    assert history.total == 100.0 and history.slower_than(0.5) == 10.0
    assert history.slower_than(0.25) is None


def test_pods_of_indexed_jobs_belong_to_their_task() -> None:
    assert workload_of("lab-tune-1a2b3c4d-3-x2k4q") == "lab-tune"  # index 3 of an Indexed Job
    assert workload_of("lab-tune-1a2b3c4d-x2k4q") == "lab-tune"  # a Job's pod
    assert workload_of("classifier-7d9f8b6c5-x2k4q") == "classifier"  # a Deployment's pod
    assert workload_of("lab-nightly-29123456-x2k4q") == "lab-nightly"  # a CronJob's Job's pod


def test_the_replay_of_an_indexed_task_matches_and_folds_its_indexed_pods() -> None:
    import re

    from gitops_agent.optimize.queries import INDEXED_POD_PATTERN, replay_query

    key = ("lab-tune", "tune")
    query = replay_query("ns", "7d", True, [key], {}, {key: 1e9}, indexed=["lab-tune"])
    matcher = re.search(r'pod=~"([^"]+)"', query.promql)
    assert matcher is not None
    assert re.fullmatch(matcher.group(1), "lab-tune-1a2b3c4d-3-x2k4q")
    assert re.fullmatch(matcher.group(1), "lab-tune-1a2b3c4d-x2k4q")
    assert f'"workload", "$1", "pod", "{INDEXED_POD_PATTERN}")' in query.promql
    plain = replay_query("ns", "7d", True, [key], {}, {key: 1e9})
    assert INDEXED_POD_PATTERN not in plain.promql  # other targets' queries are as before
