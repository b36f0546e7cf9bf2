"""JSON's own names for the types of values from ``json.loads``, for error messages.

Both halves tell a user which kind of JSON value they wrote where another was expected (a
jsonnetfile field, an environment's output), and both must say it the same way.
"""

from __future__ import annotations

_NAMES = {dict: "object", list: "array", str: "string", bool: "boolean", type(None): "null"}


def type_name(value: object) -> str:
    """``"object"``, ``"array"``, ``"string"``, ``"boolean"``, ``"null"`` or ``"number"``."""
    return _NAMES.get(type(value), "number")


def a_type_name(value: object) -> str:
    """:func:`type_name` as a message reads it: ``"an object"``, ``"a string"``, ``"null"``."""
    name = type_name(value)
    if name == "null":
        return name
    return f"an {name}" if name[0] in "aeiou" else f"a {name}"
