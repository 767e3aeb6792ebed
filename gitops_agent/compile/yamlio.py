"""Deterministic YAML output: the same objects always give the same bytes."""

from __future__ import annotations

import io
import re
from collections.abc import Iterable
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.representer import SafeRepresenter

# Strings that YAML 1.1 parsers (still used by parts of the Kubernetes tool chain) would
# read as booleans, nulls or sexagesimal numbers are always quoted.
_YAML11_SPECIAL = re.compile(
    r"^(y|Y|yes|Yes|YES|n|N|no|No|NO|true|True|TRUE|false|False|FALSE|on|On|ON|off|Off|OFF"
    r"|null|Null|NULL|~|[-+]?[0-9][0-9_]*(:[0-5]?[0-9])+(\.[0-9_]*)?|0[0-7_]+|0b[01_]+"
    r"|[-+]?(\.[0-9]+|[0-9][0-9_]*)(\.[0-9_]*)?([eE][-+]?[0-9]+)?|[-+]?\.(inf|Inf|INF)|\.(nan|NaN|NAN))$"
)


def _represent_str(representer: SafeRepresenter, value: str) -> Any:
    if _YAML11_SPECIAL.match(value):
        return representer.represent_scalar("tag:yaml.org,2002:str", value, style="'")
    if "\n" in value:
        return representer.represent_scalar("tag:yaml.org,2002:str", value, style="|")
    return representer.represent_str(value)


def _yaml() -> YAML:
    yaml = YAML(typ="safe", pure=True)
    yaml.default_flow_style = False
    yaml.width = 4096
    yaml.indent(mapping=2, sequence=2, offset=0)
    yaml.sort_base_mapping_type_on_output = False  # type: ignore[assignment]
    yaml.representer.add_representer(str, _represent_str)
    return yaml


def dump(document: Any) -> bytes:
    """One YAML document, keys in the order they were built."""
    buffer = io.StringIO()
    _yaml().dump(document, buffer)
    return buffer.getvalue().encode("utf-8")


def dump_all(documents: Iterable[Any]) -> bytes:
    """Several documents separated by ``---``."""
    buffer = io.StringIO()
    _yaml().dump_all(list(documents), buffer)
    return buffer.getvalue().encode("utf-8")


def load_all(text: str | bytes) -> list[Any]:
    """Every non-empty document of a multi-document YAML text."""
    yaml = YAML(typ="safe", pure=True)
    return [doc for doc in yaml.load_all(text) if doc is not None]
