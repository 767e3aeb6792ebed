"""CRDs as their projects publish them, read from the Go module source trees.

Kueue and the Gateway API keep their CRD files in their Go modules
(``sigs.k8s.io/kueue``: ``config/components/crd/bases/``; ``sigs.k8s.io/gateway-api``:
``config/crd/standard/``). ``go mod download -json <module>@<version>`` fetches a module
through the Go module proxy into the module cache and prints its ``Dir``; the CRD files
wanted are copied once into ``~/.cache/gitops-agent/crds/<module>@<version>/`` (a folder
:func:`tests.support.cluster.install_crds` reads), so later runs need no network.

    python -m tests.support.published_crds      # fetch every set now (e.g. in CI's cache step)
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsonschema
from ruamel.yaml import YAML


@dataclass(frozen=True)
class CrdSet:
    """Some CRD files of one Go module version."""

    module: str
    version: str
    folder: str
    files: tuple[str, ...]

    @property
    def key(self) -> str:
        return f"{self.module.replace('/', '_')}@{self.version}"


KUEUE = CrdSet(
    "sigs.k8s.io/kueue",
    "v0.17.0",
    "config/components/crd/bases",
    (
        "kueue.x-k8s.io_resourceflavors.yaml",
        "kueue.x-k8s.io_clusterqueues.yaml",
        "kueue.x-k8s.io_localqueues.yaml",
    ),
)
GATEWAY_API = CrdSet(
    "sigs.k8s.io/gateway-api",
    "v1.4.0",
    "config/crd/standard",
    (
        "gateway.networking.k8s.io_gatewayclasses.yaml",
        "gateway.networking.k8s.io_gateways.yaml",
        "gateway.networking.k8s.io_httproutes.yaml",
    ),
)


def cache_root() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "gitops-agent" / "crds"


def module_dir(crds: CrdSet) -> Path:
    """The module's source tree in the Go module cache (downloaded when missing)."""
    proc = subprocess.run(
        ["go", "mod", "download", "-json", f"{crds.module}@{crds.version}"],
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
        cwd=tempfile.gettempdir(),  # outside any go.mod
    )
    info = json.loads(proc.stdout or "{}")
    if proc.returncode != 0 or "Dir" not in info:
        raise RuntimeError(f"go mod download {crds.module}@{crds.version}: {info.get('Error') or proc.stderr.strip()}")
    return Path(info["Dir"])


def crd_dir(crds: CrdSet) -> Path:
    """A folder holding exactly the set's CRD files, fetched once and cached."""
    target = cache_root() / crds.key
    if all((target / name).is_file() for name in crds.files):
        return target
    source = module_dir(crds) / crds.folder
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{crds.key}-", dir=target.parent))
    for name in crds.files:
        shutil.copyfile(source / name, staging / name)
    shutil.rmtree(target, ignore_errors=True)
    staging.replace(target)  # whole or not at all
    return target


def crd_schema(crds: CrdSet, kind: str, version: str) -> dict[str, Any]:
    """The ``openAPIV3Schema`` of ``kind`` at ``version`` in the set (for jsonschema, which
    ignores the ``x-kubernetes-*`` keywords; the API server checks those and CEL rules)."""
    yaml = YAML(typ="safe")
    for name in crds.files:
        crd = yaml.load((crd_dir(crds) / name).read_text())
        if crd["spec"]["names"]["kind"] == kind:
            for entry in crd["spec"]["versions"]:
                if entry["name"] == version:
                    schema: dict[str, Any] = entry["schema"]["openAPIV3Schema"]
                    return schema
    raise KeyError(f"{kind} {version} not in {crds.key}")


def validate(obj: dict[str, Any], crds: CrdSet) -> None:
    """Raise ``jsonschema.ValidationError`` unless ``obj`` fits its CRD's published schema."""
    version = obj["apiVersion"].rpartition("/")[2]
    jsonschema.validate(obj, crd_schema(crds, obj["kind"], version))


if __name__ == "__main__":
    for crd_set in (KUEUE, GATEWAY_API):
        print(crd_dir(crd_set))
