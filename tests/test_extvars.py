"""Parsing ext vars / TLAs: the jsonnet CLI forms, files, environment, secrecy."""

from __future__ import annotations

from pathlib import Path

import pytest

from kubeprom_build.errors import ConfigError
from kubeprom_build.rendering.engine import JsonnetError, get_engine
from kubeprom_build.rendering.extvars import Variables, missing_variable, parse_variables


def test_inline_env_and_file_forms(tmp_path: Path) -> None:
    secret = tmp_path / "token"
    secret.write_text("s3cr3t-token\n")
    got = parse_variables(
        [
            ("--ext-str", "cluster=prd"),
            ("--ext-str", "TOKEN"),
            ("--ext-str-file", f"file={secret}"),
            ("--ext-code", "replicas=1+2"),
            ("--tla-str", "who=me"),
            ("--tla-code-file", f"obj={secret}"),
        ],
        environ={"TOKEN": "from-env"},
    )
    assert got.ext_vars == {"cluster": "prd", "TOKEN": "from-env", "file": "s3cr3t-token\n"}
    assert got.ext_codes == {"replicas": "1+2"}
    assert got.tla_vars == {"who": "me"}
    assert got.tla_codes == {"obj": "s3cr3t-token\n"}


def test_value_may_contain_equals() -> None:
    assert parse_variables([("--ext-str", "q=a=b")]).ext_vars == {"q": "a=b"}


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (("--ext-str", "=v"), "empty name"),
        (("--ext-str", "UNSET_VAR"), "environment variable UNSET_VAR is not set"),
        (("--ext-str-file", "k"), "expected k=PATH"),
        (("--ext-code-file", "k=/no/such/file"), "does not exist"),
    ],
)
def test_bad_specs_are_config_errors(spec: tuple[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_variables([spec], environ={})


def test_same_name_twice_is_refused() -> None:
    with pytest.raises(ConfigError, match="already set by --ext-str"):
        parse_variables([("--ext-str", "a=1"), ("--ext-code", "a=2")])
    # the same name as ext var and TLA is fine: separate namespaces
    parse_variables([("--ext-str", "a=1"), ("--tla-str", "a=2")])


def test_values_never_in_repr_and_digest_tracks_values() -> None:
    one = parse_variables([("--ext-str", "password=hunter2hunter2")])
    two = parse_variables([("--ext-str", "password=other-value")])
    assert "hunter2" not in repr(one)
    assert one.names()["ext_str"] == ["password"]
    salt = b"0" * 16
    assert one.digest(salt) != two.digest(salt)
    assert one.digest(salt) == parse_variables([("--ext-str", "password=hunter2hunter2")]).digest(
        salt
    )
    assert one.digest(salt) != one.digest(b"1" * 16)
    assert "hunter2" not in one.digest(salt)


def test_redact_replaces_values() -> None:
    variables = Variables(ext_vars={"p": "hunter2hunter2", "short": "ab"})
    # a value shorter than 4 characters is masked only where it stands alone
    assert variables.redact("oops hunter2hunter2 ab abc") == "oops *** *** abc"


@pytest.mark.parametrize("engine", ["rs", "go", "cpp"])
def test_missing_variable_recognised_for_every_engine(engine: str, tmp_path: Path) -> None:
    source = tmp_path / "x.jsonnet"
    source.write_text("{ a: std.extVar('api_key') }")
    with pytest.raises(JsonnetError) as caught:
        get_engine(engine).evaluate(source)
    assert missing_variable(caught.value.raw) == ("ext", "api_key")
    source.write_text("function(region) { a: region }")
    with pytest.raises(JsonnetError) as caught:
        get_engine(engine).evaluate(source)
    assert missing_variable(caught.value.raw) == ("tla", "region")


def test_other_errors_are_not_missing_variables() -> None:
    assert missing_variable("RUNTIME ERROR: boom") is None
