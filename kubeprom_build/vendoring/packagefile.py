"""Reading a vendored package's own files (its jsonnetfile.json and lock) without leaving it.

Shared by the stager and the no-op check, which must read a package's manifest exactly alike.
"""

from __future__ import annotations

import errno
import os
from dataclasses import replace
from pathlib import Path

from kubeprom_build import fsutil, safefs
from kubeprom_build.errors import ConfigError
from kubeprom_build.vendoring import jsonnetfile
from kubeprom_build.vendoring.jsonnetfile import Dependency, GitSource, JsonnetFile, LocalSource
from kubeprom_build.vendoring.vendortree import Layout


def manifest_of(layout: Layout, dep: Dependency, directory: Path) -> JsonnetFile | None:
    """The jsonnetfile.json of ``dep`` (its package at ``directory``), local paths made
    project-relative; None when it has none."""
    shown = str(layout.vendor_dir / dep.name / jsonnetfile.FILE)
    data = read_package_file(directory, jsonnetfile.FILE, shown)
    if data is None:
        return None
    manifest = jsonnetfile.parse(data, shown, trust=jsonnetfile.Trust.below(dep))
    return rebase_locals(layout, dep, manifest)


def read_package_file(directory: Path, name: str, shown: str) -> bytes | None:
    """The file ``name`` of a package, read without leaving the package; None when absent.

    A symlink to another file inside the package is followed, as jb's ``os.ReadFile`` would;
    one that leads outside it, and a FIFO, socket or device, is refused without being opened
    for a blocking read. A directory of that name counts as absent, as before.
    """
    try:
        return safefs.read_beneath(directory.resolve(), name, follow_links=True)
    except (FileNotFoundError, NotADirectoryError):
        return None
    except safefs.NotRegularError as exc:
        if os.path.isdir(directory / name):
            return None
        raise ConfigError(f"{shown}: {exc.strerror}; remove it") from None
    except OSError as exc:
        if exc.errno == errno.EXDEV:
            raise ConfigError(f"{shown}: a symlink leads outside the package") from None
        raise ConfigError(f"{shown}: cannot read: {exc.strerror or exc}") from None


def rebase_locals(layout: Layout, parent: Dependency, manifest: JsonnetFile) -> JsonnetFile:
    """Nested local paths are relative to the referencing package; make them project-relative.

    A git package may only point inside its own repository's vendor folder, a local one inside
    the project's repository: a hostile jsonnetfile cannot reach anything else.
    """
    if not any(d.is_local for d in manifest.dependencies):
        return manifest
    base, boundary = _nesting_bounds(layout, parent)
    deps = []
    for dep in manifest.dependencies:
        if isinstance(dep.source, LocalSource):
            target = Path(os.path.normpath(dep.source.path_under(base)))
            if not fsutil.is_within(target, boundary):
                raise ConfigError(
                    f"{parent.name}/jsonnetfile.json: local dependency "
                    f"{dep.source.directory!r} resolves outside {boundary}"
                )
            rel = os.path.relpath(target, layout.project)
            dep = replace(dep, source=LocalSource(rel))
        deps.append(dep)
    return replace(manifest, dependencies=tuple(deps))


def _nesting_bounds(layout: Layout, parent: Dependency) -> tuple[Path, Path]:
    """Where ``parent``'s nested local paths start, and what they must stay inside."""
    if isinstance(parent.source, LocalSource):
        return layout.local_dir(parent.source), layout.boundary
    assert isinstance(parent.source, GitSource)
    base = layout.package(parent)
    return base, fsutil.confined_join(layout.vendor_dir, parent.source.repo_name, "remote")
