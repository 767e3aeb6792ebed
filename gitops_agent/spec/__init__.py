"""Load workflow and environment specs with positions, validate them, build the typed model.

``load_specs`` reads a repository's specs and raises :class:`SpecError` with every
problem at once (``file:line:col: field: message``); ``validate_paths`` returns the same
diagnostics without raising; ``effective_workflow`` applies an environment's overrides.
"""

from gitops_agent.spec.loader import effective_workflow, load_specs, validate_paths
from gitops_agent.spec.schema_check import schema_dir

__all__ = ["effective_workflow", "load_specs", "schema_dir", "validate_paths"]
