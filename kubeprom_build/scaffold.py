"""``kpb init``: the files of a new project that builds at once, with no network.

A new user's first ``kpb build dev`` should work before they have chosen any dependency, so the
scaffold's environment renders a ConfigMap through a small library in ``jsonnet/`` and only
mentions kube-prometheus in a comment. Nothing is ever overwritten: every file that exists is
named and nothing is written; ``.gitignore`` is the exception, it only gains missing lines.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from kubeprom_build import fsutil, vendoring
from kubeprom_build.errors import ConfigError

KP = "github.com/prometheus-operator/kube-prometheus/jsonnet/kube-prometheus@v0.18.0"

ENVIRONMENT = f"""\
// Environment 'dev'. Each top-level key becomes manifests/dev/<key>.yaml:
//   kpb build dev
//
// For kube-prometheus, install it, then import it here, for example:
//   kpb install {KP}
//
//   local kp = (import 'kube-prometheus/main.libsonnet') + {{
//     values+:: {{ common+: {{ namespace: 'monitoring' }} }},
//   }};
//   {{ ['prometheus-' + name]: kp.prometheus[name] for name in std.objectFields(kp.prometheus) }}
local app = import 'app.libsonnet';

{{
  'hello-configmap': app.configMap('hello', 'default', {{ greeting: 'hello from kpb' }}),
}}
"""

LIBRARY = """\
// The project's own library. jsonnet/ is on the import path of every environment, before
// vendor/, so environments import it by name: import 'app.libsonnet'.
{
  configMap(name, namespace, data):: {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { name: name, namespace: namespace },
    data: data,
  },
}
"""

#: Lines every kpb project's .gitignore needs: generated and local state, never committed.
IGNORED = ("/vendor/", "/.kpb/")
GITIGNORE = ".gitignore"


@dataclass(frozen=True)
class Created:
    """What :func:`init` did, as paths relative to the project."""

    created: tuple[str, ...]
    appended: tuple[str, ...]  # files that existed and gained lines (.gitignore)


def files(*, minimal: bool) -> dict[str, bytes]:
    """``{relative path: content}`` of a new project (``minimal``: jsonnetfile.json only)."""
    scaffold = {vendoring.JSONNETFILE: vendoring.empty_jsonnetfile()}
    if not minimal:
        scaffold["environments/dev.jsonnet"] = ENVIRONMENT.encode()
        scaffold["jsonnet/app.libsonnet"] = LIBRARY.encode()
    return scaffold


def init(project: Path, *, minimal: bool = False) -> Created:
    """Write the scaffold into ``project``; refuse (naming them) if any file exists."""
    wanted = files(minimal=minimal)
    existing = [rel for rel in wanted if os.path.lexists(project / rel)]
    if existing:
        shown = ", ".join(str(project / rel) for rel in existing)
        raise ConfigError(
            f"{shown} already exist{'s' if len(existing) == 1 else ''}; "
            "kpb init never overwrites a file"
        )
    why = "(kpb init writes only into real directories of the project)"
    ignore = None if minimal else _ignore_lines(project)
    for rel, data in wanted.items():
        parent = os.path.dirname(rel)
        folder = fsutil.ensure_dir(project, parent, why) if parent else project
        fsutil.atomic_write_bytes(folder / os.path.basename(rel), data)
    created, appended = list(wanted), list[str]()
    if ignore is not None:
        existed, text = ignore
        if text is not None:
            fsutil.atomic_write_bytes(project / GITIGNORE, text.encode())
            (appended if existed else created).append(GITIGNORE)
    return Created(tuple(created), tuple(appended))


def _ignore_lines(project: Path) -> tuple[bool, str | None]:
    """(whether .gitignore exists, its new text or None when it already ignores everything)."""
    path = project / GITIGNORE
    if not os.path.lexists(path):
        return False, "\n".join(IGNORED) + "\n"
    try:
        text = fsutil.read_regular(path).decode("utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise ConfigError(
            f"{path}: not a readable regular text file ({err}); kpb init appends to it"
        ) from None
    present = {line.strip() for line in text.splitlines()}
    missing = [line for line in IGNORED if line not in present]
    if not missing:
        return True, None
    joined = text if not text or text.endswith("\n") else text + "\n"
    return True, joined + "\n".join(missing) + "\n"
