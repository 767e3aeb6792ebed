"""Located errors for the AI workload fields: every invalid form of scheduling, GPU,
volume, queue and parallel-task fields names the file, line, column and field (exit 2 at
the command line). Each task body below starts at line 8 of ``workflows/wf.yaml``."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from tests.unit.specs.helpers import VALID_ENVIRONMENT, assert_only, diagnose, workflow_problems, write_repo

F = "workflows/wf.yaml"
HEADER = """\
apiVersion: gitops-agent.io/v1alpha1
kind: Workflow
metadata: {name: wf}
spec:
  tasks:
    t:
      image: app:1
"""


def task_problems(root: Path, body: str, tail: str = "") -> list:  # type: ignore[type-arg]
    text = HEADER + textwrap.indent(textwrap.dedent(body).rstrip("\n") + "\n", " " * 6) + tail
    return workflow_problems(root, text)


T = "spec.tasks.t"
CASES = {
    # GPU short form
    "gpu-not-a-count": ("resources: {gpu: two}", 8, 24, f"{T}.resources.gpu", "GPU count or {count, product}"),
    "gpu-without-count": (
        "resources: {gpu: {product: NVIDIA-L4}}",
        8,
        19,
        f"{T}.resources.gpu.count",
        "'count' is missing",
    ),
    "gpu-count-zero": ("resources: {gpu: {count: 0}}", 8, 32, f"{T}.resources.gpu.count", "at least 1"),
    "gpu-product-not-a-label": (
        "resources: {gpu: {count: 1, product: 'A100 80GB'}}",
        8,
        44,
        f"{T}.resources.gpu.product",
        "node label value",
    ),
    "gpu-unknown-field": (
        "resources: {gpu: {count: 1, model: A100}}",
        8,
        35,
        f"{T}.resources.gpu.model",
        "unknown field",
    ),
    "gpu-product-contradicts-selector": (
        "resources: {gpu: {count: 1, product: NVIDIA-L4}}\nnodeSelector: {nvidia.com/gpu.product: NVIDIA-A100}",
        9,
        46,
        f"{T}.nodeSelector.nvidia.com/gpu.product",
        "contradicts resources.gpu.product",
    ),
    # scheduling
    "node-selector-key": (
        "nodeSelector: {'bad key': x}",
        8,
        22,
        f"{T}.nodeSelector" + '["bad\\u0020key"]',
        "label key",
    ),
    "node-selector-value": ("nodeSelector: {pool: 'a b'}", 8, 28, f"{T}.nodeSelector.pool", "label value"),
    "toleration-operator": (
        "tolerations: [{key: k, operator: Maybe}]",
        8,
        40,
        f"{T}.tolerations[0].operator",
        "one of: Exists, Equal",
    ),
    "toleration-effect": ("tolerations: [{key: k, effect: Never}]", 8, 38, f"{T}.tolerations[0].effect", "NoSchedule"),
    "toleration-exists-with-value": (
        "tolerations: [{key: k, operator: Exists, value: v}]",
        8,
        55,
        f"{T}.tolerations[0].value",
        "drop value",
    ),
    "toleration-without-key": (
        "tolerations: [{operator: Equal, value: v}]",
        8,
        21,
        f"{T}.tolerations[0]",
        "without key",
    ),
    "toleration-seconds-without-noexecute": (
        "tolerations: [{key: k, operator: Exists, effect: NoSchedule, tolerationSeconds: 30}]",
        8,
        68,
        f"{T}.tolerations[0].tolerationSeconds",
        "needs effect NoExecute",
    ),
    "affinity-typo": ("affinity: {nodeAfinity: {}}", 8, 18, f"{T}.affinity.nodeAfinity", "'nodeAffinity'"),
    "affinity-in-without-values": (
        """\
        affinity:
          nodeAffinity:
            requiredDuringSchedulingIgnoredDuringExecution:
              nodeSelectorTerms:
                - matchExpressions: [{key: pool, operator: In}]
        """,
        12,
        36,
        f"{T}.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchExpressions[0]",
        "needs values",
    ),
    "affinity-gt-not-an-integer": (
        """\
        affinity:
          nodeAffinity:
            preferredDuringSchedulingIgnoredDuringExecution:
              - weight: 10
                preference: {matchExpressions: [{key: gpu-mem, operator: Gt, values: [lots]}]}
        """,
        12,
        47,
        f"{T}.affinity.nodeAffinity.preferredDuringSchedulingIgnoredDuringExecution[0].preference.matchExpressions[0]",
        "exactly one integer",
    ),
    "affinity-gt-not-an-ascii-integer": (
        """\
        affinity:
          nodeAffinity:
            preferredDuringSchedulingIgnoredDuringExecution:
              - weight: 10
                preference: {matchExpressions: [{key: gpu-mem, operator: Lt, values: ["-٣"]}]}
        """,
        12,
        47,
        f"{T}.affinity.nodeAffinity.preferredDuringSchedulingIgnoredDuringExecution[0].preference.matchExpressions[0]",
        "exactly one integer",
    ),
    "affinity-weight-out-of-range": (
        """\
        affinity:
          podAntiAffinity:
            preferredDuringSchedulingIgnoredDuringExecution:
              - {weight: 500, podAffinityTerm: {topologyKey: kubernetes.io/hostname}}
        """,
        11,
        24,
        f"{T}.affinity.podAntiAffinity.preferredDuringSchedulingIgnoredDuringExecution[0].weight",
        "at most 100",
    ),
    "pod-affinity-without-topology-key": (
        """\
        affinity:
          podAffinity:
            requiredDuringSchedulingIgnoredDuringExecution:
              - labelSelector: {matchLabels: {app: db}}
        """,
        11,
        15,
        f"{T}.affinity.podAffinity.requiredDuringSchedulingIgnoredDuringExecution[0].topologyKey",
        "'topologyKey' is missing",
    ),
    "pod-affinity-exists-with-values": (
        """\
        affinity:
          podAffinity:
            requiredDuringSchedulingIgnoredDuringExecution:
              - topologyKey: kubernetes.io/hostname
                labelSelector: {matchExpressions: [{key: app, operator: Exists, values: [db]}]}
        """,
        12,
        79,
        f"{T}.affinity.podAffinity.requiredDuringSchedulingIgnoredDuringExecution[0].labelSelector.matchExpressions[0].values",
        "takes no values",
    ),
    "priority-class-name": ("priorityClassName: High_Priority", 8, 26, f"{T}.priorityClassName", "object name"),
    "runtime-class-name": ("runtimeClassName: NVIDIA", 8, 25, f"{T}.runtimeClassName", "object name"),
    # volumes
    "volume-name": ("volumes: {Data: {mountPath: /data, emptyDir: {}}}", 8, 17, f"{T}.volumes.Data", "RFC 1123 label"),
    "volume-without-source": ("volumes: {data: {mountPath: /data}}", 8, 17, f"{T}.volumes.data", "exactly one of"),
    "volume-with-two-sources": (
        "volumes: {data: {mountPath: /data, secret: s, configMap: c}}",
        8,
        17,
        f"{T}.volumes.data",
        "has configMap and secret",
    ),
    "volume-without-mount-path": (
        "volumes: {data: {emptyDir: {}}}",
        8,
        17,
        f"{T}.volumes.data.mountPath",
        "'mountPath' is missing",
    ),
    "volume-relative-mount-path": (
        "volumes: {data: {mountPath: data, emptyDir: {}}}",
        8,
        35,
        f"{T}.volumes.data.mountPath",
        "absolute path",
    ),
    "volume-sub-path-escapes": (
        "volumes: {data: {mountPath: /d, subPath: ../etc, emptyDir: {}}}",
        8,
        48,
        f"{T}.volumes.data.subPath",
        "without '..'",
    ),
    "volume-medium": (
        "volumes: {shm: {mountPath: /dev/shm, emptyDir: {medium: Disk}}}",
        8,
        63,
        f"{T}.volumes.shm.emptyDir.medium",
        "one of: Memory",
    ),
    "volume-size-limit": (
        "volumes: {shm: {mountPath: /dev/shm, emptyDir: {sizeLimit: lots}}}",
        8,
        66,
        f"{T}.volumes.shm.emptyDir.sizeLimit",
        "quantity",
    ),
    "claim-without-size": (
        "volumes: {data: {mountPath: /d, claim: {}}}",
        8,
        39,
        f"{T}.volumes.data.claim.size",
        "'size' is missing",
    ),
    "claim-size": (
        "volumes: {data: {mountPath: /d, claim: {size: big}}}",
        8,
        53,
        f"{T}.volumes.data.claim.size",
        "quantity",
    ),
    "claim-access-mode": (
        "volumes: {data: {mountPath: /d, claim: {size: 1Gi, accessModes: [ReadWriteAll]}}}",
        8,
        72,
        f"{T}.volumes.data.claim.accessModes[0]",
        "ReadWriteOnce",
    ),
    "existing-claim-name": (
        "volumes: {data: {mountPath: /d, existingClaim: My_Claim}}",
        8,
        54,
        f"{T}.volumes.data.existingClaim",
        "object name",
    ),
    "secret-value-instead-of-name": (
        "volumes: {creds: {mountPath: /s, secret: {password: hunter2}}}",
        8,
        48,
        f"{T}.volumes.creds.secret",
        "object name",
    ),
    "duplicate-mount-path": (
        "volumes: {a: {mountPath: /data, emptyDir: {}}, b: {mountPath: /data/, emptyDir: {}}}",
        8,
        69,
        f"{T}.volumes.b.mountPath",
        "also used by volume 'a'",
    ),
    # queues and parallel tasks
    "queue-name": ("queue: GPU_Queue", 8, 14, f"{T}.queue", "LocalQueue name"),
    "indexed-without-completions": ("completionMode: Indexed", 8, 23, f"{T}.completionMode", "needs completions"),
    "completion-mode": ("completionMode: Ordered", 8, 23, f"{T}.completionMode", "one of: NonIndexed, Indexed"),
    "backoff-per-index-without-indexed": (
        "backoffLimitPerIndex: 2",
        8,
        7,
        f"{T}.backoffLimitPerIndex",
        "completionMode: Indexed",
    ),
    "max-failed-without-backoff-per-index": (
        "completionMode: Indexed\ncompletions: 4\nmaxFailedIndexes: 1",
        10,
        7,
        f"{T}.maxFailedIndexes",
        "needs backoffLimitPerIndex",
    ),
    "max-failed-above-completions": (
        "completionMode: Indexed\ncompletions: 4\nbackoffLimitPerIndex: 1\nmaxFailedIndexes: 5",
        11,
        25,
        f"{T}.maxFailedIndexes",
        "exceeds completions (4)",
    ),
    "parallelism-zero": ("parallelism: 0", 8, 20, f"{T}.parallelism", "at least 1"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_invalid_form_is_located(tmp_path: Path, case: str) -> None:
    body, line, col, field, fragment = CASES[case]
    assert_only(task_problems(tmp_path, body), F, line, col, field, fragment)


def test_the_same_claim_name_must_mean_one_claim(tmp_path: Path) -> None:
    found = task_problems(
        tmp_path,
        "volumes: {data: {mountPath: /d, claim: {size: 1Gi}}}",
        "    u:\n      image: app:1\n      volumes: {data: {mountPath: /d, claim: {size: 2Gi}}}\n",
    )
    assert_only(
        found, F, 11, 39, "spec.tasks.u.volumes.data.claim", "one claim per workflow", "spec.tasks.t.volumes.data"
    )


def test_a_mount_path_inherited_from_defaults_counts(tmp_path: Path) -> None:
    found = workflow_problems(
        tmp_path,
        """\
        apiVersion: gitops-agent.io/v1alpha1
        kind: Workflow
        metadata: {name: wf}
        spec:
          defaults:
            image: app:1
            volumes: {cache: {mountPath: /cache, emptyDir: {}}}
          tasks:
            t:
              volumes: {scratch: {mountPath: /cache, emptyDir: {}}}
        """,
    )
    assert_only(found, F, 10, 38, "spec.tasks.t.volumes.scratch.mountPath", "also used by volume 'cache'")


def test_config_volume_name_and_mount_path_are_taken(tmp_path: Path) -> None:
    found = workflow_problems(
        tmp_path,
        """\
        apiVersion: gitops-agent.io/v1alpha1
        kind: Workflow
        metadata: {name: wf}
        spec:
          config: {a.yaml: "x: 1"}
          tasks:
            t:
              image: app:1
              volumes:
                config: {mountPath: /cfg, configMap: other}
                extra: {mountPath: /etc/gitops-agent/wf/extra, emptyDir: {}}
        """,
    )
    assert [(d.line, d.col, d.field) for d in found] == [
        (10, 9, "spec.tasks.t.volumes.config"),
        (11, 28, "spec.tasks.t.volumes.extra.mountPath"),
    ], [str(d) for d in found]


def test_defaults_placement_is_checked_once_at_the_defaults(tmp_path: Path) -> None:
    found = workflow_problems(
        tmp_path,
        """\
        apiVersion: gitops-agent.io/v1alpha1
        kind: Workflow
        metadata: {name: wf}
        spec:
          defaults:
            image: app:1
            tolerations: [{key: k, operator: Exists, value: v}]
          tasks:
            t: {}
            u: {}
        """,
    )
    assert_only(found, F, 7, 53, "spec.defaults.tolerations[0].value", "drop value")


def test_an_environment_override_of_the_new_fields_is_validated_in_the_environment_file(tmp_path: Path) -> None:
    workflow = HEADER + "      resources: {gpu: {count: 1, product: NVIDIA-A100-SXM4-80GB}}\n"
    environment = VALID_ENVIRONMENT + (
        "  overrides:\n"
        "    wf:\n"
        "      tasks:\n"
        "        t:\n"
        "          resources: {gpu: {count: 100}}\n"
        "          volumes: {shm: {mountPath: /dev/shm}}\n"
    )
    found = diagnose(tmp_path, {F: workflow, "environments/dev.yaml": environment})
    assert [(d.file, d.line, d.col, d.field) for d in found] == [
        ("environments/dev.yaml", 11, 36, "spec.overrides.wf.tasks.t.resources.gpu.count"),
        ("environments/dev.yaml", 12, 21, "spec.overrides.wf.tasks.t.volumes.shm"),
    ], [str(d) for d in found]


def test_valid_ai_fields_have_no_problem(tmp_path: Path) -> None:
    found = task_problems(
        tmp_path,
        """\
        resources: {gpu: {count: 2, product: NVIDIA-A100-SXM4-80GB}}
        nodeSelector: {nvidia.com/gpu.product: NVIDIA-A100-SXM4-80GB, pool: gpu}
        tolerations: [{operator: Exists}, {key: k, operator: Equal, value: v, effect: NoExecute, tolerationSeconds: 60}]
        priorityClassName: high
        runtimeClassName: nvidia
        queue: team-a
        parallelism: 2
        completions: 8
        completionMode: Indexed
        backoffLimitPerIndex: 1
        maxFailedIndexes: 8
        volumes:
          data: {mountPath: /data, readOnly: true, claim: {size: 10Gi, accessModes: [ReadOnlyMany]}}
          shm: {mountPath: /dev/shm, emptyDir: {medium: Memory, sizeLimit: 1Gi}}
          ckpt: {mountPath: /ckpt, subPath: run-1, existingClaim: checkpoints}
          certs: {mountPath: /certs, secret: tls-certs}
        affinity:
          nodeAffinity:
            requiredDuringSchedulingIgnoredDuringExecution:
              nodeSelectorTerms: [{matchExpressions: [{key: mem, operator: Gt, values: ["4"]}]}]
        """,
    )
    assert found == [], [str(d) for d in found]


SERVICE_HEADER = """\
apiVersion: gitops-agent.io/v1alpha1
kind: Workflow
metadata: {name: wf}
spec:
  services:
    s:
      image: app:1
      autoscale:
        min: 1
        max: 4
"""
A = "spec.services.s.autoscale"
AUTOSCALE_CASES = {
    "metric-with-two-kinds": (
        "metrics: [{pods: {metric: m, averageValue: 1}, external: {metric: q, value: 1}}]",
        11,
        19,
        f"{A}.metrics[0]",
        "exactly one of 'pods', 'external' or 'object'",
    ),
    "external-with-value-and-average": (
        "metrics: [{external: {metric: q, value: 1, averageValue: 1}}]",
        11,
        20,
        f"{A}.metrics[0].external",
        "exactly one of value or averageValue",
    ),
    "external-without-target": (
        "metrics: [{external: {metric: q}}]",
        11,
        20,
        f"{A}.metrics[0].external",
        "exactly one of value or averageValue",
    ),
    "object-without-described-object": (
        "metrics: [{object: {metric: rps, value: 10}}]",
        11,
        20,
        f"{A}.metrics[0].object.describedObject",
        "'describedObject' is missing",
    ),
    "pods-without-average-value": (
        "metrics: [{pods: {metric: m}}]",
        11,
        20,
        f"{A}.metrics[0].pods.averageValue",
        "'averageValue' is missing",
    ),
    "metric-name": (
        "metrics: [{pods: {metric: 'tokens per s', averageValue: 1}}]",
        11,
        35,
        f"{A}.metrics[0].pods.metric",
        "metric name",
    ),
    "target-not-a-quantity": (
        "metrics: [{pods: {metric: m, averageValue: lots}}]",
        11,
        52,
        f"{A}.metrics[0].pods.averageValue",
        "quantity",
    ),
    "stabilization-window-too-long": (
        "behavior: {scaleDown: {stabilizationWindow: 2h}}",
        11,
        53,
        f"{A}.behavior.scaleDown.stabilizationWindow",
        "at most 60m",
    ),
    "policy-period-too-long": (
        "behavior: {scaleUp: {policies: [{type: Pods, value: 4, period: 1h}]}}",
        11,
        72,
        f"{A}.behavior.scaleUp.policies[0].period",
        "at most 30m",
    ),
    "policy-type": (
        "behavior: {scaleUp: {policies: [{type: Nodes, value: 4, period: 1m}]}}",
        11,
        48,
        f"{A}.behavior.scaleUp.policies[0].type",
        "Pods, Percent",
    ),
    "select-policy": (
        "behavior: {scaleDown: {selectPolicy: Fastest}}",
        11,
        46,
        f"{A}.behavior.scaleDown.selectPolicy",
        "Max, Min, Disabled",
    ),
}


def autoscale_problems(root: Path, body: str) -> list:  # type: ignore[type-arg]
    text = textwrap.dedent(body).rstrip("\n") + "\n"
    return workflow_problems(root, SERVICE_HEADER + textwrap.indent(text, " " * 8))


@pytest.mark.parametrize("case", sorted(AUTOSCALE_CASES))
def test_invalid_autoscale_form_is_located(tmp_path: Path, case: str) -> None:
    body, line, col, field, fragment = AUTOSCALE_CASES[case]
    assert_only(autoscale_problems(tmp_path, body), F, line, col, field, fragment)


def test_valid_autoscale_metrics_and_behavior_have_no_problem(tmp_path: Path) -> None:
    found = autoscale_problems(
        tmp_path,
        """\
        cpuUtilization: 70
        metrics:
          - pods: {metric: vllm_num_requests_waiting, averageValue: 5}
          - external: {metric: queue_depth, selector: {queue: chat}, value: 100}
          - object:
              metric: rps
              describedObject: {apiVersion: networking.k8s.io/v1, kind: Ingress, name: chat}
              averageValue: 10
        behavior:
          scaleDown: {stabilizationWindow: 1h, selectPolicy: Min, policies: [{type: Percent, value: 10, period: 30m}]}
          scaleUp: {stabilizationWindow: 0s}
        """,
    )
    assert found == [], [str(d) for d in found]


ROUTE_HEADER = """\
apiVersion: gitops-agent.io/v1alpha1
kind: Workflow
metadata: {name: wf}
spec:
  services:
    s:
      image: app:1
"""
ROUTE_CASES = {
    "route-without-gateway": (
        "ports: {http: 80}\nroute: {path: /}",
        9,
        7,
        "spec.services.s.route.gateway",
        "'gateway' is missing",
    ),
    "route-unknown-port": (
        "ports: {http: 80}\nroute: {gateway: gw, port: grpc}",
        9,
        34,
        "spec.services.s.route.port",
        "unknown port 'grpc'",
    ),
    "route-which-port": (
        "ports: {http: 80, metrics: 9090}\nroute: {gateway: gw}",
        9,
        7,
        "spec.services.s.route",
        "name the route's port",
    ),
    "route-without-ports": ("route: {gateway: gw}", 8, 7, "spec.services.s.route", "declare one in ports"),
    "route-hostname": (
        "ports: {http: 80}\nroute: {gateway: gw, hostnames: [Chat_Example]}",
        9,
        40,
        "spec.services.s.route.hostnames[0]",
        "host name",
    ),
    "route-hostname-ip": (
        "ports: {http: 80}\nroute: {gateway: gw, hostnames: [192.168.0.1]}",
        9,
        40,
        "spec.services.s.route.hostnames[0]",
        "IP address",
    ),
    "route-path": (
        "ports: {http: 80}\nroute: {gateway: gw, path: v1}",
        9,
        34,
        "spec.services.s.route.path",
        "absolute HTTP path",
    ),
    "route-main-variant-clash": (
        "ports: {http: 80}\nroute: {gateway: gw}\nvariants: {main: {image: app:2, weight: 10}}",
        9,
        7,
        "spec.services.s.route",
        "clashes",
    ),
}


@pytest.mark.parametrize("case", sorted(ROUTE_CASES))
def test_invalid_route_is_located(tmp_path: Path, case: str) -> None:
    body, line, col, field, fragment = ROUTE_CASES[case]
    text = ROUTE_HEADER + textwrap.indent(body.rstrip("\n") + "\n", " " * 6)
    assert_only(workflow_problems(tmp_path, text), F, line, col, field, fragment)


def test_the_main_variant_service_of_a_route_cannot_clash_with_another_workflows_service(tmp_path: Path) -> None:
    routed = ROUTE_HEADER.replace("    s:\n", "    chat:\n") + (
        "      ports: {http: 80}\n      route: {gateway: gw}\n      variants: {b: {image: app:2, weight: 10}}\n"
    )
    other = ROUTE_HEADER.replace("name: wf", "name: other").replace("    s:\n", "    chat-main:\n")
    found = diagnose(tmp_path, {F: routed, "workflows/other.yaml": other, "environments/dev.yaml": VALID_ENVIRONMENT})
    assert [(d.file, d.line, d.col, d.field) for d in found] == [
        ("workflows/other.yaml", 6, 5, "spec.services.chat-main"),
        ("workflows/wf.yaml", 9, 7, "spec.services.chat.route"),
    ], [str(d) for d in found]
    assert "'chat-main'" in found[1].message


INGRESS_CASES = {
    "ingress-and-route": (
        "ports: {http: 80}\nroute: {gateway: gw}\ningress: {className: nginx}",
        10,
        7,
        "spec.services.s.ingress",
        "route (Gateway API) or ingress, not both",
    ),
    "ingress-unknown-port": (
        "ports: {http: 80}\ningress: {port: grpc}",
        9,
        23,
        "spec.services.s.ingress.port",
        "unknown port 'grpc'",
    ),
    "ingress-which-port": (
        "ports: {http: 80, metrics: 9090}\ningress: {}",
        9,
        7,
        "spec.services.s.ingress",
        "name the ingress's port",
    ),
    "ingress-without-ports": ("ingress: {}", 8, 7, "spec.services.s.ingress", "declare one in ports"),
    "ingress-host": (
        "ports: {http: 80}\ningress: {hosts: [Rerank_Example]}",
        9,
        25,
        "spec.services.s.ingress.hosts[0]",
        "host name",
    ),
    "ingress-host-ip": (
        "ports: {http: 80}\ningress: {hosts: [rerank.example.com, 10.0.0.7]}",
        9,
        45,
        "spec.services.s.ingress.hosts[1]",
        "IP address",
    ),
    "ingress-host-long-label": (
        "ports: {http: 80}\ningress: {hosts: [" + "a" * 64 + ".example.com]}",
        9,
        25,
        "spec.services.s.ingress.hosts[0]",
        "at most 63 characters",
    ),
    "ingress-duplicate-host": (
        "ports: {http: 80}\ningress: {hosts: [a.example.com, a.example.com]}",
        9,
        24,
        "spec.services.s.ingress.hosts",
        "items must be unique",
    ),
    "ingress-not-a-mapping": (
        "ports: {http: 80}\ningress: nginx",
        9,
        16,
        "spec.services.s.ingress",
        "must be a mapping",
    ),
    "ingress-port-number": (
        "ports: {http: 80}\ningress: {port: 80}",
        9,
        23,
        "spec.services.s.ingress.port",
        "must be a string",
    ),
    "ingress-canary-annotation": (
        "ports: {http: 80}\ningress: {annotations: {nginx.ingress.kubernetes.io/canary-weight: '50'}}",
        9,
        31,
        "spec.services.s.ingress.annotations.nginx.ingress.kubernetes.io/canary-weight",
        "come from the variants' weights",
    ),
    "ingress-annotation-key": (
        "ports: {http: 80}\ningress: {annotations: {'bad key': x}}",
        9,
        31,
        'spec.services.s.ingress.annotations["bad\\u0020key"]',
        "annotation key",
    ),
    "ingress-annotation-number": (
        "ports: {http: 80}\ningress: {annotations: {example.com/size: 16}}",
        9,
        49,
        "spec.services.s.ingress.annotations.example.com/size",
        "must be a string",
    ),
    "ingress-path": (
        "ports: {http: 80}\ningress: {path: v1}",
        9,
        23,
        "spec.services.s.ingress.path",
        "absolute HTTP path",
    ),
    "ingress-class-name": (
        "ports: {http: 80}\ningress: {className: Nginx_Class}",
        9,
        28,
        "spec.services.s.ingress.className",
        "Kubernetes object name",
    ),
    "ingress-tls-secret": (
        "ports: {http: 80}\ningress: {tlsSecret: 'my cert'}",
        9,
        28,
        "spec.services.s.ingress.tlsSecret",
        "Kubernetes object name",
    ),
    "ingress-unknown-field": (
        "ports: {http: 80}\ningress: {host: a.example.com}",
        9,
        17,
        "spec.services.s.ingress.host",
        "unknown field",
    ),
    "ingress-two-variants": (
        "ports: {http: 80}\ningress: {}\nvariants: {b: {image: app:2, weight: 10}, c: {image: app:3, weight: 10}}",
        9,
        7,
        "spec.services.s.ingress",
        "at most one variant",
    ),
    "ingress-main-variant-clash": (
        "ports: {http: 80}\ningress: {}\nvariants: {main: {image: app:2, weight: 10}}",
        9,
        7,
        "spec.services.s.ingress",
        "clashes",
    ),
}


@pytest.mark.parametrize("case", sorted(INGRESS_CASES))
def test_invalid_ingress_is_located(tmp_path: Path, case: str) -> None:
    body, line, col, field, fragment = INGRESS_CASES[case]
    text = ROUTE_HEADER + textwrap.indent(body.rstrip("\n") + "\n", " " * 6)
    assert_only(workflow_problems(tmp_path, text), F, line, col, field, fragment)


def test_valid_ingress_forms_have_no_problem(tmp_path: Path) -> None:
    body = (
        "ports: {http: 80, metrics: 9090}\n"
        "ingress: {className: nginx, hosts: [a.example.com, '*.b.example.com'], path: /v1, port: http,"
        " tlsSecret: a-tls}\n"
        "variants: {b: {image: app:2, weight: 20}}"
    )
    text = ROUTE_HEADER + textwrap.indent(body + "\n", " " * 6)
    assert workflow_problems(tmp_path, text) == []


def test_the_main_variant_service_of_an_ingress_cannot_clash_with_another_workflows_service(tmp_path: Path) -> None:
    routed = ROUTE_HEADER.replace("    s:\n", "    chat:\n") + (
        "      ports: {http: 80}\n      ingress: {}\n      variants: {b: {image: app:2, weight: 10}}\n"
    )
    other = ROUTE_HEADER.replace("name: wf", "name: other").replace("    s:\n", "    chat-main:\n")
    found = diagnose(tmp_path, {F: routed, "workflows/other.yaml": other, "environments/dev.yaml": VALID_ENVIRONMENT})
    assert [(d.file, d.line, d.col, d.field) for d in found] == [
        ("workflows/other.yaml", 6, 5, "spec.services.chat-main"),
        ("workflows/wf.yaml", 9, 7, "spec.services.chat.ingress"),
    ], [str(d) for d in found]
    assert "'chat-main'" in found[1].message


def test_an_environment_override_adding_a_second_variant_to_an_ingress_is_located_in_the_environment(
    tmp_path: Path,
) -> None:
    workflow = (
        ROUTE_HEADER + "      ports: {http: 80}\n      ingress: {}\n      variants: {b: {image: app:2, weight: 10}}\n"
    )
    env = (
        VALID_ENVIRONMENT
        + "  overrides:\n    wf:\n      services:\n        s:\n          variants: {c: {image: app:3, weight: 5}}\n"
    )
    found = diagnose(tmp_path, {F: workflow, "environments/dev.yaml": env})
    assert [d.file for d in found] == ["environments/dev.yaml"], [str(d) for d in found]
    assert "at most one variant" in found[0].message


def test_validate_exits_2_with_the_located_ingress_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from gitops_agent.cli import run

    body = "ports: {http: 80}\nroute: {gateway: gw}\ningress: {className: nginx}\n"
    write_repo(tmp_path, {F: ROUTE_HEADER + textwrap.indent(body, " " * 6), "environments/dev.yaml": VALID_ENVIRONMENT})
    assert run(["validate", "--repo", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "workflows/wf.yaml:10:7: spec.services.s.ingress: a service is exposed through route" in err
    assert "Traceback" not in err
