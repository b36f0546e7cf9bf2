"""Output trees: compare, atomic publish, mtime preservation, stale removal, failures."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from kubeprom_build.errors import BuildError
from kubeprom_build.rendering import manifests
from tests.helpers.disks import tiny_tmpfs

OLD = {"a.yaml": b"a: 1\n", "b.yaml": b"b: 1\n", "setup/ns.yaml": b"kind: Namespace\n"}


def _published(tmp_path: Path) -> Path:
    target = tmp_path / "manifests" / "dev"
    manifests.publish(target, OLD)
    past = 1_000_000_000
    for path in target.rglob("*.yaml"):
        os.utime(path, ns=(past, past))
    return target


def _siblings(target: Path) -> list[str]:
    return sorted(p.name for p in target.parent.iterdir() if p.name != target.name)


def test_publish_creates_tree(tmp_path: Path) -> None:
    target = tmp_path / "manifests" / "dev"
    diff = manifests.publish(target, OLD)
    assert diff.added == ("a.yaml", "b.yaml", "setup/ns.yaml")
    assert manifests.read_tree(target) == OLD
    assert oct(target.stat().st_mode & 0o777) == "0o755"
    assert oct((target / "a.yaml").stat().st_mode & 0o777) == "0o644"


def test_unchanged_files_keep_mtime_changed_get_new_stale_removed(tmp_path: Path) -> None:
    target = _published(tmp_path)
    old_inode = (target / "a.yaml").stat().st_ino
    new = {"a.yaml": OLD["a.yaml"], "b.yaml": b"b: 2\n", "c.yaml": b"c: 1\n"}
    diff = manifests.publish(target, new)
    assert (diff.added, diff.changed, diff.removed, diff.unchanged) == (
        ("c.yaml",),
        ("b.yaml",),
        ("setup/ns.yaml",),
        1,
    )
    assert manifests.read_tree(target) == new
    assert (target / "a.yaml").stat().st_mtime_ns == 1_000_000_000
    assert (target / "a.yaml").stat().st_ino == old_inode
    assert (target / "b.yaml").stat().st_mtime_ns != 1_000_000_000
    assert not (target / "setup").exists()
    assert _siblings(target) == []


def test_identical_publish_touches_nothing(tmp_path: Path) -> None:
    target = _published(tmp_path)
    before = target.stat().st_ino
    assert manifests.publish(target, OLD).clean
    assert target.stat().st_ino == before


def test_compare_writes_nothing(tmp_path: Path) -> None:
    target = _published(tmp_path)
    diff = manifests.compare(target, {"a.yaml": b"changed\n"})
    assert diff.changed == ("a.yaml",)
    assert diff.removed == ("b.yaml", "setup/ns.yaml")
    assert manifests.read_tree(target) == OLD
    assert manifests.compare(tmp_path / "missing", OLD).added == tuple(sorted(OLD))


def test_unified_diff(tmp_path: Path) -> None:
    target = _published(tmp_path)
    text = manifests.unified_diff(target, {"a.yaml": b"a: 2\n", "b.yaml": OLD["b.yaml"]}, "m/dev")
    assert "--- a/m/dev/a.yaml\n+++ b/m/dev/a.yaml\n" in text
    assert "-a: 1\n+a: 2\n" in text
    assert "+++ /dev/null" in text and "-kind: Namespace" in text
    assert "b.yaml" not in text


def test_symlink_in_tree_is_not_followed(tmp_path: Path) -> None:
    target = _published(tmp_path)
    secret = tmp_path / "secret"
    secret.write_bytes(b"do not read\n")
    os.symlink(secret, target / "link.yaml")
    tree = manifests.read_tree(target)
    assert tree["link.yaml"] is None
    manifests.publish(target, {"link.yaml": b"x: 1\n"})
    assert not (target / "link.yaml").is_symlink()
    assert secret.read_bytes() == b"do not read\n"


def test_failure_while_filling_leaves_old_tree_and_no_temp_dir(tmp_path: Path) -> None:
    target = _published(tmp_path)
    # 'a.yaml' is written as a file, then 'a.yaml/x.yaml' needs it as a directory: a real OSError.
    with pytest.raises(BuildError, match="previous dev/ was left unchanged"):
        manifests.publish(target, {"a.yaml": b"new\n", "a.yaml/x.yaml": b"y\n"})
    assert manifests.read_tree(target) == OLD
    assert _siblings(target) == []


def test_leftover_staging_dir_is_recovered(tmp_path: Path) -> None:
    target = _published(tmp_path)
    leftover = target.parent / ".dev.kpb-tmp-abc"
    leftover.mkdir()
    (leftover / "half.yaml").write_text("x")
    manifests.publish(target, {"a.yaml": b"z\n"})
    assert _siblings(target) == []


@pytest.fixture
def tiny_disk(tmp_path: Path) -> Iterator[Path]:
    with tiny_tmpfs(tmp_path / "disk", "256k") as mount:
        yield mount


def test_disk_full_leaves_old_tree(tiny_disk: Path) -> None:
    target = tiny_disk / "manifests" / "dev"
    manifests.publish(target, OLD)
    huge = {f"big-{i}.yaml": b"x" * 60_000 for i in range(10)}
    with pytest.raises(BuildError, match="no space left on device"):
        manifests.publish(target, huge)
    assert manifests.read_tree(target) == OLD
    assert _siblings(target) == []
