"""Compile workflow specs into kustomize bases and per-environment overlays (pure)."""

from gitops_agent.compile.environment import (
    SOURCE_FILE,
    CompileMemo,
    Tree,
    WorkflowInputs,
    compile_environment,
    outline_workflow,
    selected_workflows,
    spec_digests,
    tree_spec_digest,
    workflow_inputs,
)
from gitops_agent.compile.objects import compile_workflow

__all__ = [
    "SOURCE_FILE",
    "CompileMemo",
    "Tree",
    "WorkflowInputs",
    "compile_environment",
    "compile_workflow",
    "outline_workflow",
    "selected_workflows",
    "spec_digests",
    "tree_spec_digest",
    "workflow_inputs",
]
