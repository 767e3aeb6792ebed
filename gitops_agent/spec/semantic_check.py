"""Checks the JSON Schema cannot express, on one workflow or environment document.

Every check is defensive: it runs even when the schema already found problems, skipping
values of the wrong type, so that all errors of a file are reported at once.
"""

from __future__ import annotations

import ipaddress
import json
import math
from collections.abc import Callable, Iterator, Mapping
from decimal import Decimal
from typing import Any, TypeGuard

from gitops_agent.errors import Diagnostic
from gitops_agent.spec.cron import cron_problem
from gitops_agent.spec.secret_scan import credential_kind, secret_name_reason
from gitops_agent.spec.yaml_positions import YamlPath
from gitops_agent.vocabulary.durations import duration_problem, is_zero_duration, parse_duration
from gitops_agent.vocabulary.quantities import parse_quantity
from gitops_agent.vocabulary.urls import http_url_problem, matches_pattern

Report = Callable[[YamlPath, str, bool], Diagnostic]
"""``report(path, message, key)``: a diagnostic at ``path`` (its key when ``key``)."""

JOB_NAME_MAX = 63
JOB_HASH_SUFFIX = 9  # "-" + 8 hex characters
CRONJOB_NAME_MAX = 52
DEPLOYMENT_NAME_MAX = 63


def _map(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _duration(report: Report, path: YamlPath, value: Any, out: list[Diagnostic]) -> None:
    problem = duration_problem(value)
    if problem:
        out.append(report(path, problem, False))


def check_workflow(data: Any, report: Report) -> list[Diagnostic]:
    """Semantic problems of a ``kind: Workflow`` document (already a mapping)."""
    out: list[Diagnostic] = []
    doc = _map(data)
    name = _str(_map(doc.get("metadata")).get("name"))
    spec = _map(doc.get("spec"))
    sp: YamlPath = ("spec",)
    tasks = _map(spec.get("tasks"))
    services = _map(spec.get("services"))
    defaults = _map(spec.get("defaults"))
    if "spec" in doc and isinstance(doc["spec"], dict) and not tasks and not services:
        out.append(report(sp, "a workflow needs at least one task or service", True))

    scheduled = {t for t, body in tasks.items() if isinstance(body, dict) and "schedule" in body}
    for task, body in tasks.items():
        _check_task(report, (*sp, "tasks", task), name, task, _map(body), tasks, services, scheduled, defaults, out)
    _check_sweep_outputs(report, sp, tasks, out)

    for service, body in services.items():
        path = (*sp, "services", service)
        body_map = _map(body)
        if service in tasks:
            out.append(
                report(
                    path,
                    f"service {service!r} has the same name as a task; "
                    "task and service names must be unique within a workflow",
                    True,
                )
            )
        _check_depends(report, path, None, body_map, tasks, services, scheduled, out)
        _check_container(report, path, body_map, defaults, out)
        _check_service(report, path, service, body_map, services, out)

    out.extend(_check_cycles(report, tasks, scheduled))
    _check_defaults(report, (*sp, "defaults"), defaults, out)
    _check_claims(report, spec, out)
    _check_config_volume(report, spec, out)
    _check_config(report, (*sp, "config"), spec.get("config"), out)
    _check_monitoring(report, (*sp, "monitoring"), spec.get("monitoring"), services, out)
    rightsizing = _map(_map(spec.get("optimize")).get("rightsizing"))
    _duration(report, (*sp, "optimize", "rightsizing", "window"), rightsizing.get("window"), out)
    _check_retrain(report, (*sp, "optimize", "retrain"), _map(spec.get("optimize")).get("retrain"), tasks, out)
    for task in sorted(scheduled & {t for t, body in tasks.items() if "runId" in _map(body)}):
        message = "a scheduled task runs on its own schedule; a run id only re-runs tasks of the DAG"
        out.append(report((*sp, "tasks", task, "runId"), message, True))
    return out


def _check_retrain(
    report: Report, path: YamlPath, policies: Any, tasks: Mapping[str, Any], out: list[Diagnostic]
) -> None:
    """Each retrain policy names a task of the DAG (not scheduled), once, with a valid window."""
    seen: dict[str, int] = {}
    for index, policy in enumerate(_list(policies)):
        body = _map(policy)
        _duration(report, (*path, index, "window"), body.get("window"), out)
        task = body.get("task")
        if not isinstance(task, str):
            continue
        at = (*path, index, "task")
        if task not in tasks:
            known = ", ".join(sorted(tasks)) or "none"
            out.append(report(at, f"no task {task!r} in this workflow (tasks: {known})", False))
        elif "schedule" in _map(tasks[task]):
            message = f"task {task!r} is scheduled (a CronJob); only a task of the DAG is retrained"
            out.append(report(at, message, False))
        elif task in seen:
            out.append(report(at, f"task {task!r} already has a retrain policy (retrain[{seen[task]}])", False))
        else:
            seen[task] = index


def _check_task(
    report: Report,
    path: YamlPath,
    name: str | None,
    task: str,
    body_map: Mapping[str, Any],
    tasks: Mapping[str, Any],
    services: Mapping[str, Any],
    scheduled: set[str],
    defaults: Mapping[str, Any],
    out: list[Diagnostic],
) -> None:
    """One task: the name of its Job or CronJob, its schedule or dependencies, timeout, container."""
    if name:
        if task in scheduled and len(name) + 1 + len(task) > CRONJOB_NAME_MAX:
            out.append(
                report(
                    path,
                    f"name too long: CronJob name '{name}-{task}' would have "
                    f"{len(name) + 1 + len(task)} characters (at most {CRONJOB_NAME_MAX})",
                    True,
                )
            )
        elif task not in scheduled and len(name) + 1 + len(task) + 8 + 1 > JOB_NAME_MAX:
            out.append(
                report(
                    path,
                    f"name too long: Job name '{name}-{task}-<8 hex>' would have "
                    f"{len(name) + len(task) + 1 + JOB_HASH_SUFFIX} characters "
                    f"(at most {JOB_NAME_MAX})",
                    True,
                )
            )
        else:
            _check_indexed_hostname(report, path, name, task, body_map, task in scheduled, out)
    schedule = body_map.get("schedule")
    if isinstance(schedule, str):
        problem = cron_problem(schedule)
        if problem:
            out.append(report((*path, "schedule"), f"invalid cron schedule: {problem}", False))
        if "dependsOn" in body_map:
            out.append(
                report(
                    (*path, "dependsOn"),
                    "a scheduled task runs on its own schedule, outside the DAG, and cannot have dependsOn",
                    True,
                )
            )
    else:
        _check_depends(report, path, task, body_map, tasks, services, scheduled, out)
    _duration(report, (*path, "timeout"), body_map.get("timeout"), out)
    _check_container(report, path, body_map, defaults, out)
    _check_parallel(report, path, body_map, out)
    if isinstance(body_map.get("sweep"), dict):
        _check_sweep(report, path, task, body_map, tasks, out)
        _check_sweep_wiring(report, path, body_map, defaults, out)


def _check_depends(
    report: Report,
    path: YamlPath,
    task: str | None,
    body: Mapping[str, Any],
    tasks: Mapping[str, Any],
    services: Mapping[str, Any],
    scheduled: set[str],
    out: list[Diagnostic],
) -> None:
    for index, dep in enumerate(_list(body.get("dependsOn"))):
        if not isinstance(dep, str):
            continue
        at = (*path, "dependsOn", index)
        if dep == task:
            out.append(report(at, f"task {dep!r} depends on itself (cycle {dep} -> {dep})", False))
        elif dep in scheduled:
            out.append(
                report(
                    at,
                    f"{dep!r} is a scheduled task (a CronJob outside the DAG); nothing may depend on it",
                    False,
                )
            )
        elif dep not in tasks:
            hint = " (it is a service; dependsOn names tasks)" if dep in services else ""
            out.append(report(at, f"unknown task {dep!r}{hint}", False))


def _check_cycles(report: Report, tasks: Mapping[str, Any], scheduled: set[str]) -> list[Diagnostic]:
    graph: dict[str, list[str]] = {}
    for task, body in tasks.items():
        if task in scheduled:
            continue
        deps = _list(_map(body).get("dependsOn"))
        graph[task] = [d for d in deps if isinstance(d, str) and d in tasks and d not in scheduled and d != task]
    out: list[Diagnostic] = []
    for component in _strongly_connected(graph):
        if len(component) < 2:
            continue
        cycle = _cycle_in(graph, component)
        first, second = cycle[0], cycle[1]
        index = _list(_map(tasks[first]).get("dependsOn")).index(second)
        text = " -> ".join([*cycle, cycle[0]])
        out.append(report(("spec", "tasks", first, "dependsOn", index), f"dependency cycle: {text}", False))
    return out


def _strongly_connected(graph: Mapping[str, list[str]]) -> list[list[str]]:
    """Tarjan's algorithm, iterative (no recursion limit on big graphs)."""
    tarjan = _Tarjan(graph)
    for root in sorted(graph):
        if root not in tarjan.index:
            tarjan.visit(root)
    return tarjan.components


class _Tarjan:
    """The state of Tarjan's strongly connected components search."""

    def __init__(self, graph: Mapping[str, list[str]]) -> None:
        self.graph = graph
        self.index: dict[str, int] = {}
        self.low: dict[str, int] = {}
        self.on_stack: set[str] = set()
        self.stack: list[str] = []
        self.components: list[list[str]] = []

    def _enter(self, node: str, work: list[tuple[str, Iterator[str]]]) -> None:
        self.index[node] = self.low[node] = len(self.index)
        self.stack.append(node)
        self.on_stack.add(node)
        work.append((node, iter(sorted(self.graph[node]))))

    def visit(self, root: str) -> None:
        work: list[tuple[str, Iterator[str]]] = []
        self._enter(root, work)
        while work:
            node, children = work[-1]
            child = self._next_unvisited(node, children)
            if child is not None:
                self._enter(child, work)
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                self.low[parent] = min(self.low[parent], self.low[node])
            if self.low[node] == self.index[node]:
                self._pop_component(node)

    def _next_unvisited(self, node: str, children: Iterator[str]) -> str | None:
        for child in children:
            if child not in self.index:
                return child
            if child in self.on_stack:
                self.low[node] = min(self.low[node], self.index[child])
        return None

    def _pop_component(self, node: str) -> None:
        component: list[str] = []
        while True:
            member = self.stack.pop()
            self.on_stack.discard(member)
            component.append(member)
            if member == node:
                break
        self.components.append(sorted(component))


def _cycle_in(graph: Mapping[str, list[str]], component: list[str]) -> list[str]:
    """A simple cycle through the smallest node of a strongly connected component."""
    members = set(component)
    start = component[0]
    # Breadth-first search for the shortest path back to start.
    previous: dict[str, str] = {}
    frontier = [start]
    seen = {start}
    while frontier:
        following: list[str] = []
        for node in frontier:
            for child in sorted(graph[node]):
                if child not in members:
                    continue
                if child == start:
                    path = [node]
                    while path[-1] != start:
                        path.append(previous[path[-1]])
                    return list(reversed(path))
                if child not in seen:
                    seen.add(child)
                    previous[child] = node
                    following.append(child)
        frontier = following
    return component  # unreachable for a real component


def _check_container(
    report: Report,
    path: YamlPath,
    body: Mapping[str, Any],
    defaults: Mapping[str, Any],
    out: list[Diagnostic],
) -> None:
    if "image" not in body and "image" not in defaults:
        out.append(report(path, "no image: set 'image' here or in spec.defaults", True))
    _check_env(report, (*path, "env"), body.get("env"), out)
    _check_strings(report, (*path, "command"), body.get("command"), out)
    _check_strings(report, (*path, "args"), body.get("args"), out)
    _check_limits(report, (*path, "resources"), body.get("resources"), defaults, out)
    _check_placement(report, path, body, out)
    _check_gpu_product(report, path, body, defaults, out)
    _check_mount_paths(report, path, body, defaults, out)


def _check_defaults(report: Report, path: YamlPath, defaults: Mapping[str, Any], out: list[Diagnostic]) -> None:
    _check_env(report, (*path, "env"), defaults.get("env"), out)
    _check_strings(report, (*path, "command"), defaults.get("command"), out)
    _check_strings(report, (*path, "args"), defaults.get("args"), out)
    _check_placement(report, path, defaults, out)
    if isinstance(defaults.get("resources"), dict):
        _check_limits(report, (*path, "resources"), defaults.get("resources"), {}, out)


def _check_limits(
    report: Report,
    path: YamlPath,
    resources: Any,
    defaults: Mapping[str, Any],
    out: list[Diagnostic],
) -> None:
    own = _map(resources)
    inherited = _map(defaults.get("resources"))
    limits = _map(own.get("limits"))
    merged_limits = {**_map(inherited.get("limits")), **limits}
    for key in ("cpu", "memory"):
        request = parse_quantity(own.get(key, inherited.get(key)))
        limit = parse_quantity(merged_limits.get(key))
        if request is None or limit is None or limit >= request:
            continue
        if key in limits:
            at: YamlPath = (*path, "limits", key)
        elif key in own:
            at = (*path, key)
        else:
            continue  # both inherited: reported once on defaults
        out.append(
            report(
                at,
                f"{key} limit is lower than the {key} request ({_fmt(limit)} < {_fmt(request)})",
                False,
            )
        )


def _fmt(value: Decimal) -> str:
    return format(value.normalize(), "f")


def _check_env(report: Report, path: YamlPath, env: Any, out: list[Diagnostic]) -> None:
    for var, value in _map(env).items():
        at = (*path, var)
        if isinstance(value, dict):
            continue
        reason = secret_name_reason(var)
        if reason is not None:
            out.append(
                report(
                    at,
                    f"{var!r} looks like a secret ({reason} in the name): reference a Secret "
                    "with {secretRef: {name, key}} or envFrom instead of writing a value",
                    False,
                )
            )
            continue
        if isinstance(value, str):
            kind = credential_kind(value)
            if kind:
                out.append(report(at, _credential_message(kind), False))


def _credential_message(kind: str) -> str:
    return f"value looks like {kind}; keep credentials in a Secret and reference it (secretRef or envFrom)"


def _check_strings(report: Report, path: YamlPath, values: Any, out: list[Diagnostic]) -> None:
    for index, value in enumerate(_list(values)):
        if isinstance(value, str):
            kind = credential_kind(value)
            if kind:
                out.append(report((*path, index), _credential_message(kind), False))


def _check_config(report: Report, path: YamlPath, config: Any, out: list[Diagnostic]) -> None:
    for key, value in _map(config).items():
        reason = secret_name_reason(key)
        if reason is not None:
            out.append(
                report(
                    (*path, key),
                    f"config key {key!r} looks like a secret ({reason} in the name); "
                    "config becomes a ConfigMap: keep secrets in a Secret (envFrom/secretRef)",
                    True,
                )
            )
        elif isinstance(value, str):
            kind = credential_kind(value)
            if kind:
                out.append(report((*path, key), _credential_message(kind), False))


def _check_port_numbers(report: Report, at: YamlPath, ports: Mapping[str, Any], out: list[Diagnostic]) -> None:
    """Each port number once: the container's ``ports`` and the Service's ``ports`` are
    lists Kubernetes merges by number and protocol (see :mod:`gitops_agent.spec.list_keys`);
    a repeated number fails server-side apply."""
    first: dict[int, str] = {}
    for name, number in ports.items():
        if type(number) is not int:
            continue
        if number in first:
            out.append(
                report((*at, name), f"duplicate containerPort {number} (also port {first[number]!r})", False)
            )
        else:
            first[number] = name


def _check_service(
    report: Report,
    path: YamlPath,
    service: str,
    body: Mapping[str, Any],
    services: Mapping[str, Any],
    out: list[Diagnostic],
) -> None:
    ports = _map(body.get("ports"))
    _check_port_numbers(report, (*path, "ports"), ports, out)
    for kind, probe in _map(body.get("probes")).items():
        _check_probe(report, (*path, "probes", kind), _map(probe), ports, out)
    autoscale = _map(body.get("autoscale"))
    low, high = autoscale.get("min"), autoscale.get("max")
    if type(low) is int and type(high) is int and low > high:
        out.append(report((*path, "autoscale", "min"), f"min ({low}) is greater than max ({high})", False))
    _check_autoscale(report, (*path, "autoscale"), autoscale, out)
    _check_route(report, path, service, body, services, out)
    if "disruption" in body and isinstance(body["disruption"], dict):
        chosen = [k for k in ("minAvailable", "maxUnavailable") if k in body["disruption"]]
        if len(chosen) != 1:
            out.append(report((*path, "disruption"), "set exactly one of minAvailable or maxUnavailable", True))
    _check_variants(report, path, service, _map(body.get("variants")), services, out)


def _check_probe(
    report: Report, at: YamlPath, probe: Mapping[str, Any], ports: Mapping[str, Any], out: list[Diagnostic]
) -> None:
    """An HTTP probe (path and a declared port) or an exec probe (command), not both."""
    has_http = "path" in probe or "port" in probe
    if "command" in probe and has_http:
        out.append(report(at, "a probe is either HTTP (path, port) or exec (command)", True))
    elif "command" not in probe and not has_http:
        out.append(report(at, "a probe needs path and port, or command", True))
    elif has_http and "port" not in probe:
        out.append(report(at, "an HTTP probe needs a port", True))
    elif has_http and "path" not in probe:
        out.append(report(at, "an HTTP probe needs a path", True))
    port = probe.get("port")
    if isinstance(port, str) and port not in ports:
        declared = ", ".join(sorted(ports)) or "none"
        out.append(report((*at, "port"), f"unknown port {port!r} (declared ports: {declared})", False))


def _check_variants(
    report: Report,
    path: YamlPath,
    service: str,
    variants: Mapping[str, Any],
    services: Mapping[str, Any],
    out: list[Diagnostic],
) -> None:
    """Each A/B variant's Deployment name, what it changes, and weights leaving the main Deployment some."""
    total = 0
    for variant, spec in variants.items():
        at = (*path, "variants", variant)
        spec_map = _map(spec)
        weight = spec_map.get("weight")
        if isinstance(weight, int) and not isinstance(weight, bool):
            total += weight
        _check_variant_name(report, at, f"{service}-{variant}", services, out)
        if isinstance(spec, dict) and "image" not in spec_map and "env" not in spec_map:
            out.append(report(at, "a variant must change image or env", True))
        _check_env(report, (*at, "env"), spec_map.get("env"), out)
    if total >= 100:
        out.append(
            report(
                (*path, "variants"),
                f"variant weights sum to {total}; they must sum to less than 100 "
                "(the rest goes to the main Deployment)",
                True,
            )
        )


def _check_variant_name(
    report: Report, at: YamlPath, deployment: str, services: Mapping[str, Any], out: list[Diagnostic]
) -> None:
    if len(deployment) > DEPLOYMENT_NAME_MAX:
        out.append(
            report(
                at,
                f"name too long: Deployment '{deployment}' would have {len(deployment)} "
                f"characters (at most {DEPLOYMENT_NAME_MAX})",
                True,
            )
        )
    if deployment in services:
        out.append(report(at, f"variant Deployment '{deployment}' clashes with service {deployment!r}", True))


def _check_monitoring(
    report: Report,
    path: YamlPath,
    monitoring: Any,
    services: Mapping[str, Any],
    out: list[Diagnostic],
) -> None:
    mon = _map(monitoring)
    scrape = _map(mon.get("scrape"))
    port = scrape.get("port")
    if isinstance(port, str):
        if not services:
            out.append(report((*path, "scrape"), "scrape needs at least one service to scrape", True))
        elif not any(port in _map(_map(body).get("ports")) for body in services.values()):
            out.append(
                report(
                    (*path, "scrape", "port"),
                    f"no service declares port {port!r} (services: {', '.join(sorted(services))})",
                    False,
                )
            )
    _duration(report, (*path, "scrape", "interval"), scrape.get("interval"), out)
    seen: dict[str, int] = {}
    for index, alert in enumerate(_list(mon.get("alerts"))):
        alert_map = _map(alert)
        alert_name = alert_map.get("name")
        if isinstance(alert_name, str):
            if alert_name in seen:
                out.append(
                    report(
                        (*path, "alerts", index, "name"),
                        f"duplicate alert name {alert_name!r} (also alerts[{seen[alert_name]}])",
                        False,
                    )
                )
            else:
                seen[alert_name] = index


def check_environment(data: Any, report: Report) -> list[Diagnostic]:
    """Semantic problems of a ``kind: Environment`` document on its own."""
    out: list[Diagnostic] = []
    spec = _map(_map(data).get("spec"))
    sync = _map(spec.get("sync"))
    _duration(report, ("spec", "sync", "interval"), sync.get("interval"), out)
    url = _map(spec.get("prometheus")).get("url")
    problem = http_url_problem(url) if isinstance(url, str) and matches_pattern(url) else None
    if problem:
        out.append(report(("spec", "prometheus", "url"), problem, False))
    return out


GPU_PRODUCT_LABEL = "nvidia.com/gpu.product"
VOLUME_SOURCES = ("claim", "existingClaim", "emptyDir", "configMap", "secret")
CONFIG_MOUNT_ROOT = "/etc/gitops-agent"


def _check_placement(report: Report, path: YamlPath, body: Mapping[str, Any], out: list[Diagnostic]) -> None:
    """Tolerations, affinity and volume sources of one task, service or ``defaults``."""
    for index, toleration in enumerate(_list(body.get("tolerations"))):
        _check_toleration(report, (*path, "tolerations", index), _map(toleration), out)
    affinity = _map(body.get("affinity"))
    node = _map(affinity.get("nodeAffinity"))
    required = _map(node.get("requiredDuringSchedulingIgnoredDuringExecution"))
    for t, term in enumerate(_list(required.get("nodeSelectorTerms"))):
        _check_node_term(report, (*path, "affinity", "nodeAffinity", REQUIRED, "nodeSelectorTerms", t), term, out)
    for p, preferred in enumerate(_list(node.get("preferredDuringSchedulingIgnoredDuringExecution"))):
        at = (*path, "affinity", "nodeAffinity", PREFERRED, p, "preference")
        _check_node_term(report, at, _map(preferred).get("preference"), out)
    for kind in ("podAffinity", "podAntiAffinity"):
        pod = _map(affinity.get(kind))
        for t, term in enumerate(_list(pod.get(REQUIRED))):
            _check_pod_term(report, (*path, "affinity", kind, REQUIRED, t), term, out)
        for t, weighted in enumerate(_list(pod.get(PREFERRED))):
            at = (*path, "affinity", kind, PREFERRED, t, "podAffinityTerm")
            _check_pod_term(report, at, _map(weighted).get("podAffinityTerm"), out)
    for name, volume in _map(body.get("volumes")).items():
        sources = [k for k in VOLUME_SOURCES if k in _map(volume)]
        if isinstance(volume, dict) and len(sources) != 1:
            what = "has none" if not sources else "has " + " and ".join(sources)
            out.append(
                report(
                    (*path, "volumes", name),
                    f"a volume needs exactly one of {', '.join(VOLUME_SOURCES)} ({what})",
                    True,
                )
            )


REQUIRED = "requiredDuringSchedulingIgnoredDuringExecution"
PREFERRED = "preferredDuringSchedulingIgnoredDuringExecution"


def _check_toleration(report: Report, at: YamlPath, toleration: Mapping[str, Any], out: list[Diagnostic]) -> None:
    """Kubernetes' toleration rules (ValidateTolerations in the API server's validation)."""
    operator = toleration.get("operator", "Equal")
    if operator == "Exists" and toleration.get("value") not in (None, ""):
        out.append(report((*at, "value"), "a toleration with operator Exists matches any value: drop value", False))
    if not toleration.get("key") and operator != "Exists":
        message = "a toleration without key must use operator Exists (it then tolerates every taint)"
        out.append(report(at, message, True))
    if "tolerationSeconds" in toleration and toleration.get("effect") != "NoExecute":
        out.append(report((*at, "tolerationSeconds"), "tolerationSeconds needs effect NoExecute", True))


def _check_requirement(report: Report, at: YamlPath, requirement: Any, numeric: bool, out: list[Diagnostic]) -> None:
    """In/NotIn need values, Exists/DoesNotExist none, Gt/Lt one integer (Kubernetes
    NodeSelectorRequirement and LabelSelectorRequirement)."""
    item = _map(requirement)
    operator = item.get("operator")
    values = _list(item.get("values"))
    if operator in ("In", "NotIn") and not values:
        out.append(report(at, f"operator {operator} needs values", True))
    elif operator in ("Exists", "DoesNotExist") and values:
        out.append(report((*at, "values"), f"operator {operator} takes no values", True))
    elif numeric and operator in ("Gt", "Lt") and not _one_integer(values):
        out.append(report(at, f"operator {operator} needs exactly one integer value, e.g. values: ['4']", True))


def _one_integer(values: list[Any]) -> bool:
    digits = values[0].removeprefix("-") if len(values) == 1 and isinstance(values[0], str) else ""
    return digits.isascii() and digits.isdigit()  # ASCII: Go's strconv.ParseInt takes no '²' or '٣'


def _check_node_term(report: Report, at: YamlPath, term: Any, out: list[Diagnostic]) -> None:
    for key in ("matchExpressions", "matchFields"):
        for index, requirement in enumerate(_list(_map(term).get(key))):
            _check_requirement(report, (*at, key, index), requirement, True, out)


def _check_pod_term(report: Report, at: YamlPath, term: Any, out: list[Diagnostic]) -> None:
    for selector in ("labelSelector", "namespaceSelector"):
        expressions = _list(_map(_map(term).get(selector)).get("matchExpressions"))
        for index, requirement in enumerate(expressions):
            _check_requirement(report, (*at, selector, "matchExpressions", index), requirement, False, out)


def _check_gpu_product(
    report: Report, path: YamlPath, body: Mapping[str, Any], defaults: Mapping[str, Any], out: list[Diagnostic]
) -> None:
    """The GPU short form's product and an explicit nodeSelector on the same label agree."""
    own_gpu = _map(body.get("resources")).get("gpu")
    gpu = own_gpu if "gpu" in _map(body.get("resources")) else _map(defaults.get("resources")).get("gpu")
    product = _map(gpu).get("product")
    selector = {**_map(defaults.get("nodeSelector")), **_map(body.get("nodeSelector"))}
    chosen = selector.get(GPU_PRODUCT_LABEL)
    if not isinstance(product, str) or chosen is None or chosen == product:
        return
    in_own = GPU_PRODUCT_LABEL in _map(body.get("nodeSelector"))
    at = (*path, "nodeSelector", GPU_PRODUCT_LABEL) if in_own else (*path, "resources", "gpu", "product")
    out.append(
        report(
            at,
            f"nodeSelector {GPU_PRODUCT_LABEL}={chosen!r} contradicts resources.gpu.product {product!r} "
            "(no node carries both); set the product in one place",
            False,
        )
    )


def _check_mount_paths(
    report: Report, path: YamlPath, body: Mapping[str, Any], defaults: Mapping[str, Any], out: list[Diagnostic]
) -> None:
    """Each mount path once per container: ``volumeMounts`` is a list Kubernetes merges by
    mountPath (a repeated one fails server-side apply); config is mounted at
    /etc/gitops-agent/<workflow>."""
    own = _map(body.get("volumes"))
    merged = {**_map(defaults.get("volumes")), **own}
    first: dict[str, str] = {}
    for name in sorted(merged, key=lambda n: (n in own, n)):
        mount = _map(merged[name]).get("mountPath")
        if not isinstance(mount, str):
            continue
        owner = (*path, "volumes") if name in own else ("spec", "defaults", "volumes")
        where = (*owner, name, "mountPath")
        normal = mount.rstrip("/") or "/"
        if normal in first:
            out.append(report(where, f"mount path {mount!r} is also used by volume {first[normal]!r}", False))
        else:
            first[normal] = name


def _check_config_volume(report: Report, spec: Mapping[str, Any], out: list[Diagnostic]) -> None:
    """With ``config``, the name ``config`` and the path /etc/gitops-agent/<workflow> are taken."""
    if not spec.get("config"):
        return
    for at, volumes in _volume_maps(spec):
        for name, volume in volumes.items():
            if name == "config":
                out.append(report((*at, name), "the volume name 'config' is taken by the workflow's config", True))
            mount = _map(volume).get("mountPath")
            if isinstance(mount, str) and mount.rstrip("/").startswith(CONFIG_MOUNT_ROOT):
                out.append(
                    report((*at, name, "mountPath"), f"{CONFIG_MOUNT_ROOT}/… is where config is mounted", False)
                )


def _volume_maps(spec: Mapping[str, Any]) -> list[tuple[YamlPath, dict[str, Any]]]:
    found: list[tuple[YamlPath, dict[str, Any]]] = [
        (("spec", "defaults", "volumes"), _map(_map(spec.get("defaults")).get("volumes")))
    ]
    for section in ("tasks", "services"):
        for name, body in _map(spec.get(section)).items():
            found.append((("spec", section, name, "volumes"), _map(_map(body).get("volumes"))))
    return found


def _check_claims(report: Report, spec: Mapping[str, Any], out: list[Diagnostic]) -> None:
    """One volume name, one PersistentVolumeClaim '<workflow>-<volume>': every ``claim``
    of that name says the same."""
    first: dict[str, tuple[YamlPath, Any]] = {}
    for at, volumes in _volume_maps(spec):
        for name, volume in volumes.items():
            claim = _map(volume).get("claim")
            if not isinstance(claim, dict):
                continue
            if name not in first:
                first[name] = (at, claim)
            elif first[name][1] != claim:
                where = ".".join(str(p) for p in first[name][0])
                out.append(
                    report(
                        (*at, name, "claim"),
                        f"volume {name!r} is one claim per workflow; its claim differs from the one at {where}.{name}",
                        True,
                    )
                )


CRONJOB_JOB_SUFFIX = 11  # the CronJob controller's "-<scheduled minute>" (why CronJob names stop at 52)


def _largest_index(body: Mapping[str, Any]) -> int | None:
    """The highest completion index of the task's Indexed Job (None: not Indexed): a sweep's
    ``parallelTrialCount`` (or its largest generation in ``trials``), else ``completions``."""
    sweep = body.get("sweep")
    if isinstance(sweep, dict):
        generations = [_map(t).get("generation") for t in _list(sweep.get("trials"))]
        sizes = [sweep.get("parallelTrialCount", 1), *(generations.count(g) for g in set(generations))]
        return max(size for size in sizes if type(size) is int) - 1
    completions = body.get("completions")
    if body.get("completionMode") == "Indexed" and type(completions) is int and completions >= 1:
        return completions - 1
    return None


def _check_indexed_hostname(
    report: Report,
    path: YamlPath,
    name: str,
    task: str,
    body: Mapping[str, Any],
    scheduled: bool,
    out: list[Diagnostic],
) -> None:
    """The Job controller makes each pod of an Indexed Job ``<job>-<index>`` its hostname, a
    DNS label of at most 63 characters; the API server refuses a Job whose last index would
    not fit ("will not able to create pod with invalid DNS label", Kubernetes Job validation)."""
    index = _largest_index(body)
    if index is None:
        return
    job = len(name) + 1 + len(task) + (CRONJOB_JOB_SUFFIX if scheduled else JOB_HASH_SUFFIX)
    hostname = job + 1 + len(str(index))
    if hostname > JOB_NAME_MAX:
        message = (
            f"name too long: the pod hostname '<job>-{index}' of this Indexed Job would have {hostname} characters "
            f"(at most {JOB_NAME_MAX}): shorten the workflow or task name by {hostname - JOB_NAME_MAX}"
        )
        out.append(report(path, message, True))


def _check_parallel(report: Report, path: YamlPath, body: Mapping[str, Any], out: list[Diagnostic]) -> None:
    """Job rules (Kubernetes Job API: completionMode, backoffLimitPerIndex, maxFailedIndexes)."""
    sweep = isinstance(body.get("sweep"), dict)  # a sweep's Job is Indexed (its trials)
    indexed = body.get("completionMode") == "Indexed" or sweep
    if indexed and not sweep and "completions" not in body:
        out.append(report((*path, "completionMode"), "completionMode Indexed needs completions", False))
    for key in ("backoffLimitPerIndex", "maxFailedIndexes"):
        if key in body and not indexed:
            out.append(report((*path, key), f"{key} needs completionMode: Indexed", True))
    if "maxFailedIndexes" in body and "backoffLimitPerIndex" not in body:
        out.append(report((*path, "maxFailedIndexes"), "maxFailedIndexes needs backoffLimitPerIndex", True))
    most, completions = body.get("maxFailedIndexes"), body.get("completions")
    what = "completions"
    if sweep:
        completions, what = _map(body["sweep"]).get("parallelTrialCount", 1), "sweep.parallelTrialCount"
    if type(most) is int and type(completions) is int and most > completions:
        message = f"maxFailedIndexes ({most}) exceeds {what} ({completions})"
        out.append(report((*path, "maxFailedIndexes"), message, False))


SWEEP_SETS = ("parallelism", "completions", "completionMode")


def _check_sweep(
    report: Report, path: YamlPath, task: str, body: Mapping[str, Any], tasks: Mapping[str, Any], out: list[Diagnostic]
) -> None:
    """A sweep's task, training task, search space and recorded trials (docs/optimize.md)."""
    sweep: dict[str, Any] = body["sweep"]
    at: YamlPath = (*path, "sweep")
    if "schedule" in body:
        out.append(report(at, "a sweep runs its trials as one Indexed Job: its task cannot have a schedule", True))
    for key in SWEEP_SETS:
        if key in body:
            out.append(report((*path, key), f"{key} is set by the sweep (its trials and parallelTrialCount)", True))
    training = _str(sweep.get("trainingTask"))
    if training is not None:
        if training == task:
            message = "must name another task (the one the best parameters go to)"
            out.append(report((*at, "trainingTask"), message, False))
        elif training not in tasks:
            known = ", ".join(sorted(t for t in tasks if t != task)) or "none"
            out.append(report((*at, "trainingTask"), f"no task {training!r} in this workflow (tasks: {known})", False))
        elif isinstance(tasks[training], dict) and "sweep" in tasks[training]:
            out.append(report((*at, "trainingTask"), f"task {training!r} is itself a sweep", False))
    most, parallel = sweep.get("maxTrialCount"), sweep.get("parallelTrialCount")
    most = most if type(most) is int and most >= 1 else None  # else the schema said why
    if most is not None and type(parallel) is int and parallel > most:
        message = f"parallelTrialCount ({parallel}) exceeds maxTrialCount ({most})"
        out.append(report((*at, "parallelTrialCount"), message, False))
    grid = sweep.get("algorithm") == "grid"
    parameters = _map(sweep.get("parameters"))
    for name, parameter in parameters.items():
        if isinstance(parameter, dict):
            _check_sweep_parameter(report, (*at, "parameters", name), parameter, grid, out)
            _check_parameter_secrets(report, (*at, "parameters", name), name, parameter, out)
    for index, trial in enumerate(_list(sweep.get("trials"))):
        if isinstance(trial, dict):
            _check_trial(report, (*at, "trials", index), trial, parameters, out)
    _check_generations(report, at, _list(sweep.get("trials")), most, out)
    _check_trials_size(report, at, sweep, parameters, out)


SWEEP_ENV = ("SWEEP_INDEX", "SWEEP_NAMESPACE", "SWEEP_TRIAL_FILE")
SWEEP_VOLUME = "sweep-trials"
SWEEP_MOUNT = "/etc/gitops-agent/sweep"
"""What the compiler adds to a sweep's container (gitops_agent/compile/sweeps.py)."""


def _check_sweep_wiring(
    report: Report, path: YamlPath, body: Mapping[str, Any], defaults: Mapping[str, Any], out: list[Diagnostic]
) -> None:
    """The env variables, volume and mount path the compiler adds to a sweep's container are
    its own: a task's or the defaults' env or volume of the same name (or path) made a pod
    with duplicates, which compile refused unlocated."""
    for at, source in ((path, body), (("spec", "defaults"), defaults)):
        for name in _map(source.get("env")):
            if name in SWEEP_ENV:
                out.append(report((*at, "env", name), f"{name} is set by the sweep (its trial's file)", True))
        for name, volume in _map(source.get("volumes")).items():
            if name == SWEEP_VOLUME:
                out.append(report((*at, "volumes", name), f"the volume name {name!r} is taken by the sweep", True))
            mount = _map(volume).get("mountPath")
            if isinstance(mount, str) and (mount.rstrip("/") + "/").startswith(SWEEP_MOUNT + "/"):
                message = f"{SWEEP_MOUNT} is where the sweep mounts its trials"
                out.append(report((*at, "volumes", name, "mountPath"), message, False))


def _check_parameter_secrets(
    report: Report, at: YamlPath, name: str, parameter: Mapping[str, Any], out: list[Diagnostic]
) -> None:
    """A parameter becomes an environment variable of the training task and its values go to
    git, the trials ConfigMap and that variable: the env rules apply (no secret-looking name,
    no credential-looking value), or the proposal ``optimize`` writes would not validate; and
    no ``$(`` (Kubernetes expands ``$(VAR)`` in env values: the value would arrive changed)."""
    reason = secret_name_reason(name)
    if reason is not None:
        message = (
            f"{name!r} looks like a secret ({reason} in the name); a parameter's best value is written "
            "as a plain environment variable of the training task: rename it"
        )
        out.append(report(at, message, True))
    for index, value in enumerate(_list(parameter.get("values"))):
        kind = credential_kind(value) if isinstance(value, str) else None
        if kind:
            message = f"value looks like {kind}; a sweep's values are written to git and a ConfigMap"
            out.append(report((*at, "values", index), message, False))
        elif isinstance(value, str) and "$(" in value:
            message = (
                "'$(' in an env value is a variable reference Kubernetes expands: the training task "
                "would not get this value as written"
            )
            out.append(report((*at, "values", index), message, False))


def _check_sweep_outputs(report: Report, sp: YamlPath, tasks: Mapping[str, Any], out: list[Diagnostic]) -> None:
    """Each environment variable of a training task is written by one sweep at most, and only
    over a plain value: ``optimize`` writes the best parameters there (docs/optimize.md), and
    two sweeps, or a secret or field reference, would be overwritten."""
    writer: dict[tuple[str, str], str] = {}
    for task, body in tasks.items():
        sweep = _map(_map(body).get("sweep"))
        training = sweep.get("trainingTask")
        if not isinstance(training, str) or training == task or not isinstance(tasks.get(training), dict):
            continue
        env = _map(tasks[training].get("env"))
        for name in _map(sweep.get("parameters")):
            at = (*sp, "tasks", task, "sweep", "parameters", name)
            first = writer.setdefault((training, name), task)
            if first != task:
                message = f"the sweep of task {first!r} also writes {name!r} into the env of task {training!r}"
                out.append(report(at, message, True))
            elif isinstance(env.get(name), dict):
                message = f"env {name!r} of task {training!r} is a reference, not a value a parameter can replace"
                out.append(report(at, message, True))


CONFIG_MAP_MAX_BYTES = 1024 * 1024
"""A ConfigMap's data may hold at most 1 MiB (Kubernetes API validation, ``MaxSecretSize``)."""
TRIAL_FILE_OVERHEAD = 200
"""The rest of a trial's file: ``{"generation":…,"parameters":{…},"task":…,"trial":…,"workflow":…}``
with 63-character names and 6-digit numbers fits in it."""
FLOAT_TEXT_MAX = 24  # json.dumps of a float, e.g. -1.2345678901234567e-308


def _value_text_max(parameter: Mapping[str, Any]) -> int:
    """The longest JSON text of a value of ``parameter`` (the trial files' encoding)."""
    if "values" in parameter:
        return max((len(json.dumps(v)) for v in _list(parameter["values"])), default=0)
    low, high = parameter.get("min"), parameter.get("max")
    if _kind(parameter) == "int" and _finite(low) and _finite(high):
        return max(len(str(int(low))), len(str(int(high))))
    return FLOAT_TEXT_MAX


def _check_trials_size(
    report: Report, at: YamlPath, sweep: Mapping[str, Any], parameters: Mapping[str, Any], out: list[Diagnostic]
) -> None:
    """The trials ConfigMap holds one file per trial of a generation: with the longest value
    of every parameter, ``parallelTrialCount`` of them must fit the API's 1 MiB."""
    parallel = sweep.get("parallelTrialCount", 1)
    if type(parallel) is not int or parallel < 1:
        return
    generations = [_map(t).get("generation") for t in _list(sweep.get("trials"))]
    parallel = max([parallel, *(generations.count(g) for g in set(generations))])  # trials edited by hand
    per_trial = TRIAL_FILE_OVERHEAD + sum(
        len(json.dumps(name)) + 2 + _value_text_max(p) for name, p in parameters.items() if isinstance(p, dict)
    )
    if per_trial * parallel > CONFIG_MAP_MAX_BYTES:
        message = (
            f"{parallel} trials of up to {per_trial} bytes each could exceed the trials ConfigMap's "
            f"1 MiB (Kubernetes' limit): run fewer at once or shorten the values"
        )
        out.append(report((*at, "parallelTrialCount") if "parallelTrialCount" in sweep else at, message, False))


def _number(value: Any) -> TypeGuard[int | float]:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _check_sweep_parameter(
    report: Report, at: YamlPath, parameter: Mapping[str, Any], grid: bool, out: list[Diagnostic]
) -> None:
    """Katib's feasibleSpace rules: values or a range; min < max; log needs min > 0; int
    ranges are whole numbers; grid needs a linear step for float ranges."""
    ranged = [key for key in ("type", "min", "max", "scale", "step") if key in parameter]
    if "values" in parameter:
        if ranged:
            out.append(report((*at, ranged[0]), "a parameter has either values or a range (min, max), not both", True))
        return
    missing = " and ".join(f"'{key}'" for key in ("min", "max") if key not in parameter)
    if missing:
        out.append(report(at, f"{missing} missing: a parameter needs values or a range (min, max)", True))
    low, high = parameter.get("min"), parameter.get("max")
    if not (_finite(low) and _finite(high)):
        return  # the schema said why
    if low >= high:
        out.append(report((*at, "max"), f"max ({high}) must be greater than min ({low})", False))
    elif not math.isfinite(float(high) - float(low)):
        out.append(report((*at, "max"), f"the range {low}…{high} is wider than a float can hold", False))
    _check_grid_step(report, at, parameter, out)
    log = parameter.get("scale") == "log"
    if log and low <= 0:
        out.append(report((*at, "min"), f"a log scale needs min > 0 (got {low})", False))
    kind = _kind(parameter)
    if kind == "int":
        for key in ("min", "max", "step"):
            value = parameter.get(key)
            if isinstance(value, float) and value != int(value):
                out.append(report((*at, key), f"an int parameter needs a whole number (got {value})", False))
    if "step" in parameter and log:
        out.append(report((*at, "step"), "step spaces a linear grid; a log-scale range has none", True))
    elif grid and log:
        out.append(report((*at, "scale"), "grid search needs values or a linear range", False))
    elif grid and kind == "float" and "step" not in parameter:
        out.append(report(at, "grid search needs 'step' for a float range (or values)", True))


def _kind(parameter: Mapping[str, Any]) -> str:
    """A range's type: ``type``, else int when min and max are both integers."""
    low, high = parameter.get("min"), parameter.get("max")
    return str(parameter.get("type") or ("int" if type(low) is int and type(high) is int else "float"))


def _finite(value: Any) -> TypeGuard[int | float]:
    return _number(value) and math.isfinite(value)


def _check_grid_step(report: Report, at: YamlPath, parameter: Mapping[str, Any], out: list[Diagnostic]) -> None:
    """A grid's points ``min + i·step`` must be countable and distinct as float64 values."""
    low, high, step = parameter.get("min"), parameter.get("max"), parameter.get("step")
    if not (_finite(low) and _finite(high) and _finite(step)) or step <= 0 or low >= high:
        return
    if not math.isfinite((float(high) - float(low)) / step):
        out.append(report((*at, "step"), f"step {step} gives more grid points than a float can count", False))
    elif _kind(parameter) == "float" and step < math.ulp(max(abs(float(low)), abs(float(high)))) * 2:
        message = f"step {step} is below a float's precision at {max(abs(low), abs(high))}: grid points would repeat"
        out.append(report((*at, "step"), message, False))


def _in_space(value: Any, parameter: Mapping[str, Any]) -> str | None:
    """Why ``value`` is outside ``parameter``'s space (None when inside; NaN and ±Inf are
    the schema check's to report)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if "values" in parameter:
        values = _list(parameter["values"])
        return None if any(type(v) is type(value) and v == value for v in values) else "not one of its values"
    low, high = parameter.get("min"), parameter.get("max")
    if not _number(value):
        return "not a number"
    kind = parameter.get("type") or ("int" if type(low) is int and type(high) is int else "float")
    if kind == "int" and isinstance(value, float) and value != int(value):
        return "not a whole number"
    if _number(low) and _number(high) and not low <= value <= high:
        return f"outside {low}…{high}"
    return None


def _check_trial(
    report: Report, at: YamlPath, trial: Mapping[str, Any], parameters: Mapping[str, Any], out: list[Diagnostic]
) -> None:
    values = trial.get("parameters")
    if not isinstance(values, dict):
        return
    for name in parameters:
        if name not in values:
            out.append(report((*at, "parameters"), f"no value for parameter {name!r}", True))
    for name, value in values.items():
        parameter = parameters.get(name)
        if parameter is None:
            out.append(report((*at, "parameters", name), f"{name!r} is not a parameter of the sweep", True))
        elif isinstance(parameter, dict):
            why = _in_space(value, parameter)
            if why:
                out.append(report((*at, "parameters", name), f"{value!r} is {why} of parameter {name!r}", False))


def _check_generations(
    report: Report, at: YamlPath, trials: list[Any], most: Any, out: list[Diagnostic]
) -> None:
    """Generations start at 1 and grow by one at a time; the trials fit the budget."""
    previous = 0
    for index, trial in enumerate(trials):
        generation = _map(trial).get("generation")
        if type(generation) is not int:
            continue
        if generation < previous or generation > previous + 1:
            expected = "1" if previous == 0 else f"{previous} or {previous + 1}"
            out.append(report((*at, "trials", index, "generation"), f"expected generation {expected}", False))
        previous = max(previous, generation)
    if most is not None and len(trials) > most:
        out.append(report((*at, "trials"), f"{len(trials)} trials exceed maxTrialCount ({most})", True))


STABILIZATION_MAX_S = 3600
PERIOD_MAX_S = 1800


def _check_autoscale(report: Report, path: YamlPath, autoscale: Mapping[str, Any], out: list[Diagnostic]) -> None:
    """HPA metric targets and behavior limits (Kubernetes autoscaling/v2 validation:
    stabilizationWindowSeconds at most 3600, periodSeconds at most 1800)."""
    for index, item in enumerate(_list(autoscale.get("metrics"))):
        for kind in ("external", "object"):
            body = _map(_map(item).get(kind))
            if isinstance(_map(item).get(kind), dict) and ("value" in body) == ("averageValue" in body):
                out.append(report((*path, "metrics", index, kind), "set exactly one of value or averageValue", True))
    behavior = _map(autoscale.get("behavior"))
    for direction in ("scaleUp", "scaleDown"):
        rules = _map(behavior.get(direction))
        at = (*path, "behavior", direction)
        window = rules.get("stabilizationWindow")
        if not is_zero_duration(window):  # 0s: act on the latest recommendation at once
            _duration(report, (*at, "stabilizationWindow"), window, out)
        _duration_at_most(report, (*at, "stabilizationWindow"), window, STABILIZATION_MAX_S, out)
        for index, policy in enumerate(_list(rules.get("policies"))):
            period = _map(policy).get("period")
            _duration(report, (*at, "policies", index, "period"), period, out)
            _duration_at_most(report, (*at, "policies", index, "period"), period, PERIOD_MAX_S, out)


def _duration_at_most(report: Report, path: YamlPath, value: Any, limit: int, out: list[Diagnostic]) -> None:
    if not isinstance(value, str) or duration_problem(value):
        return
    seconds = parse_duration(value)
    if seconds is not None and seconds > limit:
        out.append(report(path, f"must be at most {limit // 60}m ({limit}s), not {seconds}s", False))


def _check_route(
    report: Report,
    path: YamlPath,
    service: str,
    body: Mapping[str, Any],
    services: Mapping[str, Any],
    out: list[Diagnostic],
) -> None:
    """A route or an ingress (not both) needs a port to send to and, with variants, a name
    free for '<service>-main'; an ingress splits to at most one variant (ingress-nginx
    applies one canary Ingress per host and path)."""
    exposed = [key for key in ("route", "ingress") if isinstance(body.get(key), dict)]
    if len(exposed) == 2:
        message = "a service is exposed through route (Gateway API) or ingress, not both"
        out.append(report((*path, "ingress"), message, True))
    variants = _map(body.get("variants"))
    for key in exposed:
        _check_exposure_port(report, (*path, key), key, body, out)
        _check_host_names(report, (*path, key), _map(body.get(key)), out)
        main = f"{service}-main"
        if variants and (main in services or "main" in variants):
            message = f"the Service {main!r} of the main variant clashes with another name"
            out.append(report((*path, key), message, True))
    for annotation in _map(_map(body.get("ingress")).get("annotations")):
        if str(annotation).startswith(CANARY_ANNOTATIONS):
            message = "the canary annotations come from the variants' weights; set a variant instead"
            out.append(report((*path, "ingress", "annotations", annotation), message, True))
    if "ingress" in exposed and len(variants) > 1:
        message = (
            f"an ingress splits requests to at most one variant (ingress-nginx applies one canary Ingress "
            f"per host and path), not {len(variants)}; use route (Gateway API) for more"
        )
        out.append(report((*path, "ingress"), message, True))


_ARTICLE = {"route": "a route", "ingress": "an ingress"}
CANARY_ANNOTATIONS = "nginx.ingress.kubernetes.io/canary"
"""The prefix of ingress-nginx's canary annotations (canary, canary-weight, canary-by-header…)."""


def _check_host_names(report: Report, at: YamlPath, exposure: Mapping[str, Any], out: list[Diagnostic]) -> None:
    """Host names are DNS names, never IP addresses (Kubernetes' Ingress validation and the
    Gateway API's Hostname type refuse them)."""
    for field in ("hostnames", "hosts"):
        hosts = exposure.get(field)
        for index, host in enumerate(hosts if isinstance(hosts, list) else ()):
            if isinstance(host, str) and _is_ip(host):
                out.append(report((*at, field, index), f"{host!r} is an IP address: a host must be a DNS name", False))


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def _check_exposure_port(
    report: Report, at: YamlPath, key: str, body: Mapping[str, Any], out: list[Diagnostic]
) -> None:
    """The port of a route or ingress: one of the service's, named when it has several."""
    ports = _map(body.get("ports"))
    port = _map(body.get(key)).get("port")
    if isinstance(port, str):
        if port not in ports:
            declared = ", ".join(sorted(ports)) or "none"
            out.append(report((*at, "port"), f"unknown port {port!r} (declared ports: {declared})", False))
    elif not ports:
        out.append(report(at, f"{_ARTICLE[key]} sends requests to a port: declare one in ports", True))
    elif len(ports) > 1:
        out.append(report(at, f"the service has {len(ports)} ports: name the {key}'s port", True))
