"""The YAML emitter against real gojsontoyaml output and go-yaml's rules."""

from __future__ import annotations

import json
import math
import random
import re

import pytest
import yaml
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from kubeprom_build.rendering import yamlemit
from kubeprom_build.rendering.yamlemit import (
    UnrepresentableError,
    dumps,
    format_float,
    format_int,
    json_path,
    sort_keys,
)
from tests.helpers.realworld import SKIP_REASON
from tests.helpers.yaml_docs import OUT_OF_CONTRACT, golden_cases, large_document, real_manifests
from tests.helpers.yaml_goload import load_like_go

GOLDEN, GOLDEN_BLOCKS = golden_cases()
IN_CONTRACT = [key for key in GOLDEN if key not in OUT_OF_CONTRACT]


# --- golden cases (real gojsontoyaml output) ---------------------------------------------------


def test_golden_document_is_byte_identical_without_out_of_contract_keys() -> None:
    document = {key: GOLDEN[key] for key in IN_CONTRACT}
    expected = "".join(block for key, block in GOLDEN_BLOCKS.items() if key in IN_CONTRACT)
    assert dumps(document) == expected


@pytest.mark.parametrize("key", IN_CONTRACT)
def test_golden_case_alone(key: str) -> None:
    assert dumps({key: GOLDEN[key]}) == GOLDEN_BLOCKS[key]


@pytest.mark.parametrize("key", OUT_OF_CONTRACT)
def test_golden_out_of_contract_cases_are_refused(key: str) -> None:
    with pytest.raises(UnrepresentableError) as caught:
        dumps({"wrapper": [{key: GOLDEN[key]}]})
    assert caught.value.path == ("wrapper", 0, key)


# --- key order ----------------------------------------------------------------------------------

VERIFIED_ORDER = [
    *["$x", "-1", "_x", "1", "2", "10", "A", "Z", "a 1", "a-", "a.", "a/b", "a:", "a_b", "a~"],
    *["a0", "a00", "a1", "a01", "a9", "a10", "aZ", "b", "z", "é"],
]


@pytest.mark.parametrize("seed", range(5))
def test_key_order_matches_gojsontoyaml_for_any_input_order(seed: int) -> None:
    keys = list(VERIFIED_ORDER)
    random.Random(seed).shuffle(keys)
    assert sort_keys(keys) == VERIFIED_ORDER
    lines = dumps(dict.fromkeys(keys, 1)).splitlines()
    assert [yaml.safe_load(line) for line in lines] == [{k: 1} for k in VERIFIED_ORDER]


@pytest.mark.parametrize(
    ("keys", "expected"),
    [
        (["f10", "f9", "f1", "f2"], ["f1", "f2", "f9", "f10"]),
        (["b", "B", "_", "-"], ["-", "_", "B", "b"]),  # non-letters before letters
        (["z", "é", "Z"], ["Z", "z", "é"]),  # letters by code point
        (["a", "ab", "a-"], ["a", "a-", "ab"]),  # prefix first; '-' before a letter
        (["x1", "x-", "x:", "x~"], ["x-", "x:", "x~", "x1"]),  # any non-digit before digits
        # at "0" vs "b" the non-letter wins before any number is read
        (["v10beta1", "v1beta2", "v1", "v2"], ["v1", "v10beta1", "v1beta2", "v2"]),
        (["a0", "a00", "a1", "a01"], ["a0", "a00", "a1", "a01"]),
        (["10", "09", "9"], ["9", "09", "10"]),  # equal numbers: shorter digit run first
        (["app.kubernetes.io/name", "app", "app.kubernetes.io/component"], None),
    ],
)
def test_natural_key_order(keys: list[str], expected: list[str] | None) -> None:
    assert sort_keys(keys) == (expected if expected is not None else sorted(keys))


def test_zero_after_nonzero_digit_quirk() -> None:
    # "x100" vs "x15" differ first at "0" vs "5". go-yaml reads the digit runs from there ("00" and
    # "5"), but since the digits before ("1") are non-zero, both numbers start at 1: 100 vs 15.
    # Without that detail "x100" (0) would sort before "x15" (5).
    assert sort_keys(["x100", "x15"]) == ["x15", "x100"]
    assert sort_keys(["x15", "x100"]) == ["x15", "x100"]
    assert sort_keys(["port8080", "port80", "port443"]) == ["port80", "port443", "port8080"]


def test_unicode_digits_count_as_digits() -> None:
    # unicode.IsDigit: Arabic-Indic digits form digit runs, so they sort after non-digits.
    assert sort_keys(["a\u0663", "a-"]) == ["a-", "a\u0663"]


@given(st.lists(st.text(alphabet="aZé0129-_. ", max_size=5), unique=True), st.randoms())
def test_sort_result_does_not_depend_on_input_order(keys: list[str], rnd: random.Random) -> None:
    shuffled = list(keys)
    rnd.shuffle(shuffled)
    assert sort_keys(shuffled) == sort_keys(keys)


@given(st.lists(st.text(alphabet="aAzZ -./:@!\x01", max_size=6), unique=True))
def test_code_point_shortcut_equals_the_natural_order(keys: list[str]) -> None:
    # Only ASCII letters and non-digits below "A": sort_keys takes the sorted() shortcut.
    assert sorted(keys, key=yamlemit._NATURAL_KEY) == sorted(keys) == sort_keys(keys)


def test_sort_is_deterministic_for_inconsistent_key_sets() -> None:
    keys = ["1a", "01a", "0x1F", "1", "a", "0"]
    first = sort_keys(keys)
    for seed in range(10):
        shuffled = list(keys)
        random.Random(seed).shuffle(shuffled)
        assert sort_keys(shuffled) == first


# --- strings ------------------------------------------------------------------------------------

QUOTING_TABLE = [
    # verified against the real gojsontoyaml
    ("true", '"true"'),
    ("True", '"True"'),
    ("yes", '"yes"'),
    ("on", '"on"'),
    ("off", '"off"'),
    ("y", '"y"'),
    ("n", '"n"'),
    ("null", '"null"'),
    ("~", '"~"'),
    ("", '""'),
    ("80", '"80"'),
    ("0755", '"0755"'),
    ("08", '"08"'),
    ("0x1F", '"0x1F"'),
    ("1_000", '"1_000"'),
    ("+1", '"+1"'),
    ("0.5", '"0.5"'),
    ("1e5", '"1e5"'),
    (".inf", '".inf"'),
    (".NaN", '".NaN"'),
    ("1:30", '"1:30"'),
    ("2001-12-14", '"2001-12-14"'),
    ("2001-12-14T21:59:43.10-05:00", '"2001-12-14T21:59:43.10-05:00"'),
    ("1.2.3", "1.2.3"),
    ("v1", "v1"),
    ("<<", "<<"),
    ("=", "="),
    ("-", "'-'"),
    ("a: b", "'a: b'"),
    ("a:", "'a:'"),
    ("- x", "'- x'"),
    ("? a", "'? a'"),
    ("a #b", "'a #b'"),
    ("a:b", "a:b"),
    ("a#b", "a#b"),
    ("a,b", "a,b"),
    ("?a", "?a"),
    ("-a", "-a"),
    ("it's", "it's"),
    ("a\\b", "a\\b"),
    *[(f"{c}a", f"'{c}a'") for c in "*&!|>%@`#"],
    ("{a}", "'{a}'"),
    ("[a]", "'[a]'"),
    ("'a", "'''a'"),
    ('"a', "'\"a'"),
    (" a", "' a'"),
    ("a ", "'a '"),
    ("---", "'---'"),
    ("...", "'...'"),
    ("a\tb", '"a\\tb"'),
    ("a\x01b", '"a\\x01b"'),
    ("a😀b", '"a\\U0001F600b"'),
    ("héllo ✓", "héllo ✓"),
    ("a\u00a0b", "a\u00a0b"),
    ("a\ufeffb", '"a\\uFEFFb"'),
    ("a\x7fb", '"a\\x7Fb"'),
    ("\x00\x07\x08\x0b\x0c\r\x1b", '"\\0\\a\\b\\v\\f\\r\\e"'),
    ('say "hi"\t', '"say \\"hi\\"\\t"'),
    ("word " * 30 + "end", "word " * 30 + "end"),
]


@pytest.mark.parametrize(("value", "expected"), QUOTING_TABLE)
def test_string_quoting(value: str, expected: str) -> None:
    assert dumps({"k": value}) == f"k: {expected}\n"
    if "\r" not in value and len(value) <= 128:  # keys with line breaks/over 128 B are refused
        assert dumps({value: 1}) == f"{expected}: 1\n"


# Derived from go-yaml v2.4.0 resolve.go / Go's strconv and time.Parse (not in the verified set).
RESOLVER_TABLE = [
    ("2000-02-29", True),  # leap day
    ("2001-02-29", False),  # time.Parse rejects the day -> a plain string
    ("2001-13-01", False),
    ("2001-1-2", True),
    ("2001-12-14t21:59:43Z", True),
    ("2001-12-14 21:59:43.10", True),
    ("2001-12-14 21:59:43,5", True),
    ("2001-12-14   1:2:3", True),  # a layout space matches a run of spaces
    ("2001-12-14 21:59:43Z", False),
    ("2001-12-14T21:59:43.Z", False),
    ("2001-12-14T21:59:43", False),  # T layouts need a zone
    ("2001-12-14 21:59:43 -5", False),  # not one of go-yaml's layouts
    ("2001-12-14T24:00:00Z", False),
    ("2001-12-14T21:59:43+25:00", False),
    ("12001-12-14", False),  # five-digit year: neither a timestamp nor a number
    ("0x", False),
    ("0b101", True),
    ("0b-101", True),  # go-yaml's extra "0b" branch accepts a sign
    ("0o17", True),
    ("0xFFFFFFFFFFFFFFFF", True),
    ("0x1FFFFFFFFFFFFFFFF", False),  # beyond uint64, not a float either
    ("18446744073709551615", True),
    ("-9223372036854775809", True),  # decimal digits always match the float regex
    ("+18446744073709551615", True),
    ("1e999", False),  # ParseFloat overflows -> string
    ("1e-999", True),  # underflow is not an error
    (".5", True),
    (".5e3", True),
    (".5_5", True),
    (".5_", False),
    ("._5", False),
    (".", False),
    (".e5", False),
    ("1.", True),
    ("+.5", True),
    ("1__0", True),
    ("_1", False),
    ("1:60", False),
    ("1:30:00.5", True),
    ("-1:30", True),
    ("190:20:30", True),
    ("+", False),
    ("nan", False),
    ("inf", False),
    ("+.inf", True),
    ("-.Inf", True),
    ("Yes", True),
    ("yES", False),
    ("NULL", True),
    ("nULL", False),
]


@pytest.mark.parametrize(("value", "quoted"), RESOLVER_TABLE)
def test_go_yaml_resolver_decides_double_quotes(value: str, quoted: bool) -> None:
    out = dumps({"k": value})
    assert out == (f'k: "{value}"\n' if quoted else f"k: {value}\n")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("a\nb\n", "|\n  a\n  b\n"),
        ("a\nb", "|-\n  a\n  b\n"),
        ("a\nb\n\n", "|+\n  a\n  b\n\n"),
        ("\n", "|2+\n\n"),
        ("  a\nb\n", "|2\n    a\n  b\n"),
        ("\na\n", "|2\n\n  a\n"),
        ("a\n b\n", "|\n  a\n   b\n"),
        ("a\n\n\nb\n", "|\n  a\n\n\n  b\n"),
        ("a \nb\n", '"a \\nb\\n"'),
        ("a\nb ", '"a\\nb "'),
        ("a\tb\nc\n", '"a\\tb\\nc\\n"'),
        ("a\r\nb\n", '"a\\r\\nb\\n"'),
        ("😀\n", '"\\U0001F600\\n"'),
        ('it\'s\n"x"\n', '|\n  it\'s\n  "x"\n'),
    ],
)
def test_multiline_strings(value: str, expected: str) -> None:
    suffix = "" if expected.endswith("\n") else "\n"
    assert dumps({"k": value}) == f"k: {expected}{suffix}"


def test_literal_block_indentation_follows_nesting() -> None:
    document = {"a": {"b": [{"c": "x\ny\n"}, "p\nq"]}}
    assert dumps(document) == "a:\n  b:\n  - c: |\n      x\n      y\n  - |-\n    p\n    q\n"


def test_trailing_keep_block_gets_no_document_end_marker() -> None:
    assert dumps({"k": "a\n\n"}) == "k: |+\n  a\n\n"
    assert dumps({"k": "\n\n\n"}) == "k: |2+\n\n\n\n"
    assert dumps("a\n\n") == "|+\n  a\n\n"


# --- numbers, booleans, null --------------------------------------------------------------------

FLOAT_TABLE = [
    # verified with the real gojsontoyaml (and the golden cases)
    (1234567.5, "1.2345675e+06"),
    (0.00001, "1e-05"),
    (1e21, "1e+21"),
    (1.0, "1"),
    (0.5, "0.5"),
    (1e6, "1e+06"),
    (123456.7, "123456.7"),
    (-0.0, "-0"),
    (0.1, "0.1"),
    (1e-7, "1e-07"),
    (100000.0, "100000"),
    (1.5e300, "1.5e+300"),
    # Go strconv.FormatFloat(f, 'g', -1, 64): %e when exp < -4 || exp >= 6
    (0.0, "0"),
    (0.0001, "0.0001"),
    (0.000123, "0.000123"),
    (999999.0, "999999"),
    (999999.5, "999999.5"),
    (1e100, "1e+100"),
    (5e-324, "5e-324"),
    (1.7976931348623157e308, "1.7976931348623157e+308"),
    (0.1 + 0.2, "0.30000000000000004"),
    (-1.5, "-1.5"),
    (-1234567.0, "-1.234567e+06"),
    (2.0**53, "9.007199254740992e+15"),
    (12345.678, "12345.678"),
    (1.5e-10, "1.5e-10"),
    (123e-7, "1.23e-05"),
    (1.0 / 3, "0.3333333333333333"),
]


@pytest.mark.parametrize(("value", "expected"), FLOAT_TABLE)
def test_float_formatting(value: float, expected: str) -> None:
    assert format_float(value) == expected
    assert dumps({"k": value}) == f"k: {expected}\n"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (0, "0"),
        (-1, "-1"),
        (1000000, "1000000"),
        (2**63 - 1, "9223372036854775807"),
        (2**63, "9223372036854775808"),
        (2**64 - 1, "18446744073709551615"),
        (2**64, "1.8446744073709552e+19"),
        (-(2**63), "-9223372036854775808"),
        (-(2**63) - 1, "-9.223372036854776e+18"),
        (10**20, "1e+20"),
        (10**400, "1" + "0" * 400),  # ParseFloat overflows: go-yaml keeps the digits
    ],
)
def test_integer_formatting(value: int, expected: str) -> None:
    assert format_int(value) == expected
    assert dumps([value]) == f"- {expected}\n"


def test_bool_and_null() -> None:
    assert dumps({"t": True, "f": False, "n": None, "one": 1}) == (
        'f: false\n"n": null\none: 1\nt: true\n'
    )


@given(st.floats(allow_nan=False, allow_infinity=False))
def test_float_text_round_trips(value: float) -> None:
    text = format_float(value)
    assert float(text) == value
    assert math.copysign(1.0, float(text)) == math.copysign(1.0, value)
    mantissa = text.split("e")[0].lstrip("-")
    assert not mantissa.endswith(".") and (mantissa == "0" or not mantissa.startswith("00"))
    if "e" in text:
        assert re.fullmatch(r"-?[1-9](\.[0-9]*[1-9])?e[-+][0-9]{2,3}", text)
        assert not -4 <= int(text.split("e")[1]) < 6


# --- collections and layout --------------------------------------------------------------------


def test_collections_layout() -> None:
    document = {
        "spec": {
            "containers": [
                {"name": "x", "args": ["--web.listen-address=:8080"], "ports": []},
            ],
            "nested": [[1, 2], {}],
        }
    }
    assert dumps(document) == (
        "spec:\n"
        "  containers:\n"
        "  - args:\n"
        "    - --web.listen-address=:8080\n"
        "    name: x\n"
        "    ports: []\n"
        "  nested:\n"
        "  - - 1\n"
        "    - 2\n"
        "  - {}\n"
    )


@pytest.mark.parametrize(
    ("document", "expected"),
    [
        ({}, "{}\n"),
        ([], "[]\n"),
        ([1, [2, [3, []]], {}], "- 1\n- - 2\n  - - 3\n    - []\n- {}\n"),
        ([{"a": {"b": {}}}], "- a:\n    b: {}\n"),
        ("plain", "plain\n"),
        ("true", '"true"\n'),
        (None, "null\n"),
        (1.5, "1.5\n"),
    ],
)
def test_top_level_values(document: object, expected: str) -> None:
    assert dumps(document) == expected


def test_no_trailing_spaces_and_no_markers_in_a_large_document() -> None:
    document = large_document(300_000)
    text = dumps(document)
    assert text.endswith("\n") and not text.endswith("\n\n")
    assert not re.search(r" \n|^(---|\.\.\.)$", text, re.MULTILINE)
    assert yaml.load(text, Loader=yaml.CSafeLoader) == document


def test_subclasses_of_json_types_are_accepted() -> None:
    class Name(str):
        pass

    class Doc(dict):  # type: ignore[type-arg]
        pass

    assert dumps(Doc({"b": [Name("yes")], "a": Doc()})) == 'a: {}\nb:\n- "yes"\n'
    assert dumps({Name("on"): Doc({Name("k"): 1})}) == '"on":\n  k: 1\n'


# --- errors -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("document", "path", "fragment"),
    [
        ({"a": {"b": [1, "x\u2028y"]}}, ("a", "b", 1), "U+2028"),
        ({"a": "x\x85"}, ("a",), "U+0085"),
        ({"a": ["\u2029"]}, ("a", 0), "U+2029"),
        ({"a": "\ufeffx"}, ("a",), "U+FEFF"),
        ({"a": "\ud800"}, ("a",), "U+D800"),
        ({"a": float("nan")}, ("a",), "nan"),
        ({"a": [float("inf")]}, ("a", 0), "inf"),
        ({"a": {1: 2}}, ("a", "1"), "not a string"),
        ({"a": {"x\ny": 2}}, ("a", "x\ny"), "line break"),
        ({"a": {"x\ry": 2}}, ("a", "x\ry"), "line break"),
        ({"a": {"k" * 129: 2}}, ("a", "k" * 129), "128 bytes"),
        ({"a": {"é" * 65: 2}}, ("a", "é" * 65), "128 bytes"),
        ({"a": {"\u2028": 2}}, ("a", "\u2028"), "U+2028"),
        ({"a": {"s": {1, 2}}}, ("a", "s"), "set"),
        ({"spec": [{"x": (1,)}]}, ("spec", 0, "x"), "tuple"),
    ],
)
def test_unrepresentable_values_name_their_path(
    document: object, path: tuple[str | int, ...], fragment: str
) -> None:
    with pytest.raises(UnrepresentableError) as caught:
        dumps(document)
    assert caught.value.path == path
    assert fragment in str(caught.value)
    assert "\n" not in str(caught.value)


def test_key_of_exactly_128_bytes_is_a_simple_key() -> None:
    assert dumps({"k" * 128: 1}) == "k" * 128 + ": 1\n"
    assert dumps({"é" * 64: 1}) == "é" * 64 + ": 1\n"


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ((), "(root)"),
        (("spec", "containers", 0, "args"), "spec.containers[0].args"),
        (
            ("metadata", "labels", "app.kubernetes.io/name"),
            'metadata.labels["app.kubernetes.io/name"]',
        ),
        ((0, "a"), "[0].a"),
        (("a b", 'q"\\'), '["a b"]["q\\"\\\\"]'),
        (("_x1",), "_x1"),
    ],
)
def test_json_path(path: tuple[str | int, ...], expected: str) -> None:
    assert json_path(path) == expected


# --- properties ----------------------------------------------------------------------------------

# Characters worth mixing: YAML indicators, breaks, quotes, escapes, non-ASCII, astral.
_ALPHABET = [
    *"abcyYnNtTfFoO019.:-+#'\"\\ \t\n\r,[]{}?*&!|>%@`~=<",
    "é",
    "✓",
    "\u00a0",
    "\ufeff",
    "\x01",
    "\x7f",
    "😀",
]
_TOKENS = [*(value for value, _ in QUOTING_TABLE), "0x1F", "1e5", "2001-12-14", "1:30", ".5"]
_strings = st.one_of(
    st.text(alphabet=_ALPHABET, max_size=12),
    st.sampled_from(_TOKENS),
    st.lists(st.sampled_from([*_TOKENS, "\n", " ", ""]), max_size=4).map("".join),
).filter(lambda s: not s.startswith("\ufeff"))
_keys = _strings.filter(lambda s: "\n" not in s and "\r" not in s and len(s.encode("utf-8")) <= 128)
_json = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**64 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | _strings,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_keys, inner, max_size=4),
    max_leaves=20,
)

# Plain strings that PyYAML's YAML 1.1 resolver reads as something else although go-yaml (the
# authority here) reads them as strings: underscores-only digit bodies, timestamps outside
# go-yaml's four time.Parse layouts, hex/binary beyond 64 bits, "<<" and "=" (PyYAML's merge
# and value keys).
_PYYAML_ONLY = re.compile(r"[-+]?0[xb]|.*_|[0-9]{4}-|<<$|=$")


def _leaves(value: object) -> list[object]:
    if isinstance(value, dict):
        return [*value, *(leaf for item in value.values() for leaf in _leaves(item))]
    if isinstance(value, list):
        return [leaf for item in value for leaf in _leaves(item)]
    return [value]


def _last_leaf(value: object) -> object:
    while isinstance(value, dict | list) and value:
        value = value[sort_keys(value)[-1]] if isinstance(value, dict) else value[-1]
    return value


def _same(loaded: object, original: object) -> bool:
    """Equality where floats may come back as ints or as text PyYAML 1.1 does not call a float."""
    if isinstance(original, float):
        return not isinstance(loaded, bool) and float(loaded) == original  # type: ignore[arg-type]
    if isinstance(original, dict):
        return (
            isinstance(loaded, dict)
            and list(loaded) == sort_keys(original)
            and all(_same(loaded[k], original[k]) for k in original)
        )
    if isinstance(original, list):
        return (
            isinstance(loaded, list)
            and len(loaded) == len(original)
            and all(_same(a, b) for a, b in zip(loaded, original, strict=True))
        )
    return type(loaded) is type(original) and loaded == original


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_json)
def test_output_loads_back_to_the_input(document: object) -> None:
    assume(
        not any(isinstance(leaf, str) and _PYYAML_ONLY.match(leaf) for leaf in _leaves(document))
    )
    text = dumps(document)
    assert _same(yaml.safe_load(text), document), text
    assert text.endswith("\n") and not text.endswith("\n...\n")
    if text.endswith("\n\n"):
        last = _last_leaf(document)
        assert isinstance(last, str) and (last == "\n" or last.endswith("\n\n"))


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_json)
@example({"k": "1e580"})  # go-yaml keeps an out-of-range float a string: unquoted is right
def test_output_reads_back_with_go_yaml_typing(document: object) -> None:
    # No exclusions here: whatever this loader types as non-string, go-yaml does too.
    assert _same(load_like_go(dumps(document)), document)


@settings(max_examples=100, deadline=None)
@given(_json)
def test_output_is_stable_through_json(document: object) -> None:
    text = dumps(document)
    assert dumps(json.loads(json.dumps(document))) == text


# --- real kube-prometheus output ----------------------------------------------------------------

REAL_MANIFESTS = real_manifests()


@pytest.mark.realworld
@pytest.mark.skipif(
    not REAL_MANIFESTS,
    reason=SKIP_REASON,
)
@pytest.mark.parametrize("name", sorted(REAL_MANIFESTS) or ["none"])
def test_committed_kube_prometheus_manifest_round_trips(name: str) -> None:
    # The committed files are pure gojsontoyaml output: their JSON must re-emit byte for byte.
    text = REAL_MANIFESTS[name]
    assert dumps(load_like_go(text)) == text
