"""Read gojsontoyaml output back into JSON values the way go-yaml types plain scalars.

PyYAML's ``safe_load`` is YAML 1.1 with its own resolver (``1e+06`` stays a string, ``<<`` is a
merge key), so it cannot recover the JSON a committed manifest came from. This loader composes
with PyYAML and types plain scalars with a small, independent go-yaml-like table: enough for
manifests, where numbers are plain decimals and every ambiguous string is quoted.
"""

from __future__ import annotations

import re

import yaml

_BOOLS = {
    **dict.fromkeys(("y", "Y", "yes", "Yes", "YES", "true", "True", "TRUE"), True),
    **dict.fromkeys(("on", "On", "ON"), True),
    **dict.fromkeys(("n", "N", "no", "No", "NO", "false", "False", "FALSE"), False),
    **dict.fromkeys(("off", "Off", "OFF"), False),
}
_NULLS = frozenset(("~", "null", "Null", "NULL"))
_INT = re.compile(r"[-+]?[0-9]+")
_FLOAT = re.compile(r"[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?")
_SPECIAL_FLOATS = {".inf": float("inf"), "-.inf": float("-inf"), ".nan": float("nan")}


def load_like_go(text: str) -> object:
    """The JSON value behind one YAML document written by gojsontoyaml."""
    node = yaml.compose(text, Loader=yaml.CBaseLoader)
    return _value(node)


def _value(node: yaml.Node) -> object:
    if isinstance(node, yaml.MappingNode):
        return {_value(key): _value(value) for key, value in node.value}
    if isinstance(node, yaml.SequenceNode):
        return [_value(item) for item in node.value]
    assert isinstance(node, yaml.ScalarNode)
    text: str = node.value
    return text if node.style else _plain(text)


def _plain(text: str) -> object:
    if text in _BOOLS:
        return _BOOLS[text]
    if text in _NULLS:
        return None
    if text.lower() in _SPECIAL_FLOATS:
        return _SPECIAL_FLOATS[text.lower()]
    if _INT.fullmatch(text) and -(2**63) <= int(text) < 2**64:
        return int(text)
    if _FLOAT.fullmatch(text):
        value = float(text)
        # go-yaml keeps a plain scalar whose ParseFloat fails (out of range: 1e580) a string
        if value not in (float("inf"), float("-inf")):
            return value
    return text
