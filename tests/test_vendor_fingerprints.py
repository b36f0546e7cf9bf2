"""The no-op check trusts a file's recorded stat fingerprint instead of reading it (issue 11).

What must hold: an unchanged package is not read at all; any change to a file's bytes, name or
mode is still found even when its mtime is put back (the ctime, size or inode moved); a
fingerprint is never trusted for another lock entry or after the inputs changed; and
``--verify`` reads every byte whatever the record says.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from kubeprom_build import vendoring
from kubeprom_build.cli import run
from kubeprom_build.vendoring import checksum
from tests.helpers.projects import LIB_FILES as FILES
from tests.helpers.projects import LIB_PKG as PKG

#: Paths of regular files the process opened while counting (see the audit hook below).
_opened: list[str] | None = None


def _audit(event: str, args: tuple[Any, ...]) -> None:
    if _opened is not None and event == "open" and isinstance(args[0], (str, bytes)):
        _opened.append(os.fsdecode(args[0]))


sys.addaudithook(_audit)


@pytest.fixture
def opened() -> Iterator[list[str]]:
    """Names of every file opened in this process during the test (os.open included)."""
    global _opened
    _opened = []
    try:
        yield _opened
    finally:
        _opened = None


@pytest.fixture
def project(lib_project: Path) -> Path:
    return lib_project


def _record(project: Path) -> dict[str, Any]:
    data = (project / ".kpb/vendor-record.json").read_bytes()
    body: dict[str, Any] = json.loads(data.partition(b"\n")[2])
    return body


def _package_files_read(opened: list[str]) -> list[str]:
    return sorted(name for name in opened if name.endswith(".libsonnet"))


def test_the_record_holds_a_fingerprint_of_every_file_once_settled(project: Path) -> None:
    record = _record(project)["packages"]["github.com/org/lib"]
    assert sorted(record["stats"]) == sorted(FILES)
    info = os.lstat(project / PKG / "a.libsonnet")
    assert record["stats"]["a.libsonnet"] == list(checksum.fingerprint(info))


def test_a_noop_reads_no_package_file(project: Path, opened: list[str]) -> None:
    assert run(["-C", str(project), "vendor"]) == 0
    assert vendoring.ready(vendoring.Options(project, project / "vendor")) == ()
    assert _package_files_read(opened) == []


def _rewrite_keeping_mtime(path: Path, text: str) -> None:
    before = os.lstat(path)
    assert len(text.encode()) == before.st_size
    path.write_text(text)
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert os.lstat(path).st_mtime_ns == before.st_mtime_ns


def test_new_bytes_behind_the_old_mtime_are_found(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = project / PKG / "a.libsonnet"
    _rewrite_keeping_mtime(target, "{a: 9}\n")  # same size, same mtime: only the ctime moved
    opts = vendoring.Options(project, project / "vendor")
    assert vendoring.ready(opts) == ("github.com/org/lib",)
    capsys.readouterr()
    assert run(["-C", str(project), "vendor"]) == 0
    assert "fetched  github.com/org/lib" in capsys.readouterr().err
    assert target.read_text() == FILES["a.libsonnet"]


def test_a_file_replaced_by_another_of_the_same_size_and_mtime_is_found(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = project / PKG / "b.libsonnet"
    before = os.lstat(target)
    forged = target.with_name("forged.tmp")
    forged.write_text("{b: 7}\n")
    os.utime(forged, ns=(before.st_atime_ns, before.st_mtime_ns))
    forged.rename(target)  # new inode, same size and mtime
    capsys.readouterr()
    assert run(["-C", str(project), "vendor"]) == 0
    assert "fetched  github.com/org/lib" in capsys.readouterr().err
    assert target.read_text() == FILES["b.libsonnet"]


def test_a_rename_is_found(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pkg = project / PKG
    (pkg / "a.libsonnet").rename(pkg / "a2.libsonnet")  # same bytes, same stat, new name
    capsys.readouterr()
    assert run(["-C", str(project), "vendor"]) == 0
    assert "fetched  github.com/org/lib" in capsys.readouterr().err
    assert (pkg / "a.libsonnet").is_file() and not (pkg / "a2.libsonnet").exists()


def test_a_touched_file_is_read_once_then_recorded_again(
    project: Path, opened: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    target = project / PKG / "c/d.libsonnet"
    os.utime(target)  # same bytes, new mtime and ctime
    time.sleep(checksum.RACY_NS / 1e9)
    capsys.readouterr()
    assert run(["-C", str(project), "vendor"]) == 0
    assert "fetched  " not in capsys.readouterr().err  # intact: nothing to download
    assert _package_files_read(opened) == ["d.libsonnet"]  # opened below its directory's fd
    stats = _record(project)["packages"]["github.com/org/lib"]["stats"]
    assert stats["c/d.libsonnet"] == list(checksum.fingerprint(os.lstat(target)))
    opened.clear()
    assert run(["-C", str(project), "vendor"]) == 0
    assert _package_files_read(opened) == []


def _forge_record(project: Path, edit: dict[str, Any]) -> None:
    """Rewrite the record as kpb itself would seal it (the key is the user's)."""
    body = _record(project)
    body["packages"]["github.com/org/lib"].update(edit)
    data = json.dumps(body, separators=(",", ":")).encode()
    seal = (Path(os.environ["KPB_CACHE"]) / "record-seal").read_bytes()
    mac = hmac.new(seal, data, hashlib.sha256).hexdigest().encode()
    (project / ".kpb/vendor-record.json").write_bytes(mac + b"\n" + data)


def test_verify_reads_every_byte_whatever_the_fingerprints_say(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A record vouching for other bytes than the files hold: only ``--verify`` can tell."""
    entries = _record(project)["packages"]["github.com/org/lib"]["entries"]
    for entry in entries:
        if entry[0] == "a.libsonnet":
            entry[2] = hashlib.sha256(b"something else").hexdigest()
    _forge_record(project, {"entries": entries})
    capsys.readouterr()
    assert run(["-C", str(project), "vendor"]) == 0  # the no-op trusts kpb's own record
    assert "fetched  " not in capsys.readouterr().err
    assert run(["-C", str(project), "vendor", "--verify"]) == 1
    assert "github.com/org/lib: modified (changed: a.libsonnet)" in capsys.readouterr().err


def test_fingerprints_are_not_trusted_once_the_inputs_change(
    project: Path, opened: list[str]
) -> None:
    jsonnetfile = project / "jsonnetfile.json"
    body = json.loads(jsonnetfile.read_text())
    body["legacyImports"] = not body.get("legacyImports", True)  # the package stays the same
    jsonnetfile.write_text(json.dumps(body, indent=2) + "\n")
    opts = vendoring.Options(project, project / "vendor")
    assert vendoring.ready(opts) == ()
    assert len(_package_files_read(opened)) == len(FILES)


def test_a_fingerprint_is_never_taken_while_it_could_be_shared(tmp_path: Path) -> None:
    """A file changed within the clock's tick after being read could keep its ctime."""
    (tmp_path / "f.libsonnet").write_text("{}\n")
    fresh = checksum.scan(tmp_path)
    assert fresh.stats == {} and fresh.racy == 1
    time.sleep(checksum.RACY_NS / 1e9)
    settled = checksum.scan(tmp_path)
    assert list(settled.stats) == ["f.libsonnet"] and settled.racy == 0
    vouched = checksum.scan(
        tmp_path, known={"f.libsonnet": (settled.stats["f.libsonnet"], settled.entries[0])}
    )
    assert vouched.vouched == 1 and vouched.sum == "" and vouched.entries == settled.entries
