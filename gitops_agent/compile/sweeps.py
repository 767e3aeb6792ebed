"""A sweep task's trials → the ConfigMap of their parameters and the Indexed Job's wiring (pure).

The trial contract (docs/optimize.md): the Job runs the newest generation's trials with
``completionMode: Indexed`` (Kubernetes sets each pod's completion index in the annotation
``batch.kubernetes.io/job-completion-index`` and the env ``JOB_COMPLETION_INDEX``); the
ConfigMap ``<workflow>-<task>-trials`` holds ``<index>.json`` per trial, mounted at
:data:`TRIALS_MOUNT`; the container gets ``SWEEP_TRIAL_FILE`` (its own file) and
``SWEEP_NAMESPACE``. A pod-template annotation hashes the trials, so a new generation is a
new Job.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from gitops_agent.compile.templates import template
from gitops_agent.spec.model import Sweep, Task, Trial, Workflow
from gitops_agent.spec.search_space import current_trials
from gitops_agent.vocabulary.labels import TRIALS_HASH_ANNOTATION
from gitops_agent.vocabulary.objects import Manifest

TRIALS_MOUNT = "/etc/gitops-agent/sweep"
TRIALS_VOLUME = "sweep-trials"
INDEX_ANNOTATION = "batch.kubernetes.io/job-completion-index"
"""Set by the Job controller on each pod of an Indexed Job (Kubernetes Job API)."""


def trials_name(workflow: Workflow, task: Task) -> str:
    return f"{workflow.name}-{task.name}-trials"


def trial_document(workflow: Workflow, task: Task, trial: Trial) -> str:
    """``<index>.json``: what a trial reads (keys sorted, one line)."""
    body = {
        "generation": trial.generation,
        "parameters": dict(trial.parameters),
        "task": task.name,
        "trial": trial.number,
        "workflow": workflow.name,
    }
    return json.dumps(body, sort_keys=True, separators=(",", ":"), allow_nan=False) + "\n"


def trials_data(workflow: Workflow, task: Task, sweep: Sweep) -> dict[str, str]:
    """``{"<index>.json": document}`` for the newest generation, index = position in it."""
    return {f"{index}.json": trial_document(workflow, task, trial) for index, trial in enumerate(current_trials(sweep))}


def trials_config_map(task: Task, workflow: Workflow, labels: dict[str, str]) -> Manifest:
    """The ``v1`` ConfigMap of the trials' parameters."""
    assert task.sweep is not None
    obj = template("configmap")
    obj["metadata"]["name"] = trials_name(workflow, task)
    obj["metadata"]["labels"] = labels
    obj["data"] = dict(sorted(trials_data(workflow, task, task.sweep).items(), key=lambda kv: int(kv[0][:-5])))
    return obj


def job_fields(sweep: Sweep) -> tuple[int, int, str]:
    """(parallelism, completions, completionMode) of the sweep's Indexed Job."""
    trials = len(current_trials(sweep))
    return min(sweep.parallel_trials, trials), trials, "Indexed"


def wire(spec: Manifest, task: Task, workflow: Workflow, short_hash: Callable[[Any], str]) -> None:
    """Mount the trials into the Job ``spec``'s pod and tell the container its trial file."""
    assert task.sweep is not None
    meta = spec["template"]["metadata"]
    data = trials_data(workflow, task, task.sweep)
    meta["annotations"] = {**meta.get("annotations", {}), TRIALS_HASH_ANNOTATION: short_hash(data)}
    pod = spec["template"]["spec"]
    container = pod["containers"][0]
    index = {"fieldRef": {"fieldPath": f"metadata.annotations['{INDEX_ANNOTATION}']"}}
    container["env"] = [
        *container.get("env", []),
        {"name": "SWEEP_INDEX", "valueFrom": index},
        {"name": "SWEEP_NAMESPACE", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}},
        {"name": "SWEEP_TRIAL_FILE", "value": f"{TRIALS_MOUNT}/$(SWEEP_INDEX).json"},
    ]
    mount = {"name": TRIALS_VOLUME, "mountPath": TRIALS_MOUNT, "readOnly": True}
    container["volumeMounts"] = [*container.get("volumeMounts", []), mount]
    volume = {"name": TRIALS_VOLUME, "configMap": {"name": trials_name(workflow, task)}}
    pod["volumes"] = [*pod.get("volumes", []), volume]
