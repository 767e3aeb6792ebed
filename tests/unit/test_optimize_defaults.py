"""Right-sizing without a policy, ``enabled: false``, and the reasons for having nothing to do."""

from __future__ import annotations

from gitops_agent.optimize.queries import QueryKind
from gitops_agent.optimize.recommend import DEFAULT_POLICY, nothing_to_do, plan_for, rightsizing_policy
from gitops_agent.spec.model import Container, Experiments, Optimize, Rightsizing, Service, Task, Workflow

SERVICE = Service(name="api", container=Container(image="img:1"))
TASK = Task(name="train", container=Container(image="img:1"))


def workflow(optimize: Optimize | None, *, services: tuple[Service, ...] = (SERVICE,)) -> Workflow:
    return Workflow(name="shop", source="workflows/shop.yaml", services=services, tasks=(TASK,), optimize=optimize)


def test_no_policy_means_the_documented_defaults() -> None:
    assert rightsizing_policy(workflow(None)) is DEFAULT_POLICY
    assert rightsizing_policy(workflow(Optimize(experiments=Experiments()))) is DEFAULT_POLICY
    assert (DEFAULT_POLICY.window, DEFAULT_POLICY.cpu_percentile, DEFAULT_POLICY.memory_buffer_percent) == (
        "7d",
        95.0,
        15.0,
    )
    own = Rightsizing(window="14d", cpu_percentile=90)
    assert rightsizing_policy(workflow(Optimize(rightsizing=own))) is own
    assert rightsizing_policy(workflow(Optimize(rightsizing=Rightsizing(enabled=False)))) is None


def test_the_plan_sizes_workflows_without_a_policy() -> None:
    plan = plan_for("shop-prod", [workflow(None)], None)
    assert plan.window == "7d"
    assert {q.kind for q in plan.queries} == {QueryKind.CPU, QueryKind.MEMORY, QueryKind.SAMPLES, QueryKind.OOM}
    assert 'container=~"api|train"' in plan.queries[0].promql
    off = plan_for("shop-prod", [workflow(Optimize(rightsizing=Rightsizing(enabled=False)))], None)
    assert off.queries == ()


def test_nothing_to_do_names_the_reason() -> None:
    assert nothing_to_do([]) == "the environment deploys no workflow"
    empty = Workflow(name="shop", source="workflows/shop.yaml")
    assert nothing_to_do([empty]) == "the workflows have no tasks or services"
    off = workflow(Optimize(rightsizing=Rightsizing(enabled=False)))
    assert nothing_to_do([off]) is not None and "enabled: false" in (nothing_to_do([off]) or "")
    # experiments alone are something to do; so is one workflow with right-sizing on
    assert (
        nothing_to_do([workflow(Optimize(rightsizing=Rightsizing(enabled=False), experiments=Experiments()))]) is None
    )
    assert nothing_to_do([off, workflow(None)]) is None
