"""Alertmanager's matcher grammar and matching, case by case as its classic parser behaves."""

from __future__ import annotations

import pytest

from kubeprom_build.validation.matchers import MatcherError, parse_matcher, parse_matchers

PARSED = [
    ("foo=bar", [("foo", "=", "bar")]),
    ('foo = "bar"', [("foo", "=", "bar")]),
    ('{foo=~"bar.*", baz!="qux"}', [("foo", "=~", "bar.*"), ("baz", "!=", "qux")]),
    ("severity =~ warning|info", [("severity", "=~", "warning|info")]),
    ('foo="bar,baz"', [("foo", "=", "bar,baz")]),
    ("foo=bar,", [("foo", "=", "bar")]),
    ("foo=", [("foo", "=", "")]),
    ('foo!~""', [("foo", "!~", "")]),
    ('foo="bar\\"baz"', [("foo", "=", 'bar"baz')]),
    ('foo="a\\\\"', [("foo", "=", "a\\")]),
    ('foo="a\\nb"', [("foo", "=", "a\nb")]),
    ('foo="a\\qb"', [("foo", "=", "a\\qb")]),
    ("foo=bar\\", [("foo", "=", "bar\\")]),
    ("a:b_c=d", [("a:b_c", "=", "d")]),
    ('foo=~"\\\\pL+"', [("foo", "=~", "\\pL+")]),
]

REFUSED = [
    ("foo", "bad matcher format"),
    ("=bar", "bad matcher format"),
    ("1foo=bar", "bad matcher format"),
    ("foo.bar=baz", "bad matcher format"),
    ("foo=bar,,baz=qux", "bad matcher format"),
    ('foo="bar', "unescaped double quote"),
    ('foo=bar"', "unescaped double quote"),
    ('foo="b"ar"', "unescaped double quote"),
    ('foo=~"(bar"', "invalid regex"),
    ('foo=~"a(?=b)"', "invalid regex"),
    ('foo!~"a\\\\1"', "invalid regex"),
    ('foo=~"a{1001}"', "invalid regex"),
]


@pytest.mark.parametrize(("text", "expected"), PARSED)
def test_alertmanagers_grammar(text: str, expected: list[tuple[str, str, str]]) -> None:
    assert [(m.name, m.op, m.value) for m in parse_matchers(text)] == expected


@pytest.mark.parametrize(("text", "message"), REFUSED)
def test_what_alertmanager_refuses(text: str, message: str) -> None:
    with pytest.raises(MatcherError, match=message):
        parse_matchers(text)


def test_matching_treats_a_missing_label_as_empty() -> None:
    labels = {"severity": "warning", "alertname": "X"}
    assert parse_matcher('severity=~"warning|info"').matches(labels)
    assert not parse_matcher("severity=~warn").matches(labels)  # anchored
    assert parse_matcher('namespace=""').matches(labels)
    assert not parse_matcher('namespace!=""').matches(labels)
    assert parse_matcher("namespace!~.+").matches(labels)
    assert parse_matcher("alertname!=Y").matches(labels)


def test_a_matcher_prints_as_alertmanager_reads_it() -> None:
    matcher = parse_matcher('foo="a\\"b\\\\c"')
    assert str(matcher) == 'foo="a\\"b\\\\c"'
    assert parse_matcher(str(matcher)) == matcher
