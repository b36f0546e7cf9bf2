"""JSON type names: the words both halves use when a value has the wrong type."""

from __future__ import annotations

import json

import pytest

from kubeprom_build.jsonvalues import a_type_name, type_name


@pytest.mark.parametrize(
    ("text", "name", "phrase"),
    [
        ("{}", "object", "an object"),
        ("[]", "array", "an array"),
        ('""', "string", "a string"),
        ("true", "boolean", "a boolean"),
        ("null", "null", "null"),
        ("1", "number", "a number"),
        ("1.5", "number", "a number"),
    ],
)
def test_every_json_value_has_its_json_name(text: str, name: str, phrase: str) -> None:
    value = json.loads(text)
    assert (type_name(value), a_type_name(value)) == (name, phrase)
