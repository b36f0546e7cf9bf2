"""Turn JSON-schema errors into findings whose messages never quote the object's values.

Validators write messages like ``'hooks.slack.com/…' is not of type "integer"``: the value is
quoted, and in a Secret or an Alertmanager configuration that value is a credential. So the
message is rebuilt here from the rule that failed (its keyword and the schema's own data, such
as the expected types or the allowed values) and the *type* of the value, never the value.
Field names (keys) are shown: they are part of the schema's vocabulary, not the data.
jsonschema-rs also gets a ``mask`` so that even its own text hides values.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from kubeprom_build.validation.findings import Finding, Manifest, json_path

if TYPE_CHECKING:  # loaded on first use: reading settings must not load the validator
    import jsonschema_rs

#: What jsonschema-rs puts in place of a value in its own messages (never shown by kpb).
MASK = "***"
_SHOWN_OPTIONS = 8
NOT_JSON = (
    "holds a value JSON cannot represent (a key that is not a string, binary data, a set); "
    "not validated"
)


def findings(
    validator: jsonschema_rs.Validator, manifest: Manifest, check: str, schema_name: str
) -> Iterator[Finding]:
    """Every schema violation of ``manifest``, one finding each, at the value's JSON path."""
    try:
        errors = list(validator.iter_errors(manifest.obj))
    except (ValueError, OverflowError):  # a YAML file can hold what JSON cannot
        yield Finding.at(manifest, "$", NOT_JSON, check)
        return
    for error in errors:
        parts: list[str | int] = list(error.instance_path)
        for path, message in _describe(error, parts, manifest.obj):
            yield Finding.at(manifest, json_path(path), f"{message} ({schema_name})", check)


def _describe(
    error: jsonschema_rs.ValidationError, parts: list[str | int], obj: Any
) -> Iterator[tuple[Sequence[str | int], str]]:
    kind = error.kind
    name = kind.name
    data: Mapping[str, Any] = kind.as_dict()
    got = type_name(value_at(obj, parts))
    if name == "additionalProperties" or name == "unevaluatedProperties":
        for field in data.get("unexpected", []):
            yield [*parts, str(field)], f"unknown field '{field}'"
        return
    if name == "required":
        yield parts, f"missing required field '{data.get('property')}'"
        return
    yield parts, _message(name, data, got, error)


def _message(
    name: str, data: Mapping[str, Any], got: str, error: jsonschema_rs.ValidationError
) -> str:
    if name == "type":
        return f"expected {_types(data.get('types', []))}, got {got}"
    if name == "enum":
        return f"must be one of {_options(data.get('options', []))}, got another {got}"
    if name == "const":
        return f"must be {_short(data.get('expected_value'))}"
    if type(error.kind).__name__ == "OneOfMultipleValid":
        return "matches more than one of the allowed forms"
    if name in ("oneOf", "anyOf"):
        return _alternatives(data, got)
    if name == "pattern":
        return f"does not match the pattern {_short(data.get('pattern'))}"
    if name == "format":
        return f"is not a valid {data.get('format')}"
    limits = {
        "minLength": ("shorter than", "limit", "characters"),
        "maxLength": ("longer than", "limit", "characters"),
        "minItems": ("fewer than", "limit", "items"),
        "maxItems": ("more than", "limit", "items"),
        "minProperties": ("fewer than", "limit", "fields"),
        "maxProperties": ("more than", "limit", "fields"),
        "minimum": ("less than", "limit", ""),
        "maximum": ("more than", "limit", ""),
        "exclusiveMinimum": ("at most", "limit", ""),
        "exclusiveMaximum": ("at least", "limit", ""),
    }
    if name in limits:
        words, key, unit = limits[name]
        return f"{got} {words} {data.get(key)}{f' {unit}' if unit else ''}".strip()
    if name == "uniqueItems":
        return "items must be unique"
    if name == "multipleOf":
        return f"must be a multiple of {data.get('multiple_of')}"
    return f"fails the schema's '{name}' rule"


def _alternatives(data: Mapping[str, Any], got: str) -> str:
    """``oneOf``/``anyOf``: name the expected types when every branch failed on its type."""
    branches = data.get("context")
    types: list[str] = []
    if isinstance(branches, list):
        for branch in branches:
            kinds = [e.kind for e in branch] if isinstance(branch, list) else []
            if len(kinds) != 1 or kinds[0].name != "type":
                return f"matches none of the allowed forms for a {got}"
            types.extend(t for t in kinds[0].as_dict().get("types", []) if t not in types)
    if types:
        return f"expected {_types(types)}, got {got}"
    return f"matches none of the allowed forms for a {got}"


def value_at(obj: Any, parts: Sequence[str | int]) -> Any:
    """The value at ``parts`` (None when the path does not lead anywhere)."""
    for part in parts:
        if isinstance(obj, Mapping) and isinstance(part, str):
            obj = obj.get(part)
        elif isinstance(obj, list) and isinstance(part, int) and 0 <= part < len(obj):
            obj = obj[part]
        else:
            return None
    return obj


def type_name(value: Any) -> str:
    """The JSON type of ``value`` as a schema names it (``integer``, ``object``, …)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def _types(types: Sequence[Any]) -> str:
    shown = [str(t) for t in types if t != "null"] or [str(t) for t in types]
    return " or ".join(shown)


def _options(options: Sequence[Any]) -> str:
    shown = ", ".join(_short(o) for o in options[:_SHOWN_OPTIONS])
    more = f" and {len(options) - _SHOWN_OPTIONS} more" if len(options) > _SHOWN_OPTIONS else ""
    return f"{shown}{more}"


def _short(value: Any) -> str:
    text = repr(value) if isinstance(value, str) else str(value)
    return text if len(text) <= 60 else f"{text[:57]}..."


def compile_schema(
    schema: Mapping[str, Any], registry: jsonschema_rs.Registry | None = None
) -> jsonschema_rs.Validator:
    """A jsonschema-rs validator that masks values in its own text and ignores ``format``.

    Patterns use Rust's ``regex`` syntax, which like Go's RE2 (what the API server uses)
    accepts inline flags such as ``(?i)`` anywhere; ECMA-262 regexes would refuse them.
    """
    import jsonschema_rs

    return jsonschema_rs.validator_for(
        dict(schema),
        registry=registry,
        mask=MASK,
        validate_formats=False,
        pattern_options=jsonschema_rs.RegexOptions(),
    )
