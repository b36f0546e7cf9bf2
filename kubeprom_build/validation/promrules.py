"""PrometheusRule objects: what Prometheus itself checks when it loads a rule file.

The Prometheus Operator copies each PrometheusRule into a rule file, and Prometheus rejects a
file with one bad expression, duration or template as a whole: every alert in it silently never
fires. So each rule's ``expr`` goes through a real PromQL parser (``promql-parser``, the Rust
parser's bindings), durations through Prometheus's duration grammar, names through the label
grammar, and alert label and annotation values through :mod:`gotemplate`. Shapes that a CRD
schema rejects (a string where a list belongs) are skipped here: the schema check reports them.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import promql_parser

from kubeprom_build.validation import gotemplate
from kubeprom_build.validation.findings import Finding, Manifest, Severity
from kubeprom_build.validation.objects import duration_error, items, mapping, member, of_kind

CHECK = "promrules"
GROUP = "monitoring.coreos.com"

# The classic (pre-UTF-8) grammar: what every Prometheus accepts and PromQL reads unquoted.
_METRIC_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
_LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")


def check(manifests: Sequence[Manifest]) -> Iterator[Finding]:
    """Findings for every PrometheusRule among ``manifests``."""
    for manifest in of_kind(manifests, "PrometheusRule", GROUP):
        groups = mapping(manifest.obj.get("spec")).get("groups")
        seen: dict[str, int] = {}
        for index, group in enumerate(items(groups)):
            path = member("$.spec.groups", index)
            name = mapping(group).get("name")
            if isinstance(name, str) and name in seen:
                message = f"group name {name!r} repeats groups[{seen[name]}]: Prometheus rejects it"
                yield Finding.at(manifest, member(path, "name"), message, CHECK)
            elif isinstance(name, str):
                seen[name] = index
            yield from _group(manifest, path, mapping(group))


def _group(manifest: Manifest, path: str, group: Mapping[str, Any]) -> Iterator[Finding]:
    for key in ("interval", "query_offset"):
        if key in group and (error := duration_error(group[key])):
            yield Finding.at(manifest, member(path, key), error, CHECK)
    first: dict[tuple[str, str, frozenset[tuple[Any, Any]], str], int] = {}
    for index, rule in enumerate(items(group.get("rules"))):
        if not isinstance(rule, Mapping):
            continue  # the schema check reports it
        rule_path = member(member(path, "rules"), index)
        yield from _rule(manifest, rule_path, rule)
        identity = _identity(rule)
        if identity is None:
            continue
        if identity in first:
            kind, name, _, expr = identity
            alike = "labels and expression" if expr else "labels"
            message = f"{kind} {name!r} repeats rules[{first[identity]}] with the same {alike}"
            yield Finding.at(manifest, member(rule_path, kind), message, CHECK, Severity.WARNING)
        else:
            first[identity] = index


def _identity(rule: Mapping[str, Any]) -> tuple[str, str, frozenset[tuple[Any, Any]], str] | None:
    """What makes two rules of a group the same rule twice (a copy, or a rename gone wrong).

    An alert: its name and static labels. The same name with other labels is the usual
    severity ladder (warning at 80 %, critical at 95 %). A record: name, labels and expression,
    since upstream writes one record from several expressions over disjoint series
    (``code_verb:apiserver_request_total:increase1h`` per status class).
    """
    labels = frozenset(
        (k, v) for k, v in mapping(rule.get("labels")).items() if isinstance(v, str | int | float)
    )
    alert, record, expr = rule.get("alert"), rule.get("record"), rule.get("expr")
    if isinstance(alert, str) and alert:
        return "alert", alert, labels, ""
    if isinstance(record, str) and record:
        return "record", record, labels, str(expr).strip()
    return None


def _rule(manifest: Manifest, path: str, rule: Mapping[str, Any]) -> Iterator[Finding]:
    alert, record = rule.get("alert"), rule.get("record")
    if not alert and not record:
        yield Finding.at(manifest, path, "one of 'record' or 'alert' must be set", CHECK)
        return
    if alert and record:
        yield Finding.at(manifest, path, "only one of 'record' and 'alert' may be set", CHECK)
        return
    expr = rule.get("expr")
    if isinstance(expr, str | int) and (too_big := _beyond_parser(str(expr))):
        message = f"PromQL not checked: {too_big}"
        yield Finding.at(manifest, member(path, "expr"), message, CHECK, Severity.WARNING)
    elif isinstance(expr, str | int) and (error := _promql_error(str(expr))):
        yield Finding.at(manifest, member(path, "expr"), f"invalid PromQL: {error}", CHECK)
    if record:
        yield from _recording(manifest, path, rule)
    else:
        yield from _alerting(manifest, path, rule)
    yield from _labels(manifest, path, rule)


#: The parser recurses natively: 10,000 nested parentheses crash the process (SIGSEGV), a
#: chain of 8,000 operators too, and time grows with the square of the operators (4,000:
#: 3 s). Real rules stay far below (kube-prometheus: 1,486 characters, 8 levels).
_MAX_EXPR_CHARS = 8192
_MAX_EXPR_DEPTH = 64


def _beyond_parser(expr: str) -> str | None:
    """Why ``expr`` is too large to hand to the parser safely, or None."""
    if len(expr) > _MAX_EXPR_CHARS:
        return f"longer than {_MAX_EXPR_CHARS} characters"
    depth = deepest = 0
    for char in expr:
        if char in "([{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in ")]}":
            depth -= 1
    if deepest > _MAX_EXPR_DEPTH:
        return f"brackets nested deeper than {_MAX_EXPR_DEPTH} levels"
    return None


def _promql_error(expr: str) -> str | None:
    try:
        promql_parser.parse(expr)
    except ValueError as error:
        return str(error) or "syntax error"
    return None


def _recording(manifest: Manifest, path: str, rule: Mapping[str, Any]) -> Iterator[Finding]:
    record = rule["record"]
    if isinstance(record, str) and not _METRIC_NAME.fullmatch(record):
        message = (
            f"record {record!r} is not a classic metric name ([a-zA-Z_:][a-zA-Z0-9_:]*): "
            "Prometheus 2 rejects it, Prometheus 3 needs it quoted in every query"
        )
        yield Finding.at(manifest, member(path, "record"), message, CHECK, Severity.WARNING)
    for key in ("for", "keep_firing_for", "annotations"):
        if key in rule:
            message = f"a recording rule has no {key!r}: Prometheus rejects the group"
            yield Finding.at(manifest, member(path, key), message, CHECK)


def _alerting(manifest: Manifest, path: str, rule: Mapping[str, Any]) -> Iterator[Finding]:
    for key in ("for", "keep_firing_for"):
        if key in rule and (error := duration_error(rule[key])):
            yield Finding.at(manifest, member(path, key), error, CHECK)
    for field in ("labels", "annotations"):
        for key, value in mapping(rule.get(field)).items():
            if isinstance(value, str):
                yield from _template(manifest, member(member(path, field), key), value)


def _template(manifest: Manifest, path: str, text: str) -> Iterator[Finding]:
    if error := gotemplate.syntax_error(text):
        yield Finding.at(manifest, path, f"template: {error.located(text)}", CHECK)
    elif (offset := gotemplate.stray_closers(text)) is not None:
        located = gotemplate.TemplateError(offset, "'}}' outside an action is printed as is")
        message = f"template: {located.located(text)}; a lost '{{{{'?"
        yield Finding.at(manifest, path, message, CHECK, Severity.WARNING)


def _labels(manifest: Manifest, path: str, rule: Mapping[str, Any]) -> Iterator[Finding]:
    for field in ("labels", "annotations"):
        for key in mapping(rule.get(field)):
            key_path = member(member(path, field), key)
            what = field[:-1]
            if not isinstance(key, str) or not key or (key == "__name__" and field == "labels"):
                yield Finding.at(manifest, key_path, f"invalid {what} name {key!r}", CHECK)
            elif not _LABEL_NAME.fullmatch(key):
                message = (
                    f"{what} name {key!r} is not a classic label name ([a-zA-Z_][a-zA-Z0-9_]*): "
                    "Prometheus 2 rejects it"
                )
                yield Finding.at(manifest, key_path, message, CHECK, Severity.WARNING)
