"""A tiny JSON Schema validator for kpb's ``--json`` schema (docs/json-schema.json).

It implements only the keywords that schema uses (type, enum, properties, required,
additionalProperties, items, anyOf, $ref into $defs, minimum) and fails on any other, so the
schema cannot silently grow a keyword the tests ignore. kpb keeps ``jsonschema`` out of its
dependencies; this is enough to hold every test's output to the documented shape.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

SCHEMA_PATH = Path(__file__).resolve().parents[2] / "docs" / "json-schema.json"
_KNOWN = {
    "$schema",
    "$id",
    "$defs",
    "$ref",
    "title",
    "description",
    "type",
    "enum",
    "properties",
    "required",
    "additionalProperties",
    "items",
    "anyOf",
    "minimum",
}
_TYPES: dict[str, tuple[type, ...]] = {
    "object": (dict,),
    "array": (list,),
    "string": (str,),
    "boolean": (bool,),
    "null": (type(None),),
    "integer": (int,),
    "number": (int, float),
}


class SchemaError(AssertionError):
    """The document does not match the schema (the message gives the JSON path)."""


def _is_type(value: Any, name: str) -> bool:
    if name in ("integer", "number") and isinstance(value, bool):
        return False
    return isinstance(value, _TYPES[name])


def validate(value: Any, schema: dict[str, Any], root: dict[str, Any], path: str = "$") -> None:
    """Raise :class:`SchemaError` naming the first place ``value`` breaks ``schema``."""
    unknown = set(schema) - _KNOWN
    if unknown:
        raise SchemaError(f"schema keyword(s) not supported by the test validator: {unknown}")
    if "$ref" in schema:
        name = schema["$ref"].removeprefix("#/$defs/")
        validate(value, root["$defs"][name], root, path)
    if "type" in schema:
        names = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
        if not any(_is_type(value, n) for n in names):
            raise SchemaError(f"{path}: {value!r} is not of type {names}")
    if "enum" in schema and not any(value == e and type(value) is type(e) for e in schema["enum"]):
        raise SchemaError(f"{path}: {value!r} not in {schema['enum']}")
    if "minimum" in schema and value < schema["minimum"]:
        raise SchemaError(f"{path}: {value!r} < {schema['minimum']}")
    if "anyOf" in schema:
        problems = []
        for option in schema["anyOf"]:
            try:
                validate(value, option, root, path)
                break
            except SchemaError as err:
                problems.append(str(err))
        else:
            raise SchemaError(f"{path}: matches none of anyOf: {problems}")
    if isinstance(value, dict):
        for key in schema.get("required", []):
            if key not in value:
                raise SchemaError(f"{path}: missing {key!r}")
        properties = schema.get("properties", {})
        for key, item in value.items():
            if key in properties:
                validate(item, properties[key], root, f"{path}.{key}")
            elif schema.get("additionalProperties") is False:
                raise SchemaError(f"{path}: unexpected member {key!r}")
    if isinstance(value, list) and "items" in schema:
        for index, item in enumerate(value):
            validate(item, schema["items"], root, f"{path}[{index}]")


def load_schema() -> dict[str, Any]:
    schema: dict[str, Any] = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    return schema


def check_document(text: str) -> dict[str, Any]:
    """Parse ``text`` as exactly one JSON object and validate it, with its command's result."""
    doc = json.loads(text)  # fails on anything before or after the one object
    schema = load_schema()
    validate(doc, schema, schema)
    if doc["command"] is not None and doc["result"] is not None:
        validate(doc["result"], schema["$defs"][f"result_{doc['command']}"], schema, "$.result")
    if doc["ok"] != (doc["exit_code"] == 0):
        raise SchemaError("$.ok must be true exactly when exit_code is 0")
    if doc["exit_code"] not in (0, 1) and doc["error"] is None:
        raise SchemaError("$.error must be set when exit_code is neither 0 nor 1")
    return dict(doc)
