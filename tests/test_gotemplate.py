"""Go template syntax as Prometheus parses alert labels and annotations.

Valid cases are taken from the shapes kube-prometheus and the stack's own rules use; invalid
ones each hit one error of Go's lexer or parser, with the offset Go would report near.
"""

from __future__ import annotations

import pytest

from kubeprom_build.validation.gotemplate import stray_closers, syntax_error

VALID = [
    "plain text, no actions",
    "{{ $labels.namespace }}/{{ $labels.pod}} has {{ $value }} members",
    '{{ printf "%.2f" $value }}% of {{ $labels.job }}',
    "{{ $value | humanizePercentage }}",
    '{{ if eq .Status "firing" }}:{{ .Alerts.Firing | len }}{{ end }}',
    "{{ if .A }}a{{ else if .B }}b{{ else }}c{{ end }}",
    "{{ range .Labels.SortedPairs }}{{ .Name }}={{ .Value }} {{ end }}",
    "{{ range $i, $p := .A }}{{ if $i }}{{ break }}{{ end }}{{ continue }}{{ end }}",
    "{{/* a comment with }} inside */}}text",
    "{{- /* trimmed comment */ -}}",
    "{{- $labels.pod -}} {{ `raw with }} and \"` }} {{ 'x' }} {{ '\\'' }}",
    '{{ "escaped \\" quote" }} {{ index $labels "a b" }} {{ (len .A) }}',
    "{{ 0x1F }} {{ 1e3 }} {{ -1.5 }} {{ 0b101 }} {{ 3i }}",
    "{{ with $x := .A }}{{ $x = 2 }}{{ end }}",
    '{{ define "t" }}x{{ end }}{{ template "t" . }}',
    "{{ $labels.pod\n}}",
    "a } b { c {",
]

INVALID = [
    ("{{ $labels.pod", 0, "unclosed action"),
    ("text {{ $labels.pod } more", 5, "unclosed action"),
    ('{{ printf "%.2f $value }}', 10, "unterminated quoted string"),
    ("{{ `raw }}", 3, "unterminated raw quoted string"),
    ("{{ 'c }}", 3, "unterminated character constant"),
    ('{{ "a\nb" }}', 3, "unterminated quoted string"),
    ("{{/* never closed }}", 0, "unclosed comment"),
    ("{{/* c */ x }}", 7, "comment ends before closing delimiter"),
    ("{{ (len .A }}", 11, "unclosed left paren"),
    ("{{ len .A) }}", 9, "unexpected right paren"),
    ("{{ $x : 1 }}", 6, "expected :="),
    ("{{ 3x }}", 3, "bad number syntax"),
    ("{{ a#b }}", 4, "bad character U+0023"),
    ("{{ $labels.pod€ }}", 14, "bad character U+20AC"),
    ("{{ € }}", 3, "unrecognized character in action: U+20AC"),
    ("{{}}", 0, "missing value for command"),
    ("{{ if }}x{{ end }}", 0, "missing value for if"),
    ("x {{ end }}", 2, "unexpected {{end}}"),
    ("{{ else }}", 0, "unexpected {{else}}"),
    ("{{ if .A }}a{{ else }}b{{ else }}c{{ end }}", 23, "found {{else}}"),
    ("{{ if .A }}{{ range .B }}{{ end }}", 0, "{{if}} has no {{end}}"),
    ("{{ break }}", 0, "{{break}} outside {{range}}"),
]


@pytest.mark.parametrize("text", VALID)
def test_valid_templates_pass(text: str) -> None:
    assert syntax_error(text) is None


@pytest.mark.parametrize(("text", "offset", "message"), INVALID)
def test_each_syntax_error_is_found_where_go_reports_it(
    text: str, offset: int, message: str
) -> None:
    error = syntax_error(text)
    assert error is not None
    assert message in error.message
    assert error.offset == offset


def test_location_is_line_and_column() -> None:
    text = "first line\nsecond {{ oops"
    error = syntax_error(text)
    assert error is not None
    assert error.located(text) == "unclosed action (line 2, column 8)"


def test_closing_braces_in_text_are_legal_but_found() -> None:
    text = "{{ $labels.pod }} and $labels.job }} here"
    assert syntax_error(text) is None
    assert stray_closers(text) == text.index("}} here")
    assert stray_closers("{{ `}}` }} fine") is None
