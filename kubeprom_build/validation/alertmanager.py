"""The Alertmanager configuration: what Alertmanager checks when it loads it, and where alerts go.

Two sources: the ``alertmanager.yaml`` key of a Secret (kube-prometheus: ``alertmanager-main``,
in ``stringData`` or base64 ``data``), which Alertmanager loads as is and rejects whole on any
error (the running one keeps its old config, so the mistake stays invisible); and
AlertmanagerConfig objects, which the Prometheus Operator merges in and skips when invalid.
Both are read into a small routing model: routes with their matchers (:mod:`matchers`), the
receivers, the inhibit rules. :func:`explain_routes` walks that model the way Alertmanager's
dispatcher does, to show where each severity and each specially routed alert ends up.

This config holds webhook URLs, passwords and tokens. A finding or a routing table never
quotes a value from it other than receiver names, label names and values in matchers, and
field names: paths say where a problem is, messages say what kind it is. Even those are quoted
only when they look like what they should be (``objects.shown``: a name, not a URL pasted into
the wrong field), and a YAML error gives its line and column, never the line.

A path into the embedded document continues after the key that holds it:
``$.stringData['alertmanager.yaml'].route.routes[1].receiver``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Hashable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import yaml

from kubeprom_build.validation import gotemplate
from kubeprom_build.validation.findings import Finding, Manifest, Severity
from kubeprom_build.validation.matchers import (
    LABEL_NAME,
    Matcher,
    MatcherError,
    new_matcher,
    parse_matchers,
)
from kubeprom_build.validation.objects import (
    duration_error,
    items,
    looks_like_name,
    mapping,
    member,
    of_kind,
    secret_entries,
    shown,
    shown_text,
    yaml_failure,
)

CHECK = "alertmanager"
CONFIG_KEY = "alertmanager.yaml"
GROUP = "monitoring.coreos.com"
SEVERITIES = ("critical", "warning", "info", "none")

# Fields as of Alertmanager's main branch after v0.34 (route and receiver labels, mattermost,
# event_recorder): a superset of older releases, so no config for an older one is refused.
_TOP = {
    "global",
    "route",
    "receivers",
    "inhibit_rules",
    "templates",
    "time_intervals",
    "mute_time_intervals",
    "tracing",
    "event_recorder",
}
_ROUTE = {
    "receiver",
    "group_by",
    "continue",
    "match",
    "match_re",
    "matchers",
    "routes",
    "group_wait",
    "group_interval",
    "repeat_interval",
    "mute_time_intervals",
    "active_time_intervals",
    "labels",
}
_INHIBIT = {f"{side}_{how}" for side in ("source", "target") for how in ("match", "match_re")}
_INHIBIT |= {"source_matchers", "target_matchers", "equal"}
_INTEGRATIONS = {
    f"{name}_configs"
    for name in (
        *("discord", "email", "incidentio", "jira", "msteams", "msteamsv2", "opsgenie"),
        *("pagerduty", "pushover", "rocketchat", "slack", "sns", "telegram", "victorops"),
        *("webex", "webhook", "wechat", "mattermost"),
    )
}
# Text fields of the integrations that Alertmanager renders as Go templates (at notification
# time: a syntax error there fails every notification, silently).
_TEMPLATED = {
    *("title", "title_link", "pretext", "text", "fallback", "footer", "channel", "username"),
    *("color", "message", "description", "summary", "subject", "html", "client", "client_url"),
    *("severity", "class", "component", "group", "source", "note", "tags"),
}
_LITERAL_NAME = re.compile(r"[A-Za-z0-9_:]+")


@dataclass(frozen=True)
class Route:
    """One node of the routing tree; ``receiver`` is already inherited from the parent."""

    receiver: str
    matchers: tuple[Matcher, ...]
    proceed: bool  # Alertmanager's ``continue``
    routes: tuple[Route, ...]


@dataclass(frozen=True)
class InhibitRule:
    source: tuple[Matcher, ...]
    target: tuple[Matcher, ...]
    equal: tuple[str, ...]

    def __str__(self) -> str:
        source = ", ".join(_matcher_shown(m) for m in self.source) or "any alert"
        return f"{source} (equal: {', '.join(self.equal)})" if self.equal else source


@dataclass(frozen=True)
class Config:
    route: Route
    receivers: Mapping[str, bool]  # name → has at least one integration
    inhibit_rules: tuple[InhibitRule, ...]


@dataclass(frozen=True)
class RoutedAlert:
    """One row of a routing table: an example alert and what Alertmanager does with it.

    ``nowhere`` is true when every receiver it reaches has no integration (a null receiver).
    ``inhibited_by`` lists the inhibit rules whose targets match it, by their source matchers.
    """

    labels: tuple[tuple[str, str], ...]
    receivers: tuple[str, ...]
    nowhere: bool
    inhibited_by: tuple[str, ...]

    def describe(self) -> str:
        """One line: ``severity="info" → slack-warning; inhibited by: …``."""
        labels = ", ".join(f'{name}="{value}"' for name, value in self.labels)
        line = f"{labels} → {', '.join(self.receivers)}"
        if self.nowhere:
            line += " (no integration: the alert goes nowhere)"
        if self.inhibited_by:
            line += f"; inhibited by: {'; '.join(self.inhibited_by)}"
        return line


@dataclass(frozen=True)
class RoutingTable:
    """Where alerts go under one Alertmanager configuration (a Secret's ``alertmanager.yaml``)."""

    file: str
    ref: str
    path: str
    alerts: tuple[RoutedAlert, ...]


def check(manifests: Sequence[Manifest]) -> Iterator[Finding]:
    """Findings for every Alertmanager config Secret and AlertmanagerConfig object."""
    for manifest, path, text in _config_secrets(manifests):
        reader = _Reader()
        reader.read(text)
        for problem in reader.problems:
            where = path + problem.path[1:]
            yield Finding.at(manifest, where, problem.message, CHECK, problem.severity)
    for manifest in of_kind(manifests, "AlertmanagerConfig", GROUP):
        for problem in _custom_resource(mapping(manifest.obj.get("spec"))):
            yield Finding.at(manifest, problem.path, problem.message, CHECK, problem.severity)


def explain_routes(manifests: Sequence[Manifest]) -> list[RoutingTable]:
    """A routing table per valid config Secret: each severity, then each alert name it pins.

    The example alerts carry only the labels shown (``severity=…``, or ``alertname=…`` with the
    equality matchers of the route naming it); a route that needs other labels (``namespace``)
    does not match them, as it would not match such an alert.
    """
    tables = []
    for manifest, path, text in _config_secrets(manifests):
        reader = _Reader()
        config = reader.read(text)
        if config is None or any(p.severity is Severity.ERROR for p in reader.problems):
            continue
        examples = [{"severity": s} for s in SEVERITIES]
        examples += _named_alerts(config)
        rows = tuple(_routed(config, labels) for labels in examples)
        tables.append(RoutingTable(manifest.file, manifest.ref, path, rows))
    return tables


def _config_secrets(manifests: Sequence[Manifest]) -> Iterator[tuple[Manifest, str, str | None]]:
    for manifest in of_kind(manifests, "Secret", ""):
        for key, path, text in secret_entries(manifest):
            if key == CONFIG_KEY:
                yield manifest, path, text


def _routed(config: Config, labels: Mapping[str, str]) -> RoutedAlert:
    reached = tuple(dict.fromkeys(route.receiver for route in _match(config.route, labels)))
    inhibited = tuple(
        str(rule)
        for rule in config.inhibit_rules
        if all(m.matches(labels) for m in rule.target)  # no target matchers: every alert
    )
    nowhere = not any(config.receivers.get(name, False) for name in reached)
    # Receiver names and label values are quoted only when they look like names (a webhook
    # URL pasted as a receiver name, or as a matcher's value, stays unsaid), as in findings.
    receivers = tuple(r if looks_like_name(r) else _HIDDEN_RECEIVER for r in reached)
    shown_labels = tuple((k, _value_shown(v)) for k, v in sorted(labels.items()))
    return RoutedAlert(shown_labels, receivers, nowhere, inhibited)


_HIDDEN_RECEIVER = "(a receiver not shown)"


def _value_shown(value: str) -> str:
    """A label value as a routing table shows it: as is, unless long or a URL."""
    return value if shown_text(value).startswith("'") else "(not shown)"


def _matcher_shown(matcher: Matcher) -> str:
    hidden = not shown_text(matcher.value).startswith("'")
    return f"{matcher.name}{matcher.op}(not shown)" if hidden else str(matcher)


def _match(route: Route, labels: Mapping[str, str]) -> list[Route]:
    """Alertmanager's ``Route.Match``: depth first, first match wins unless it has ``continue``."""
    if not all(m.matches(labels) for m in route.matchers):
        return []
    found: list[Route] = []
    for child in route.routes:
        matched = _match(child, labels)
        found += matched
        if matched and not child.proceed:
            break
    return found or [route]


def _named_alerts(config: Config) -> list[dict[str, str]]:
    """An example alert per name a route or inhibit rule pins (``alertname=X``, ``=~"X|Y"``).

    A route's example also carries the equality matchers of the route and its parents
    (``severity=none`` beside ``alertname=Watchdog``), so it reaches the route that names it.
    """
    found: dict[str, dict[str, str]] = {}

    def visit(matchers: Sequence[Matcher], labels: Mapping[str, str]) -> None:
        for m in matchers:
            if m.name == "alertname" and m.op in ("=", "=~"):
                parts = m.value.split("|") if m.op == "=~" else [m.value]
                for name in filter(_LITERAL_NAME.fullmatch, parts):
                    found.setdefault(name, {**labels, "alertname": name})

    def walk(route: Route, inherited: Mapping[str, str]) -> None:
        labels = {**inherited, **{m.name: m.value for m in route.matchers if m.op == "="}}
        labels.pop("alertname", None)
        visit(route.matchers, labels)
        for child in route.routes:
            walk(child, labels)

    walk(config.route, {})
    for rule in config.inhibit_rules:
        visit(rule.source, {})
        visit(rule.target, {})
    return list(found.values())


@dataclass(frozen=True)
class _Problem:
    path: str
    message: str
    severity: Severity = Severity.ERROR


class _StrictLoader(yaml.SafeLoader):
    """YAML as Alertmanager's strict Go decoder reads it: a repeated key is an error."""


def _mapping_without_duplicates(loader: _StrictLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    loader.flatten_mapping(node)
    result: dict[Any, Any] = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        if not isinstance(key, Hashable):
            raise yaml.constructor.ConstructorError(
                None, None, "a mapping key must be a scalar", key_node.start_mark
            )
        if key in result:
            raise _DuplicateKey(
                None, None, f"key {shown(key)} already set in this mapping", key_node.start_mark
            )
        result[key] = loader.construct_object(value_node, deep=True)
    return result


_StrictLoader.add_constructor(
    yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG,
    _mapping_without_duplicates,
)


class _Reader:
    """Reads one ``alertmanager.yaml`` into a :class:`Config`, collecting what is wrong."""

    def __init__(self) -> None:
        self.problems: list[_Problem] = []
        self.receivers: dict[str, bool] = {}
        self.intervals: set[str] = set()
        self.slack_url = False

    def problem(self, path: str, message: str, severity: Severity = Severity.ERROR) -> None:
        self.problems.append(_Problem(path, message, severity))

    def read(self, text: str | None) -> Config | None:
        if text is None:
            self.problem("$", f"{CONFIG_KEY} is not valid base64-encoded UTF-8")
            return None
        try:
            document = yaml.load(text, Loader=_StrictLoader)  # noqa: S506 (a SafeLoader)
        except (yaml.YAMLError, RecursionError, ValueError) as error:
            quoted = isinstance(error, _DuplicateKey)  # its key is quoted through shown()
            self.problem("$", f"{CONFIG_KEY} is not valid YAML{yaml_failure(error, quoted)}")
            return None
        if not isinstance(document, Mapping):
            self.problem("$", f"{CONFIG_KEY} must hold a mapping")
            return None
        return self.config(document)

    def config(self, doc: Mapping[str, Any]) -> Config | None:
        self.unknown("$", doc, _TOP)
        glob = self.section("$.global", doc.get("global"))
        if "resolve_timeout" in glob and (error := duration_error(glob["resolve_timeout"])):
            self.problem("$.global.resolve_timeout", error)
        self.slack_url = bool(glob.get("slack_api_url") or glob.get("slack_api_url_file"))
        for key in ("time_intervals", "mute_time_intervals"):
            for index, entry in enumerate(self.listed(f"$.{key}", doc.get(key))):
                if not isinstance(name := mapping(entry).get("name"), str):
                    continue
                if name in self.intervals:
                    path = member(member(f"$.{key}", index), "name")
                    self.problem(path, f"time interval name {shown(name)} is not unique")
                self.intervals.add(name)
        self.read_receivers(doc.get("receivers"))
        listed = self.listed("$.inhibit_rules", doc.get("inhibit_rules"))
        rules = tuple(self.inhibit_rule(index, rule) for index, rule in enumerate(listed))
        if "route" not in doc or doc["route"] is None:
            self.problem("$", "no route provided in config")
            return None
        root = self.route("$.route", doc["route"], inherited="", root=True)
        return Config(root, dict(self.receivers), rules) if root else None

    def unknown(self, path: str, node: Mapping[Any, Any], known: set[str]) -> None:
        for key in node:
            if key not in known:
                message = f"unknown field {shown(key)}: Alertmanager refuses it"
                self.problem(_at(path, key), message)

    def section(self, path: str, node: Any) -> Mapping[str, Any]:
        if node is not None and not isinstance(node, Mapping):
            self.problem(path, "must be a mapping")
        return mapping(node)

    def listed(self, path: str, node: Any) -> list[Any]:
        if node is not None and not isinstance(node, list):
            self.problem(path, "must be a list")
        return items(node)

    def read_receivers(self, node: Any) -> None:
        first: dict[str, int] = {}
        for index, receiver in enumerate(self.listed("$.receivers", node)):
            path = member("$.receivers", index)
            if not isinstance(receiver, Mapping):
                self.problem(path, "a receiver must be a mapping")
                continue
            name = receiver.get("name")
            if not isinstance(name, str) or not name:
                self.problem(path, "missing name in receiver")
                continue
            if name in first:
                also = first[name]
                message = f"receiver name {shown(name)} is not unique (also receivers[{also}])"
                self.problem(member(path, "name"), message)
                continue
            first[name] = index
            self.receivers[name] = self.integrations(path, receiver)

    def integrations(self, path: str, receiver: Mapping[str, Any]) -> bool:
        """Whether the receiver sends anywhere; reports unknown fields and Slack without a URL."""
        found = False
        for key, value in receiver.items():
            if key in ("name", "labels"):
                continue
            if key not in _INTEGRATIONS:
                newer = isinstance(key, str) and key.endswith("_configs")
                severity = Severity.WARNING if newer else Severity.ERROR
                self.problem(_at(path, key), f"unknown field {shown(key)} in receiver", severity)
                if not newer:
                    continue
            configs = self.listed(member(path, key), value)
            found = found or bool(configs)
            self.templates(member(path, key), configs)
            if key == "slack_configs":
                self.slack_urls(member(path, key), configs)
        return found

    def templates(self, path: str, configs: list[Any]) -> None:
        """Go template syntax of the text fields; the message gives a position, never text."""
        for index, config in enumerate(configs):
            for key, value in mapping(config).items():
                if key not in _TEMPLATED or not isinstance(value, str):
                    continue
                if error := gotemplate.syntax_error(value):
                    message = f"template: {error.located(value)}: every notification fails"
                    self.problem(member(member(path, index), key), message)

    def slack_urls(self, path: str, configs: list[Any]) -> None:
        for index, config in enumerate(configs):
            config = mapping(config)
            if not (config.get("api_url") or config.get("api_url_file") or self.slack_url):
                message = (
                    "no Slack API URL: set api_url or api_url_file, or slack_api_url in global"
                )
                self.problem(member(path, index), message)

    def matchers(self, path: str, node: Mapping[str, Any], prefix: str = "") -> list[Matcher]:
        """``match``, ``match_re`` and ``matchers`` (or ``source_…``/``target_…``) as matchers."""
        found: list[Matcher] = []
        for key, op in (("match", "="), ("match_re", "=~")):
            field_path = member(path, prefix + key)
            for name, value in self.section(field_path, node.get(prefix + key)).items():
                if not isinstance(name, str) or not LABEL_NAME.fullmatch(name):
                    self.problem(_at(field_path, name), f"invalid label name {shown(name)}")
                elif not isinstance(value, str):
                    self.problem(member(field_path, name), "a label value must be a string")
                else:
                    at = member(field_path, name)
                    found += self.parsed(at, value, new_matcher, name, op, value)
        matchers_path = member(path, prefix + "matchers")
        for index, text in enumerate(self.listed(matchers_path, node.get(prefix + "matchers"))):
            if isinstance(text, str):
                found += self.parsed(member(matchers_path, index), text, parse_matchers, text)
            else:
                self.problem(member(matchers_path, index), "a matcher must be a string")
        return found

    def parsed(self, path: str, text: str, parse: Callable[..., Any], *args: str) -> list[Matcher]:
        """``parse(*args)`` (one matcher or a list), or nothing and a problem at ``path``."""
        try:
            result = parse(*args)
        except MatcherError as error:
            self.problem(path, _matcher_message(error, text))
            return []
        return result if isinstance(result, list) else [result]

    def route(self, path: str, node: Any, *, inherited: str, root: bool = False) -> Route | None:
        if not isinstance(node, Mapping):
            self.problem(path, "a route must be a mapping")
            return None
        self.unknown(path, node, _ROUTE)
        receiver = node.get("receiver")
        if receiver is not None and not isinstance(receiver, str):
            self.problem(member(path, "receiver"), "must be a string")
            receiver = None
        if receiver and receiver not in self.receivers:
            message = f"undefined receiver {shown(receiver)} used in route"
            self.problem(member(path, "receiver"), message)
        matchers = self.matchers(path, node)
        if root:
            self.root(path, node, receiver)
        self.route_settings(path, node)
        children = [
            self.route(member(member(path, "routes"), i), child, inherited=receiver or inherited)
            for i, child in enumerate(self.listed(member(path, "routes"), node.get("routes")))
        ]
        proceed = node.get("continue") is True
        routes = tuple(child for child in children if child is not None)
        return Route(receiver or inherited, tuple(matchers), proceed, routes)

    def root(self, path: str, node: Mapping[str, Any], receiver: str | None) -> None:
        if not receiver:
            self.problem(path, "the root route must name a default receiver")
        if any(node.get(key) for key in ("match", "match_re", "matchers")):
            self.problem(path, "the root route must not have matchers: it catches every alert")
        for key in ("mute_time_intervals", "active_time_intervals"):
            if node.get(key):
                self.problem(member(path, key), f"the root route must not have {key}")
        if node.get("continue"):
            self.problem(member(path, "continue"), "the root route cannot have continue")

    def route_settings(self, path: str, node: Mapping[str, Any]) -> None:
        for key in ("group_wait", "group_interval", "repeat_interval"):
            if key in node and (error := duration_error(node[key])):
                self.problem(member(path, key), error)
            elif key != "group_wait" and key in node and not set(node[key]) & set("123456789"):
                self.problem(member(path, key), f"{key} cannot be zero")
        if "continue" in node and not isinstance(node["continue"], bool):
            self.problem(member(path, "continue"), "must be true or false")
        self.group_by(member(path, "group_by"), node.get("group_by"))
        for key in ("mute_time_intervals", "active_time_intervals"):
            for index, name in enumerate(self.listed(member(path, key), node.get(key))):
                if not isinstance(name, str) or name not in self.intervals:
                    message = f"undefined time interval {shown(name)} used in route"
                    self.problem(member(member(path, key), index), message)

    def group_by(self, path: str, node: Any) -> None:
        labels = self.listed(path, node)
        if "..." in labels and len(labels) > 1:
            self.problem(path, "group_by '...' (all labels) cannot be combined with other labels")
        seen: set[str] = set()
        for index, label in enumerate(labels):
            if label == "...":
                continue
            if not isinstance(label, str) or not LABEL_NAME.fullmatch(label):
                # never str() it: a YAML alias bomb (a list of lists of ...) is gigabytes as text
                self.problem(member(path, index), f"invalid label name {shown(label)} in group_by")
                continue
            if label in seen:
                self.problem(member(path, index), f"duplicated label {shown(label)} in group_by")
            seen.add(label)

    def inhibit_rule(self, index: int, node: Any) -> InhibitRule:
        path = member("$.inhibit_rules", index)
        rule = self.section(path, node)
        self.unknown(path, rule, _INHIBIT)
        source = self.matchers(path, rule, "source_")
        target = self.matchers(path, rule, "target_")
        equal = self.listed(member(path, "equal"), rule.get("equal"))
        for position, label in enumerate(equal):
            if not isinstance(label, str) or not LABEL_NAME.fullmatch(label):
                message = f"invalid label name {shown(label)}"
                self.problem(member(member(path, "equal"), position), message)
        labels = tuple(label for label in equal if isinstance(label, str))  # reported above
        return InhibitRule(tuple(source), tuple(target), labels)


class _DuplicateKey(yaml.constructor.ConstructorError):
    """kpb's own message: it quotes the key only through :func:`shown`."""


def _at(path: str, key: Any) -> str:
    """The path of ``key`` below ``path``, or ``path`` itself when the key is not a plain name."""
    return member(path, key) if looks_like_name(key) or isinstance(key, int) else path


def _matcher_message(error: MatcherError, text: str) -> str:
    """The reason, the matcher's text (label names and values) and RE2's detail, if showable."""
    quoted = shown_text(text)
    detail = f" ({error.detail})" if error.detail and quoted.startswith("'") else ""
    return f"{error}: {quoted}{detail}"


def _custom_resource(spec: Mapping[str, Any]) -> Iterator[_Problem]:
    """An AlertmanagerConfig's receivers, routes and inhibit rules (the operator's own rules)."""
    receivers: dict[str, int] = {}
    for index, receiver in enumerate(items(spec.get("receivers"))):
        name = mapping(receiver).get("name")
        if isinstance(name, str) and name in receivers:
            path = member(member("$.spec.receivers", index), "name")
            also = receivers[name]
            message = f"receiver name {shown(name)} is not unique (also receivers[{also}])"
            yield _Problem(path, message)
        elif isinstance(name, str):
            receivers[name] = index
    intervals = {
        entry.get("name")
        for key in ("timeIntervals", "muteTimeIntervals")
        for entry in map(mapping, items(spec.get(key)))
    }
    if isinstance(spec.get("route"), Mapping):
        yield from _cr_route("$.spec.route", spec["route"], set(receivers), intervals, top=True)
    for index, rule in enumerate(items(spec.get("inhibitRules"))):
        path = member("$.spec.inhibitRules", index)
        for key in ("sourceMatch", "targetMatch"):
            yield from _cr_matchers(member(path, key), mapping(rule).get(key))


def _cr_route(
    path: str, route: Mapping[str, Any], receivers: set[str], intervals: set[Any], *, top: bool
) -> Iterator[_Problem]:
    receiver = route.get("receiver")
    if top and not receiver:
        yield _Problem(path, "the top route must name a receiver")
    elif isinstance(receiver, str) and receiver and receiver not in receivers:
        message = f"receiver {shown(receiver)} not found in this object"
        yield _Problem(member(path, "receiver"), message)
    yield from _cr_matchers(member(path, "matchers"), route.get("matchers"))
    for key in ("groupWait", "groupInterval", "repeatInterval"):
        if key in route and (error := duration_error(route[key])):
            yield _Problem(member(path, key), error)
    for key in ("muteTimeIntervals", "activeTimeIntervals"):
        for index, name in enumerate(items(route.get(key))):
            if not isinstance(name, str) or name not in intervals:
                message = f"time interval {shown(name)} not found"
                yield _Problem(member(member(path, key), index), message)
    for index, child in enumerate(items(route.get("routes"))):
        if isinstance(child, Mapping):
            child_path = member(member(path, "routes"), index)
            yield from _cr_route(child_path, child, receivers, intervals, top=False)


def _cr_matchers(path: str, node: Any) -> Iterator[_Problem]:
    for index, matcher in enumerate(items(node)):
        matcher = mapping(matcher)
        name, value = matcher.get("name"), matcher.get("value", "")
        op = matcher.get("matchType") or ("=~" if matcher.get("regex") is True else "=")
        if not isinstance(name, str) or not name or not isinstance(value, str):
            continue  # the CRD schema reports missing names and wrong types
        try:
            new_matcher(name, str(op), value)
        except MatcherError as error:
            yield _Problem(member(path, index), _matcher_message(error, value))
