"""Grafana dashboards in ConfigMaps: valid JSON, unique uids, datasources that exist.

Grafana's file provisioner skips a dashboard it cannot parse and, of two dashboards with one
uid, keeps whichever it read last; a panel whose datasource does not exist renders "datasource
not found". None of it fails a deployment, so it is checked here. Dashboards are the ``*.json``
keys of ConfigMaps named ``grafana-dashboard-*`` (kube-prometheus's dashboard definitions) or
labelled ``grafana_dashboard`` (the sidecar's convention). Datasources are the provisioning
files in the ``grafana-datasources`` Secret; Grafana resolves a reference by uid, then by name.

A path into a dashboard continues after the ConfigMap key, as in
``$.data['x.json'].panels[2].datasource``.
Values from the datasources Secret (URLs, passwords) never appear in a message.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import yaml

from kubeprom_build.validation.findings import Finding, Manifest, Severity
from kubeprom_build.validation.objects import (
    items,
    mapping,
    member,
    name_of,
    of_kind,
    secret_entries,
    yaml_failure,
)

CHECK = "dashboards"
DATASOURCES_SECRET = "grafana-datasources"  # noqa: S105 (a Secret's name)
#: Names and uids Grafana provides itself (``-- Grafana --`` has the uid ``grafana``).
BUILTIN = {"-- Grafana --", "-- Mixed --", "-- Dashboard --", "grafana", "default"}
#: ``$var``, ``${var}``, ``${var:format}``, ``[[var]]``, ``[[var:format]]``.
_VARIABLE = re.compile(r"\$(\w+)|\$\{(\w+)(?::[^}]*)?\}|\[\[(\w+)(?::[^\]]*)?\]\]")
_UID = re.compile(r"[a-zA-Z0-9_-]*")
_UID_MAX = 40


@dataclass(frozen=True)
class _Dashboard:
    manifest: Manifest
    path: str
    body: Mapping[str, Any]


def check(manifests: Sequence[Manifest]) -> Iterator[Finding]:
    """Findings for every dashboard ConfigMap and the datasources Secret they refer to."""
    secrets = [m for m in of_kind(manifests, "Secret", "") if name_of(m) == DATASOURCES_SECRET]
    known: set[str] = set()
    unreadable: list[Finding] = []
    for secret in secrets:
        unreadable += _datasources(secret, known)
    yield from unreadable
    dashboards: list[_Dashboard] = []
    for manifest in of_kind(manifests, "ConfigMap", ""):
        if _holds_dashboards(manifest):
            yield from _parsed(manifest, dashboards)
    yield from _unique_uids(dashboards)
    if dashboards and not secrets:
        first = dashboards[0]
        message = f"no {DATASOURCES_SECRET} Secret: datasource names and uids are not checked"
        yield Finding.at(first.manifest, first.path, message, CHECK, Severity.WARNING)
    # Without every datasource file read, an unknown name proves nothing: check variables only.
    resolvable = known if secrets and not unreadable else None
    for dashboard in dashboards:
        yield from _references(dashboard, resolvable)


def _holds_dashboards(manifest: Manifest) -> bool:
    name = name_of(manifest) or ""
    labels = mapping(mapping(manifest.obj.get("metadata")).get("labels"))
    return name.startswith("grafana-dashboard-") or "grafana_dashboard" in labels


def _datasources(manifest: Manifest, known: set[str]) -> Iterator[Finding]:
    """Add the secret's datasource names and uids to ``known``; report files that do not parse."""
    for key, path, text in secret_entries(manifest):
        if not key.endswith((".yaml", ".yml", ".json")):
            continue
        if text is None:
            yield Finding.at(manifest, path, "not valid base64-encoded UTF-8", CHECK)
            continue
        try:
            document = yaml.safe_load(text)
        except (yaml.YAMLError, RecursionError, ValueError) as error:  # a datasource password
            yield Finding.at(manifest, path, f"not valid YAML{yaml_failure(error)}", CHECK)
            continue
        for source in items(mapping(document).get("datasources")):
            for field in ("name", "uid"):
                if isinstance(value := mapping(source).get(field), str):
                    known.add(value)


def _parsed(manifest: Manifest, dashboards: list[_Dashboard]) -> Iterator[Finding]:
    for key, value in mapping(manifest.obj.get("data")).items():
        if not isinstance(key, str) or not key.endswith(".json") or not isinstance(value, str):
            continue
        path = member("$.data", key)
        try:
            body = json.loads(value)
        except json.JSONDecodeError as error:
            message = f"invalid JSON at line {error.lineno}, column {error.colno}: {error.msg}"
            yield Finding.at(manifest, path, message, CHECK)
            continue
        except (RecursionError, ValueError) as error:  # too deep; an int over the digit limit
            deep = isinstance(error, RecursionError)
            why = "nested too deeply" if deep else "a number with too many digits"
            yield Finding.at(manifest, path, f"invalid JSON: {why}", CHECK)
            continue
        if not isinstance(body, Mapping):
            yield Finding.at(manifest, path, "a dashboard must be a JSON object", CHECK)
            continue
        dashboards.append(_Dashboard(manifest, path, body))


def _unique_uids(dashboards: list[_Dashboard]) -> Iterator[Finding]:
    first: dict[str, _Dashboard] = {}
    for dashboard in dashboards:
        uid = dashboard.body.get("uid")
        path = member(dashboard.path, "uid")
        if uid is None or uid == "":
            continue  # Grafana makes one up
        if not isinstance(uid, str) or len(uid) > _UID_MAX or not _UID.fullmatch(uid):
            message = f"uid must be at most {_UID_MAX} letters, digits, '-' or '_'"
            yield Finding.at(dashboard.manifest, path, message, CHECK)
        elif uid in first:
            other = first[uid]
            where = f"{other.manifest.file} {other.manifest.ref} {member(other.path, 'uid')}"
            message = f"dashboard uid {uid!r} is also used by {where}: Grafana keeps only one"
            yield Finding.at(dashboard.manifest, path, message, CHECK)
        else:
            first[uid] = dashboard


def _references(dashboard: _Dashboard, known: set[str] | None) -> Iterator[Finding]:
    variables = {
        name
        for entry in items(mapping(dashboard.body.get("templating")).get("list"))
        if isinstance(name := mapping(entry).get("name"), str)
    }
    for path, reference in _datasource_fields(dashboard.body, dashboard.path):
        if problem := _unresolved(reference, variables, known):
            yield Finding.at(dashboard.manifest, path, problem, CHECK)


@dataclass(frozen=True)
class _Reference:
    value: Any


def _datasource_fields(node: Any, path: str) -> Iterator[tuple[str, Any]]:
    """Every ``datasource`` value in the dashboard, with its path (panels, targets, variables…)."""
    stack: list[tuple[Any, str]] = [(node, path)]
    while stack:  # depth first, in document order
        node, path = stack.pop()
        children: list[tuple[Any, str]] = []
        if isinstance(node, Mapping):
            for key, value in node.items():
                if key == "datasource":
                    children.append((_Reference(value), member(path, key)))
                elif isinstance(value, Mapping | list):
                    children.append((value, member(path, key)))
        elif isinstance(node, list):
            children = [(value, member(path, i)) for i, value in enumerate(node)]
        elif isinstance(node, _Reference):
            yield path, node.value
        stack.extend(reversed(children))


def _unresolved(reference: Any, variables: set[str], known: set[str] | None) -> str | None:
    """Why Grafana cannot resolve ``reference`` (a name, a uid or ``{type, uid}``), or None."""
    if isinstance(reference, Mapping):
        reference = reference.get("uid")
    if reference is None or not isinstance(reference, str) or reference == "":
        return None  # the default datasource (of the given type)
    used = [next(filter(None, match.groups())) for match in _VARIABLE.finditer(reference)]
    if used:
        missing = [name for name in used if name not in variables]
        if missing:
            return f"datasource variable ${missing[0]} is not declared in templating.list"
        return None
    if reference in BUILTIN or known is None or reference in known:
        return None
    return f"datasource {reference!r} is neither a provisioned datasource uid or name nor built in"
