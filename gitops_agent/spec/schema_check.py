"""JSON Schema validation of one document, turned into located diagnostics.

The schemas live in the repository's top-level ``schemas/`` directory (the contract users
see). They are found next to the package source (``<repo>/schemas``, which covers the
editable install and a source checkout) or, for a wheel, in the package's bundled copy
``gitops_agent/spec/schemas`` (in the source tree a symlink to ``../../schemas``, which
setuptools copies into the wheel as package data).

Messages are written here rather than taken from jsonschema, so that they are short, name
the field, and never echo a value that could be a secret (anything under ``env`` or
``config``). A schema may carry an ``x-error`` message used for its pattern/type failures.
"""

from __future__ import annotations

import difflib
import json
import math
from collections.abc import Iterator, Mapping
from functools import cache
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError

from gitops_agent.errors import Diagnostic
from gitops_agent.spec.yaml_positions import Document, YamlPath

SCHEMA_NAMES = ("workflow", "environment")


def schema_dir() -> Path:
    """The directory holding ``workflow.schema.json`` and ``environment.schema.json``."""
    here = Path(__file__).resolve()
    for candidate in (here.parents[2] / "schemas", here.parent / "schemas"):
        if (candidate / "workflow.schema.json").is_file():
            return candidate
    raise FileNotFoundError(f"JSON Schemas not found next to {here.parent}")


@cache
def load_schema(name: str) -> Mapping[str, Any]:
    """The parsed JSON Schema ``<name>.schema.json`` (``workflow`` or ``environment``)."""
    with (schema_dir() / f"{name}.schema.json").open(encoding="utf-8") as handle:
        schema: dict[str, Any] = json.load(handle)
    return schema


@cache
def _validator(name: str) -> Draft202012Validator:
    return Draft202012Validator(load_schema(name))


def check_schema(document: Document, name: str, *, prefix: YamlPath = ()) -> list[Diagnostic]:
    """Validate ``document.data`` against schema ``name``; one diagnostic per problem."""
    return check_value(
        document.data,
        name,
        lambda path, msg, key: document.diagnostic((*prefix, *path), msg, key=key),
    )


def check_value(
    value: Any,
    name: str,
    report: Any,
) -> list[Diagnostic]:
    """Validate ``value``; ``report(path, message, key)`` turns a problem into a diagnostic."""
    out: list[Diagnostic] = []
    seen: set[tuple[YamlPath, str]] = set()
    for path, message, key in _problems(_validator(name).iter_errors(value)):
        if (path, message) in seen:
            continue
        seen.add((path, message))
        out.append(report(path, message, key))
    out.extend(report(path, NOT_FINITE, False) for path in non_finite(value))
    return out


NOT_FINITE = "must be a finite number (JSON and Kubernetes objects have no NaN or Infinity)"


def non_finite(value: Any, path: YamlPath = ()) -> Iterator[YamlPath]:
    """Paths of the NaN and ±Inf numbers in ``value`` (YAML's ``.nan``, ``.inf``, ``-.inf``,
    or an overflowing literal such as ``1e999``): JSON Schema's ``number`` admits them, but
    RFC 8259 JSON, and so every Kubernetes object and JSON file compiled from them, has none."""
    if isinstance(value, float) and not math.isfinite(value):
        yield path
    elif isinstance(value, Mapping):
        for key, item in value.items():
            yield from non_finite(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from non_finite(item, (*path, index))


def _problems(errors: Iterator[ValidationError]) -> Iterator[tuple[YamlPath, str, bool]]:
    for error in errors:
        yield from _explain(error)


def _explain(error: ValidationError) -> Iterator[tuple[YamlPath, str, bool]]:
    path: YamlPath = tuple(error.absolute_path)
    validator = str(error.validator)
    schema = error.schema if isinstance(error.schema, Mapping) else {}
    custom = schema.get("x-error")
    if "propertyNames" in error.relative_schema_path or "propertyNames" in list(error.absolute_schema_path):
        key = str(error.instance)
        yield (*path, key), custom or f"{_show(key)} is not a valid name here", True
        return
    if validator == "additionalProperties" and schema.get("additionalProperties") is False:
        allowed = sorted(schema.get("properties", {}))
        for extra in sorted(set(error.instance) - set(allowed)):
            hint = difflib.get_close_matches(extra, allowed, n=1)
            suggestion = f" (did you mean {hint[0]!r}?)" if hint else ""
            yield (*path, extra), f"unknown field {extra!r}{suggestion}", True
        return
    if validator == "required":
        missing = [m for m in error.validator_value if m not in error.instance]
        for name in missing:
            yield (*path, name), f"required field {name!r} is missing", True
        return
    if validator == "anyOf" and custom:  # one message for "one of these is needed"
        yield path, str(custom), False
        return
    if validator in ("if", "then", "else", "oneOf", "anyOf", "allOf") and error.context:
        for sub in error.context:
            yield from _explain(sub)
        return
    yield path, _message(error, path, custom), False


def _message(error: ValidationError, path: YamlPath, custom: Any) -> str:
    validator = str(error.validator)
    expected = error.validator_value
    instance = error.instance
    secret_area = any(part in ("env", "config") for part in path if isinstance(part, str))
    if validator in ("pattern", "type", "minProperties", "maxProperties") and custom:
        return str(custom)
    if validator == "type":
        wanted = expected if isinstance(expected, list) else [expected]
        return f"must be {' or '.join(_article(t) for t in wanted)}, not {_json_type(instance)}"
    if validator == "const":
        return f"must be {expected!r}" + ("" if secret_area else f", not {_show(instance)}")
    if validator == "pattern":
        shown = "value" if secret_area else _show(instance)
        return f"{shown} does not match the pattern {expected}"
    if validator == "minLength" and expected == 1:
        return "must not be empty"
    if validator == "enum":
        return "must be one of: " + ", ".join(str(v) for v in expected)
    template = _BOUND_MESSAGES.get(validator)
    return template.format(expected) if template is not None else f"is invalid ({validator})"


_BOUND_MESSAGES = {
    "minimum": "must be at least {}",
    "exclusiveMinimum": "must be greater than {}",
    "maximum": "must be at most {}",
    "exclusiveMaximum": "must be less than {}",
    "minLength": "must have at least {} characters",
    "maxLength": "must have at most {} characters",
    "minItems": "must have at least {} items",
    "maxItems": "must have at most {} items",
    "uniqueItems": "items must be unique",
    "minProperties": "must have at least {} entries",
    "maxProperties": "must have at most {} entries",
}
"""JSON Schema keywords whose message only names the schema's value."""


def _article(json_type: str) -> str:
    names = {
        "object": "a mapping",
        "array": "a list",
        "string": "a string",
        "integer": "an integer",
        "number": "a number",
        "boolean": "a boolean",
        "null": "null",
    }
    return names.get(json_type, json_type)


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return type(value).__name__


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "…"
