"""No secret value reaches any byte kpb prints, logs or writes, whatever the input form or failure.

Known secrets (quotes, backslashes, unicode, newlines, 4 to 64 characters) go through every way
of passing a variable; environments then fail in every way that prints evaluated data or engine
text (``std.trace`` included), and the real CLI runs them plainly, with ``--json``, with ``-q``,
with ``--check``, in worker processes and as ``kpb diff``, with the ``kpb`` logger at DEBUG.
Every byte of stdout and stderr (file descriptors 1 and 2), the log records and every file under
the project (``.kpb/`` and ``manifests/`` included) is then searched for each
secret's raw, trimmed, line, JSON-escaped and base64 forms (three alignments, both alphabets).
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from kubeprom_build.cli import run
from kubeprom_build.rendering.extvars import parse_variables
from kubeprom_build.rendering.redaction import MIN_LENGTH, Redactor, secrets_of
from tests.helpers import projects

#: One base secret per hazard; each input form gets its own copy (a distinct 2-char prefix).
BASES = (
    'q"\\Z',  # 4 chars: quote and backslash
    "wörd-ü-😀-ключ-Ωmega",  # non-ASCII, one character outside the BMP
    "first line\nsecond-line\tTAB",  # newline and tab
    "https://hooks.slack.invalid/T0/B0/xyzzy'critical",  # slash and single quote
    "Zq+/" * 15 + "KpbW",  # 64 chars, base64-looking
    "ctl\x01\x7f\x85\u2028end",  # control characters and a YAML/JSON line break
)
TAGS = {
    "ext-str": "Ka",
    "ext-str-env": "Kb",
    "ext-str-file": "Kc",
    "ext-code": "Kd",
    "ext-code-jsonnet": "Ke",
    "ext-code-file": "Kf",
    "tla-str": "Kg",
    "tla-code": "Kh",
    "tla-str-file": "Ki",
    "tla-code-file": "Kj",
}
N = len(BASES)


def secret_values(form: str) -> list[str]:
    """The secrets of one input form: distinct per form so a leak names its form."""
    tag = TAGS[form]
    return [tag[1] + base[1:] if len(base) == MIN_LENGTH else tag + base for base in BASES]


def _jsonnet_single_quoted(value: str) -> str:
    return "'" + json.dumps(value)[1:-1].replace('\\"', '"').replace("'", "\\'") + "'"


@dataclass
class Inputs:
    """CLI flags passing one input form's secrets, and jsonnet expressions reading them back."""

    args: list[str]
    env: dict[str, str]
    exprs: list[str]
    params: list[str]  # the environment's function parameters, for TLAs


def given_inputs(
    form: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> Inputs:
    """The secrets of ``form`` as flags, their environment set, and kpb's DEBUG log captured."""
    inputs = make_inputs(form, tmp_path / "secrets-in")
    for name, value in inputs.env.items():
        monkeypatch.setenv(name, value)
    caplog.set_level(logging.DEBUG, logger="kpb")
    return inputs


def make_inputs(form: str, folder: Path) -> Inputs:
    """Pass the secrets of ``form`` as the real flags would (files written under ``folder``)."""
    values = secret_values(form)
    folder.mkdir(parents=True, exist_ok=True)
    names = [f"v{i}" for i in range(N)]
    tla = form.startswith("tla")
    flag = "--" + form.removesuffix("-env").removesuffix("-jsonnet")
    args: list[str] = []
    env: dict[str, str] = {}
    exprs = list(names) if tla else [f"std.extVar('{n}')" for n in names]
    for i, (name, value) in enumerate(zip(names, values, strict=True)):
        if form in ("ext-str", "tla-str"):
            args += [flag, f"{name}={value}"]
        elif form == "ext-str-env":
            env[name] = value
            args += [flag, name]
        elif form.endswith("str-file"):
            path = folder / f"{name}.txt"
            path.write_text(value + "\n", encoding="utf-8")  # editors end files with a newline
            args += [flag, f"{name}={path}"]
        elif form == "ext-code":
            args += [flag, f"{name}={json.dumps(value)}"]
        elif form == "ext-code-jsonnet":
            args += ["--ext-code", f"{name}={{ x: {_jsonnet_single_quoted(value)} }}"]
            exprs[i] = f"std.extVar('{name}').x"
        elif form == "tla-code":
            args += [flag, f"{name}={json.dumps({'x': [value]})}"]
            exprs[i] = f"{name}.x[0]"
    if form.endswith("code-file"):
        # the README's inline secrets mode: one JSON file, the secrets are its nested leaves
        document = {
            "slack": {"critical": values[0], "warning": values[1]},
            "grafana": {"adminPassword": values[2], "githubClientSecret": values[3]},
            "list": [values[4], {"deep": [values[5]]}],
            "replicas": 3,
        }
        path = folder / "secrets.json"
        path.write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n", "utf-8")
        root = "secrets" if tla else "std.extVar('secrets')"
        exprs = [
            f"{root}.slack.critical",
            f"{root}.slack.warning",
            f"{root}.grafana.adminPassword",
            f"{root}.grafana.githubClientSecret",
            f"{root}.list[0]",
            f"{root}.list[1].deep[0]",
        ]
        args = [flag, f"secrets={path}"]
        names = ["secrets"]
    if form.endswith("str-file"):
        exprs = [f"std.rstripChars({e}, '\\n')" if i % 2 else e for i, e in enumerate(exprs)]
    return Inputs(args, env, exprs, names if tla else [])


def program(inputs: Inputs, body: str) -> str:
    """An environment that binds the secrets to ``S`` and evaluates ``body``."""
    head = f"function({', '.join(inputs.params)})\n" if inputs.params else ""
    return (
        f"{head}local S = [{', '.join(inputs.exprs)}];\nlocal J = std.join('', S);\n"
        f"local B(s) = std.base64(std.encodeUTF8(s));  // go and cpp encode only bytes\n{body}\n"
    )


SECRET_OBJECT = (
    "{ kind: 'Secret', apiVersion: 'v1', metadata: { name: 's' },"
    " data: { ['k%d' % i]: B(S[i]) for i in std.range(0, std.length(S) - 1) }"
    " + { all: B(J), cfg: B(std.manifestJson({ pw: S })) },"
    " stringData: { ['k%d' % i]: S[i] for i in std.range(0, std.length(S) - 1) } }"
)
#: Environments that fail in a way that prints data (samples) or engine text.
FAILURES: dict[str, str] = {
    "output-not-object": "S",
    "value-not-object": "{ a: S }",
    "array-of-secret-objects": "{ a: [" + SECRET_OBJECT + "] }",
    "unrepresentable-next-to-secret": "{ a: " + SECRET_OBJECT + " + { bad: 'x\\u2028y' } }",
    "error-concatenated": "{ a: error 'failed: ' + std.join(' | ', S) }",
    "assert-equal": "{ a: std.assertEqual(J, 'nope') }",
    "base64-secret-then-error": "local s = " + SECRET_OBJECT + ";\n{ a: error std.toString(s) }",
    "missing-field-in-secret-object": "{ a: ({ kind: 'Secret', pw: S, v: J }).nope }",
    "trace-quotes-secret": "{ a: {}[J] }",
    "secret-as-variable-name": "{ a: std.extVar(S[1]) }",
    "manifest-twice-escaped": "{ a: error std.manifestJson({ cfg: std.manifestJson({ s: S }) }) }",
    "yaml-in-error": "{ a: error std.manifestYamlDoc({ s: S, b: B(J) }) }",
    # the engines print std.trace text on file descriptor 2 themselves
    "std-trace": "{ a: std.trace('traced: ' + std.join(' | ', S) + B(J), 1) }",
}
SAMPLE_FAILURES = {
    "output-not-object",
    "value-not-object",
    "array-of-secret-objects",
    "unrepresentable-next-to-secret",
}
CASES = [
    (form, failure, engine)
    for form in TAGS
    for failure in FAILURES
    for engine in (["rs"] if failure in SAMPLE_FAILURES else ["rs", "go", "cpp"])
]


def _base64_forms(data: bytes) -> Iterator[str]:
    for offset in range(3):
        encoded = base64.b64encode(bytes(offset) + data).decode("ascii")
        stable = encoded[(8 * offset + 5) // 6 : (8 * (offset + len(data))) // 6]
        yield stable
        yield stable.translate(str.maketrans("+/", "-_"))


def forms(value: str) -> set[str]:
    """Every form of ``value`` that must never appear: raw, trimmed, lines, escaped, base64."""
    texts = {value, value.strip(), *(ln.strip() for ln in value.splitlines())}
    for text in list(texts):
        texts.add(json.dumps(text)[1:-1])
        texts.add(json.dumps(text, ensure_ascii=False)[1:-1])
    found = set(texts)
    for text in texts:
        found.update(_base64_forms(text.encode("utf-8")))
    return {f for f in found if len(f) >= MIN_LENGTH}


def leaks(blob: bytes, values: list[str]) -> list[str]:
    """The forms of ``values`` found in ``blob`` (as UTF-8 text, bytes that are not are kept)."""
    text = blob.decode("utf-8", "surrogateescape")
    return sorted({repr(f) for v in values for f in forms(v) if f in text})


def test_the_forms_cannot_match_by_chance() -> None:
    """A form made only of hex digits could match a random salted digest in .kpb/."""
    for form in TAGS:
        for value in secret_values(form):
            assert len(value) >= MIN_LENGTH
            for text in forms(value):
                assert not re.fullmatch(r"[0-9a-f]+", text), (form, text)


def _project_bytes(root: Path, skip_manifests: bool) -> Iterator[tuple[str, bytes]]:
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root).as_posix()
        if rel.startswith(("vendor/", "libs/", "environments/", "secrets-in/", ".git/")):
            continue
        if skip_manifests and rel.startswith("manifests/"):
            continue
        if path.is_file() and not path.is_symlink():
            yield rel, path.read_bytes()


def _run_all(
    root: Path,
    inputs: Inputs,
    engine: str,
    capfd: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
    parallel: bool,
) -> list[tuple[str, int, bytes]]:
    """Run build (plain, --json, -q, --check, in workers) and diff: what each printed/logged."""
    common = ["--engine", engine, *inputs.args]
    runs = {
        "build": ["build", "dev", "--force", *common],
        "build --json": ["build", "dev", "--force", "--json", *common],
        "-q build": ["-q", "build", "dev", "--force", *common],
        "build --check": ["build", "dev", "--check", *common],
        "diff": ["diff", "dev", *common],
    }
    if engine != "rs":  # the other engines differ only in the text of their messages
        runs = {k: v for k, v in runs.items() if k in ("build", "build --json")}
    if parallel:  # worker processes, and the "2 of 2 environments failed" path
        runs["build -j2 dev prd"] = ["build", "dev", "prd", "--force", "-j", "2", *common]
    printed = []
    for label, args in runs.items():
        caplog.clear()
        code = run(["-C", str(root), *args])
        out = capfd.readouterr()
        logs = "\n".join(
            f"{r.getMessage()} {r.exc_text or ''} {r.stack_info or ''}" for r in caplog.records
        )
        printed.append((label, code, (out.out + "\n" + out.err + "\n" + logs).encode()))
    return printed


@pytest.mark.parametrize(("form", "failure", "engine"), CASES)
def test_no_form_of_a_secret_leaks(
    form: str,
    failure: str,
    engine: str,
    tmp_path: Path,
    capfd: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    root = projects.make_project(tmp_path / "repo")
    inputs = given_inputs(form, tmp_path, monkeypatch, caplog)
    projects.set_env(root, "dev", program(inputs, FAILURES[failure]))
    projects.set_env(root, "prd", program(inputs, FAILURES[failure]))
    values = secret_values(form)
    parallel = failure in ("error-concatenated", "value-not-object") and engine == "rs"
    for label, code, blob in _run_all(root, inputs, engine, capfd, caplog, parallel):
        assert code != 0, f"{label}: the environment was expected to fail"
        assert b"Traceback" not in blob, f"{label}: {blob[-600:]!r}"
        assert not leaks(blob, values), f"{label} printed {leaks(blob, values)}"
    for rel, data in _project_bytes(root, skip_manifests=False):
        assert not leaks(data, values), f"{rel} holds {leaks(data, values)}"


@pytest.mark.parametrize("form", list(TAGS))
def test_successful_build_writes_secrets_only_into_manifests(
    form: str,
    tmp_path: Path,
    capfd: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Inline mode: the Secret in manifests/ holds the value; output, logs and .kpb/ do not."""
    root = projects.make_project(tmp_path / "repo")
    inputs = given_inputs(form, tmp_path, monkeypatch, caplog)
    values = secret_values(form)
    projects.set_env(root, "dev", program(inputs, "{ cm: { kind: 'ConfigMap' } }"))
    assert run(["-C", str(root), "build", "dev", *inputs.args]) == 0
    # stringData without the last secret: its U+0085 and U+2028 are outside the YAML contract
    renderable = SECRET_OBJECT.replace("std.length(S) - 1", "std.length(S) - 2")
    projects.set_env(root, "dev", program(inputs, "{ secret: " + renderable + " }"))
    # diff against the secret-free tree: every added line is the new Secret
    assert run(["-C", str(root), "diff", "dev", *inputs.args]) == 1
    assert run(["-C", str(root), "build", "dev", "--json", *inputs.args]) == 0
    assert run(["-C", str(root), "build", "dev", *inputs.args]) == 0  # skipped: stamp fresh
    assert run(["-C", str(root), "build", "--check", "dev", *inputs.args]) == 0
    out = capfd.readouterr()
    logs = "\n".join(r.getMessage() for r in caplog.records)
    printed = (out.out + out.err + logs).encode()
    assert not leaks(printed, values), leaks(printed, values)
    assert "secret" in out.out  # the diff and the summary are there, only masked
    for rel, data in _project_bytes(root, skip_manifests=True):
        assert not leaks(data, values), f"{rel} holds {leaks(data, values)}"
    manifest = (root / "manifests" / "dev" / "secret.yaml").read_bytes()
    assert leaks(manifest, values)  # the build did render them: the test would see a leak
    # a stamp must not let a guessed value be checked offline: no unsalted hash of the output
    stamp = (root / ".kpb" / "build" / "dev.json").read_text()
    assert hashlib.sha256(manifest).hexdigest() not in stamp


# --- the redactor itself -----------------------------------------------------------------------


@pytest.mark.parametrize("form", list(TAGS))
def test_verbose_prints_debug_lines_but_no_secret(
    form: str,
    tmp_path: Path,
    capfd: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``-v`` shows kpb's debug log on stderr; no debug line carries a secret to the terminal.

    The environments trace the secrets and render them, in this process and in workers, and
    the second build is skipped by its stamp: every debug line a build can print is printed.
    """
    root = projects.make_project(tmp_path / "repo")
    inputs = given_inputs(form, tmp_path, monkeypatch, caplog)
    values = secret_values(form)
    renderable = SECRET_OBJECT.replace("std.length(S) - 1", "std.length(S) - 2")
    body = "std.trace('traced: ' + std.join(' | ', S) + B(J), { secret: " + renderable + " })"
    projects.set_env(root, "dev", program(inputs, body))
    projects.set_env(root, "prd", program(inputs, body))
    runs = [
        ["-v", "build", "dev", "--force"],
        ["build", "dev", "--verbose", "--json"],  # skipped: the stamp is current
        ["build", "dev", "prd", "--force", "-j", "2", "-v"],
        ["-v", "build", "--check", "--force", "dev"],
        ["-v", "diff", "dev"],
    ]
    printed = b""
    for args in runs:
        assert run(["-C", str(root), *args, *inputs.args]) == 0, args
        out = capfd.readouterr()
        printed += (out.out + "\n" + out.err).encode()
    assert b"debug: engine rs" in printed
    assert b"debug: dev: the build stamp proves the output current" in printed
    assert b"traced: ***" in printed  # the trace is shown, masked
    assert not leaks(printed, values), leaks(printed, values)


def test_base64_inside_longer_data_is_masked_at_every_offset() -> None:
    secret = "hunter2-hunter2"
    redactor = Redactor(secrets_of("--ext-str pw", secret, code=False), given=True)
    for prefix in (b"", b"x", b"xy", b"xyz"):
        for encode in (base64.b64encode, base64.urlsafe_b64encode):
            blob = encode(prefix + secret.encode() + b"tail").decode()
            masked = redactor.redact(f"data: {blob}")
            assert not any(f in masked for f in forms(secret)), (prefix, masked)
            assert "***" in masked


def test_every_escape_style_is_masked() -> None:
    secret = "a\"b\\c\nd\u00e9\u2028\x7f\x01 \U0001f600/'e\t"
    redactor = Redactor(secrets_of("--ext-str pw", secret, code=False), given=True)
    styles = [
        json.dumps(secret),
        json.dumps(secret, ensure_ascii=False),
        json.dumps(json.dumps(secret)),
        repr(secret),
        ascii(secret),
        secret.replace("\u00e9", "\\u00E9").replace("/", "\\/"),  # upper-case hex, escaped slash
    ]
    for text in styles:
        assert redactor.redact(f"<{text}>") in ('<"***">', "<'***'>", '<"\\"***\\"">', "<***>"), (
            text
        )


def test_short_secrets_hide_engine_messages_and_whole_words_only() -> None:
    redactor = parse_variables([("--ext-str", "env=dev"), ("--ext-str", "pw=long-secret")])
    masker = redactor.redactor()
    assert masker.short == ("--ext-str env",)
    assert masker.redact("device dev long-secret") == "device *** ***"
    from kubeprom_build.rendering.engineerrors import engine_message

    message = engine_message(
        "x", "RUNTIME ERROR: boom dev\n\tenvironments/x.jsonnet:1:2-3\t", masker
    )
    assert message.startswith("environment 'x': environments/x.jsonnet:1:2")
    assert "boom" not in message and "--ext-str env" in message


def test_code_variables_mask_their_string_leaves_not_their_keys() -> None:
    code = '{"slack": {"critical": "https://x.invalid/abc"}, "n": 3, "l": ["leaf-in-list"]}'
    masker = Redactor(secrets_of("--ext-code-file secrets", code, code=True), given=True)
    assert masker.redact("slack critical https://x.invalid/abc leaf-in-list") == (
        "slack critical *** ***"
    )
    jsonnet = "{ a: 'it\\'s-secret', b: @'verb''atim', c: |||\n    block text\n  |||, // 'no'\n}"
    masker = Redactor(secrets_of("--ext-code c", jsonnet, code=True), given=True)
    assert masker.redact("it's-secret verb'atim block text") == "*** *** ***"
    assert masker.short == ()  # the comment's 'no' is not a literal


def test_code_numbers_are_not_secrets() -> None:
    masker = parse_variables([("--ext-code", "replicas=3")]).redactor()
    assert masker.short == () and masker.given
    assert masker.redact("replicas 3 at line 3") == "replicas 3 at line 3"


def test_samples_show_structure_only_once_a_variable_is_given() -> None:
    from kubeprom_build.errors import BuildError
    from kubeprom_build.rendering import outputs

    doc = {"a": [{"kind": "Secret", "n": 3, "ok": True, "none": None, "s": "not-a-secret"}]}
    with pytest.raises(BuildError) as plain:
        outputs.output_files("dev", doc)
    assert '"s": "not-a-secret"' in str(plain.value)  # no variable: values are shown
    masker = parse_variables([("--ext-code", "replicas=3")]).redactor()
    with pytest.raises(BuildError) as masked:
        outputs.output_files("dev", doc, masker)
    sample = str(masked.value)
    assert "not-a-secret" not in sample and "Secret" not in sample
    for kept in ('"kind": "***"', '"n": 3', '"ok": true', '"none": null', '"s": "***"'):
        assert kept in sample


GO_PW = ("--engine", "go", "-j", "2", "--ext-str", "pw")


@pytest.mark.slow
@pytest.mark.parametrize("envs", [["dev"], ["dev", "prd"]], ids=["in-process", "workers"])
def test_ctrl_c_while_the_engine_traces_a_secret(tmp_path: Path, envs: list[str]) -> None:
    """After Ctrl-C the native evaluation goes on printing; none of it may reach the terminal."""
    root = projects.make_project(tmp_path / "repo")
    secret = "Kz" + BASES[3]
    busy = (
        "std.foldl(function(acc, i) acc + (if i % 20000 == 0 then "
        "std.length(std.trace('again ' + pw, 'x')) else 1), std.range(1, 50000000), 0)"
    )
    source = f"local pw = std.extVar('pw');\n{{ a: std.trace('first ' + pw, {{ n: {busy} }}) }}\n"
    for env in envs:
        projects.set_env(root, env, source)
    proc = subprocess.Popen(
        [sys.executable, "-m", "kubeprom_build", "-C", str(root), "build", *envs, *GO_PW],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "pw": secret, "PYTHONPATH": str(Path(__file__).parent.parent)},
    )
    lock = root / ".kpb" / "locks" / f"manifests-{envs[0]}.lock"
    deadline = time.monotonic() + 60
    while not lock.exists() and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(1.0)  # the engine is tracing by now
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err[-500:]
    time.sleep(0.5)  # a straggling worker would print now
    assert not leaks(out + err, [secret]), leaks(out + err, [secret])


@pytest.mark.parametrize("form", list(TAGS))
def test_output_keys_made_of_secrets_are_not_listed(
    form: str,
    tmp_path: Path,
    capfd: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The file exists (that is the build's job), but --check and --json list it masked."""
    root = projects.make_project(tmp_path / "repo")
    inputs = given_inputs(form, tmp_path, monkeypatch, caplog)
    projects.set_env(
        root,
        "dev",
        program(inputs, "{ [S[1]]: { a: 1 }, [std.rstripChars(S[4], '\\n')]: { b: 2 } }"),
    )
    assert run(["-C", str(root), "build", "dev", "--check", *inputs.args]) == 1
    assert run(["-C", str(root), "build", "dev", "--check", "--json", *inputs.args]) == 1
    assert run(["-C", str(root), "diff", "dev", *inputs.args]) == 1
    assert run(["-C", str(root), "build", "dev", "--json", *inputs.args]) == 0
    out = capfd.readouterr()
    printed = (out.out + out.err + "\n".join(r.getMessage() for r in caplog.records)).encode()
    values = secret_values(form)
    assert not leaks(printed, values), leaks(printed, values)
    assert "***.yaml" in out.out
