"""Stamps: what makes an environment fresh, and that no secret is stored."""

from __future__ import annotations

import hashlib
from pathlib import Path

from kubeprom_build.rendering import buildstate

OUTPUT = {"a.yaml": b"a: 1\n"}


def _stamp(root: Path, settings: str = "s") -> buildstate.Stamp:
    (root / "lib").mkdir(parents=True, exist_ok=True)
    (root / "lib" / "x.libsonnet").write_text("1")
    salt = buildstate.new_salt()
    return buildstate.Stamp(
        salt=salt,
        settings=settings,
        lookups=(
            buildstate.Lookup("env/", "x.libsonnet", "lib/x.libsonnet", ("env/x.libsonnet",)),
        ),
        inputs={"lib/x.libsonnet": buildstate.digest(b"1", salt)},
        outputs={k: buildstate.digest(v, salt) for k, v in OUTPUT.items()},
    )


def test_round_trip(tmp_path: Path) -> None:
    stamp = _stamp(tmp_path)
    buildstate.save(tmp_path / ".kpb", "dev", stamp)
    assert buildstate.load(tmp_path / ".kpb", "dev") == stamp
    buildstate.forget(tmp_path / ".kpb", "dev")
    assert buildstate.load(tmp_path / ".kpb", "dev") is None


def test_corrupt_or_foreign_stamp_is_ignored(tmp_path: Path) -> None:
    path = buildstate.stamp_path(tmp_path, "dev")
    path.parent.mkdir(parents=True)
    for text in ("not json", "[]", '{"format": 99}', '{"format": 1}'):
        path.write_text(text)
        assert buildstate.load(tmp_path, "dev") is None


def test_fresh_only_when_everything_matches(tmp_path: Path) -> None:
    stamp = _stamp(tmp_path)
    assert buildstate.is_fresh(stamp, "s", tmp_path, dict(OUTPUT))
    assert not buildstate.is_fresh(stamp, "other settings", tmp_path, dict(OUTPUT))
    assert not buildstate.is_fresh(stamp, "s", tmp_path, {"a.yaml": b"tampered\n"})
    assert not buildstate.is_fresh(stamp, "s", tmp_path, {**OUTPUT, "extra.yaml": b""})
    assert not buildstate.is_fresh(stamp, "s", tmp_path, {})


def test_changed_input_makes_stale(tmp_path: Path) -> None:
    stamp = _stamp(tmp_path)
    (tmp_path / "lib" / "x.libsonnet").write_text("2")
    assert not buildstate.is_fresh(stamp, "s", tmp_path, dict(OUTPUT))
    (tmp_path / "lib" / "x.libsonnet").unlink()
    assert not buildstate.is_fresh(stamp, "s", tmp_path, dict(OUTPUT))


def test_new_file_that_would_shadow_an_import_makes_stale(tmp_path: Path) -> None:
    stamp = _stamp(tmp_path)
    (tmp_path / "env").mkdir()
    (tmp_path / "env" / "x.libsonnet").write_text("shadow")
    assert not buildstate.is_fresh(stamp, "s", tmp_path, dict(OUTPUT))


def test_settings_digest_is_salted_and_order_sensitive() -> None:
    salt = buildstate.new_salt()
    assert buildstate.settings_digest(salt, ["a", "b"]) != buildstate.settings_digest(
        salt, ["b", "a"]
    )
    assert buildstate.settings_digest(salt, ["ab"]) != buildstate.settings_digest(salt, ["a", "b"])
    assert buildstate.settings_digest(salt, ["a"]) != buildstate.settings_digest(
        buildstate.new_salt(), ["a"]
    )


def test_file_hashes_are_salted(tmp_path: Path) -> None:
    """An output can hold an inline secret: its plain hash would let a guess be checked offline."""
    stamp = _stamp(tmp_path)
    buildstate.save(tmp_path / ".kpb", "dev", stamp)
    text = buildstate.stamp_path(tmp_path / ".kpb", "dev").read_text()
    for data in (*OUTPUT.values(), b"1"):
        assert hashlib.sha256(data).hexdigest() not in text
    assert buildstate.digest(b"1", stamp.salt) != buildstate.digest(b"1", buildstate.new_salt())
