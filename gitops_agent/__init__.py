"""gitops-agent: deploy AI workflows to Kubernetes the GitOps way."""

import time

__version__ = "0.1.0"
__all__ = ["IMPORTED_AT", "__version__"]

IMPORTED_AT = time.monotonic()
"""``time.monotonic()`` when the package was first imported: the start of a command where the
process's own start time cannot be read."""
