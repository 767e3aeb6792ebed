"""gitops-agent: deploy AI workflows to Kubernetes the GitOps way."""

__version__ = "0.1.0"
__all__ = ["__version__"]
