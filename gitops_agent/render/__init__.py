"""Render: an environment commit's overlay to the final objects, through kustomize, cached per commit."""
