"""Developer and test tooling that is not part of the gitops-agent package."""
