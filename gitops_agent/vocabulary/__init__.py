"""The shared Kubernetes vocabulary: object identity, the label and annotation contract,
quantities, durations, Secret masking and the one YAML text writer for diffs.

Every subsystem (spec, compile, render, reconcile, plan, optimize) speaks it; it depends on none of
them (standard library only), so each term has exactly one definition.
"""
