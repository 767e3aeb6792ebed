"""Deterministic YAML output (the same objects always give the same bytes), and the reader
of kustomize's output, which resolves plain scalars the way kustomize itself does."""

from __future__ import annotations

import io
import math
from collections.abc import Iterable
from typing import Any

import yaml
from ruamel.yaml import YAML
from ruamel.yaml.representer import SafeRepresenter

from gitops_agent.yamlscalars import needs_escapes, needs_quotes, resolve_plain


def _represent_str(representer: SafeRepresenter, value: str) -> Any:
    if needs_escapes(value):
        return representer.represent_scalar("tag:yaml.org,2002:str", value, style='"')
    if needs_quotes(value):
        return representer.represent_scalar("tag:yaml.org,2002:str", value, style="'")
    if "\n" in value:
        return representer.represent_scalar("tag:yaml.org,2002:str", value, style="|")
    return representer.represent_str(value)


def _represent_float(representer: SafeRepresenter, value: float) -> Any:
    """Floats with a dot in the mantissa (``1.0e+16``, not ``1e+16``, which YAML 1.1 reads as a string)."""
    if not math.isfinite(value):
        return representer.represent_float(value)
    text = repr(value)
    mantissa, e, exponent = text.partition("e")
    if "." not in mantissa:
        text = f"{mantissa}.0{e}{exponent}"
    return representer.represent_scalar("tag:yaml.org,2002:float", text)


def _yaml() -> YAML:
    yaml = YAML(typ="safe", pure=True)
    yaml.default_flow_style = False
    yaml.width = 4096
    yaml.indent(mapping=2, sequence=2, offset=0)
    yaml.sort_base_mapping_type_on_output = False  # type: ignore[assignment]
    yaml.representer.add_representer(str, _represent_str)
    yaml.representer.add_representer(float, _represent_float)
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


class NonFiniteNumberError(ValueError):
    """A plain ``.inf``/``.nan`` (go-yaml's infinity or NaN), which JSON and Kubernetes cannot carry.

    ``document`` is the document (as read) holding it; ``path`` the keys and list indexes
    leading to the value.
    """

    def __init__(self, document: Any, path: tuple[str | int, ...], value: float) -> None:
        super().__init__(f"{format_path(path)}: {value} is not a finite number")
        self.document = document
        self.path = path
        self.value = value


def format_path(path: Iterable[str | int]) -> str:
    """``("data", "x", 0)`` → ``data.x[0]``."""
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "<root>"


READER_VERSION = "go-yaml-v3-resolve/1"
"""Changes whenever the reader could give different objects for the same text (a render cache key)."""

_BaseLoader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_TAG = "tag:yaml.org,2002:"
_TAG_OF_TYPE = {type(None): "null", bool: "bool", int: "int", float: "float", str: "str"}


class GoYamlV3Loader(_BaseLoader):  # type: ignore[valid-type,misc]
    """libyaml's parser (PyYAML's C extension when present) with go-yaml v3's resolver.

    Plain scalars mean what they mean to go-yaml v3 (:func:`resolve_plain`): ``609e4400``
    stays a string, ``0777`` and ``0x1F`` are ints, timestamps stay strings. Mapping keys
    are always their text (Kubernetes objects are JSON, whose keys are strings).
    """

    non_finite = False

    def resolve(self, kind: Any, value: Any, implicit: Any) -> Any:
        if kind is yaml.ScalarNode and implicit[0]:
            if value == "<<":
                return _TAG + "merge"
            return _TAG + _TAG_OF_TYPE[type(resolve_plain(value))] if value else _TAG + "null"
        return super().resolve(kind, value, implicit)

    def construct_go_scalar(self, node: yaml.ScalarNode) -> Any:
        value = resolve_plain(str(node.value)) if node.value else None
        if isinstance(value, float) and not math.isfinite(value):
            self.non_finite = True
        return value

    def construct_text(self, node: yaml.ScalarNode) -> str:
        return str(node.value)

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        self.flatten_mapping(node)
        return {
            key.value if isinstance(key, yaml.ScalarNode) else self.construct_object(key, deep=deep): (
                self.construct_object(value, deep=deep)
            )
            for key, value in node.value
        }


for _name in ("null", "bool", "int", "float"):
    GoYamlV3Loader.add_constructor(_TAG + _name, GoYamlV3Loader.construct_go_scalar)
for _name in ("str", "timestamp", "binary", "merge"):
    GoYamlV3Loader.add_constructor(_TAG + _name, GoYamlV3Loader.construct_text)


def _find_non_finite(value: Any, path: tuple[str | int, ...]) -> tuple[tuple[str | int, ...], float] | None:
    if isinstance(value, float) and not math.isfinite(value):
        return path, value
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, item in items:
        found = _find_non_finite(item, (*path, key))
        if found is not None:
            return found
    return None


def load_all(text: str | bytes) -> list[Any]:
    """Every non-empty document of a multi-document YAML text, as go-yaml v3 (kustomize) reads it.

    Values are JSON-shaped: dicts with string keys, lists, str, int, float, bool, None.
    Raises ``yaml.YAMLError`` on malformed YAML and :class:`NonFiniteNumberError` for a
    plain ``.inf`` or ``.nan`` (JSON has no such numbers; quoted, they are strings).
    """
    loader = GoYamlV3Loader(text)
    try:
        documents = _documents(loader)
    finally:
        loader.dispose()
    if loader.non_finite:
        for document in documents:
            found = _find_non_finite(document, ())
            if found is not None:
                raise NonFiniteNumberError(document, *found)
    return documents


def _documents(loader: GoYamlV3Loader) -> list[Any]:
    documents = []
    while loader.check_data():
        document = loader.get_data()
        if document is not None:
            documents.append(document)
    return documents
