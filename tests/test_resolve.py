"""jb's resolution rules as tables over an in-memory package source.

Each package is ``(name, version) → (sha, its own dependencies)``; the fetcher records what was
fetched so the tests can check that locked, intact packages are never fetched again.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import pytest

from kubeprom_build.errors import IntegrityError
from kubeprom_build.vendoring.jsonnetfile import Dependency, GitSource, JsonnetFile
from kubeprom_build.vendoring.resolve import Fetched, resolve


def dep(name: str, version: str = "master", sum_: str = "", single: bool = False) -> Dependency:
    return Dependency(GitSource(f"https://github.com/o/{name}.git"), version, sum_, single)


def sha(name: str, version: str) -> str:
    return f"{name}@{version}"


@dataclass
class TableSource:
    """Packages by (name, version): their nested deps; sums are derived from the sha."""

    packages: dict[tuple[str, str], list[Dependency]]
    vendor: dict[str, str] = field(default_factory=dict)  # name -> sum currently in vendor/
    upstream: dict[str, JsonnetFile] = field(default_factory=dict)
    fetched: list[str] = field(default_factory=list)

    def _manifest(self, name: str, version: str) -> JsonnetFile:
        short = name.rsplit("/", 1)[-1]
        return JsonnetFile(tuple(self.packages.get((short, version), [])))

    def vendored(self, locked: Dependency) -> Fetched | None:
        if self.vendor.get(locked.name) != locked.sum:
            return None
        short = locked.name.rsplit("/", 1)[-1]
        version = locked.version.split("@", 1)[1]
        return Fetched(locked.version, locked.sum, self._manifest(short, version))

    def fetch(self, deps: Sequence[Dependency]) -> list[Fetched]:
        out = []
        for d in deps:
            short = d.name.rsplit("/", 1)[-1]
            version = d.version.split("@", 1)[1] if "@" in d.version else d.version
            self.fetched.append(f"{short}@{version}")
            self.vendor[d.name] = f"sum-{short}-{version}"  # now installed, like jb's vendor/
            out.append(
                Fetched(
                    sha(short, version), f"sum-{short}-{version}", self._manifest(short, version)
                )
            )
        return out

    def upstream_lock(self, dep: Dependency) -> JsonnetFile | None:
        return self.upstream.get(dep.name.rsplit("/", 1)[-1])


def versions(lock: Sequence[Dependency]) -> list[str]:
    return [d.version for d in lock]


def test_first_resolution_wins_in_file_order() -> None:
    source = TableSource(
        {
            ("a", "master"): [dep("frozen", "A")],
            ("b", "master"): [dep("frozen", "B")],
        }
    )
    result = resolve([dep("a"), dep("b")], JsonnetFile(), source)
    assert versions(result.lock) == ["a@master", "b@master", "frozen@A"]
    swapped = resolve([dep("b"), dep("a")], JsonnetFile(), TableSource(source.packages))
    assert versions(swapped.lock) == ["b@master", "a@master", "frozen@B"]
    (conflict,) = result.conflicts
    assert conflict.first == "github.com/o/a" and conflict.second == "github.com/o/b"
    assert "'A'" in conflict.message() and "'B'" in conflict.message()


def test_breadth_first_per_level_then_depth_first() -> None:
    # a -> x@deep -> lib@1 ; b -> lib@2 : a's subtree is finished before b's children are seen,
    # but b itself (same level as a) is fetched before anything nested.
    source = TableSource(
        {
            ("a", "master"): [dep("x", "deep")],
            ("x", "deep"): [dep("lib", "1")],
            ("b", "master"): [dep("lib", "2")],
        }
    )
    result = resolve([dep("a"), dep("b")], JsonnetFile(), source)
    assert source.fetched == ["a@master", "b@master", "x@deep", "lib@1"]
    assert versions(result.lock)[-1] == "lib@1"


def test_lock_wins_over_everything() -> None:
    source = TableSource({("a", "master"): [dep("lib", "new")]})
    lock = JsonnetFile((dep("lib", sha("lib", "old"), "sum-lib-old"),))
    result = resolve([dep("a")], lock, source)
    assert versions(result.lock) == ["a@master", "lib@old"]


def test_intact_locked_package_is_not_fetched_and_kept_verbatim() -> None:
    locked = Dependency(GitSource("https://github.com/o/a.git"), "a@v1", "s1", False, "alias")
    source = TableSource({("a", "v1"): [dep("lib", "1")]}, vendor={"github.com/o/a": "s1"})
    result = resolve([dep("a", "v1")], JsonnetFile((locked,)), source)
    assert result.lock[0] == locked  # name override from the lock survives, like jb
    assert source.fetched == ["lib@1"]


def test_sum_mismatch_names_the_package() -> None:
    lock = JsonnetFile((dep("a", "a@v1", "wrong-sum"),))
    with pytest.raises(IntegrityError, match=r"checksum mismatch for github.com/o/a"):
        resolve([dep("a", "v1")], lock, TableSource({}))


def test_single_is_not_recursed() -> None:
    source = TableSource({("a", "master"): [dep("lib")]})
    result = resolve([dep("a", single=True)], JsonnetFile(), source)
    assert versions(result.lock) == ["a@master"]


def test_diamond_is_fetched_once() -> None:
    source = TableSource({("a", "master"): [dep("lib", "1")], ("b", "master"): [dep("lib", "1")]})
    result = resolve([dep("a"), dep("b")], JsonnetFile(), source)
    assert source.fetched.count("lib@1") == 1
    assert result.conflicts == ()


@pytest.mark.parametrize("enabled", [True, False])
def test_upstream_pins_apply_to_unlocked_transitive_deps(enabled: bool) -> None:
    source = TableSource(
        {("kp", "v1"): [dep("lib", "main")]},
        upstream={"kp": JsonnetFile((dep("lib", "tested", "sum-lib-tested"),))},
    )
    result = resolve([dep("kp", "v1")], JsonnetFile(), source, upstream_pins=enabled)
    assert versions(result.lock)[-1] == ("lib@tested" if enabled else "lib@main")


def test_upstream_pin_never_overrides_own_lock() -> None:
    source = TableSource(
        {("kp", "v1"): [dep("lib", "main")]},
        upstream={"kp": JsonnetFile((dep("lib", "tested", "sum-lib-tested"),))},
    )
    lock = JsonnetFile((dep("lib", sha("lib", "mine"), "sum-lib-mine"),))
    result = resolve([dep("kp", "v1")], lock, source, upstream_pins=True)
    assert versions(result.lock)[-1] == "lib@mine"


def test_upstream_pin_sum_is_enforced() -> None:
    source = TableSource(
        {("kp", "v1"): [dep("lib", "main")]},
        upstream={"kp": JsonnetFile((dep("lib", "tested", "tampered"),))},
    )
    with pytest.raises(IntegrityError, match="lib"):
        resolve([dep("kp", "v1")], JsonnetFile(), source, upstream_pins=True)
