"""Validation settings per environment: defaults, ``kpb.toml``, then the command line.

``kpb.toml`` at the project root is optional::

    [validate]
    kube-version = "1.35"     # Kubernetes minor whose schemas objects must match
    strict = false            # warnings (unknown kinds) fail too
    crd-dirs = ["crds"]       # extra CRD manifests, relative to the project

    [validate.environments.prd]
    kube-version = "1.33"     # an environment's own values win over [validate]

A wrong key or value is one line naming the file and the key (exit 3): a typo must not
silently validate against the wrong version.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from kubeprom_build import fsutil
from kubeprom_build.errors import ConfigError
from kubeprom_build.validation import kubeschemas

CONFIG_FILE = "kpb.toml"
#: The newest Kubernetes minor Amazon EKS offers, per its version calendar as last checked
#: (docs/validation.md says where from and how to change it).
DEFAULT_KUBE_VERSION = "1.35"
_KEYS = ("kube-version", "strict", "crd-dirs")


@dataclass(frozen=True)
class Options:
    """What one environment is validated against."""

    kube_version: str = DEFAULT_KUBE_VERSION
    strict: bool = False
    crd_dirs: tuple[Path, ...] = ()


@dataclass(frozen=True)
class ProjectSettings:
    """``[validate]`` and its per-environment tables, checked when the file is read."""

    defaults: Options = Options()
    environments: Mapping[str, Options] | None = None

    def for_env(self, env: str) -> Options:
        return (self.environments or {}).get(env, self.defaults)


def load(project: Path) -> ProjectSettings:
    """Read ``kpb.toml`` (absent: the defaults)."""
    path = project / CONFIG_FILE
    if not os.path.lexists(path):
        return ProjectSettings()
    try:
        data = tomllib.loads(fsutil.read_regular(path).decode("utf-8"))
    except OSError as err:
        why = os.strerror(err.errno or 0)
        raise ConfigError(f"{CONFIG_FILE}: cannot read it ({why})") from None
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as err:
        raise ConfigError(f"{CONFIG_FILE}: not valid TOML ({err})") from None
    section = data.get("validate", {})
    if not isinstance(section, dict):
        raise ConfigError(f"{CONFIG_FILE}: [validate] must be a table")
    envs = section.get("environments", {})
    if not isinstance(envs, dict):
        raise ConfigError(f"{CONFIG_FILE}: [validate.environments] must be a table")
    top = {k: v for k, v in section.items() if k != "environments"}
    defaults = _options(project, top, Options(), "[validate]")
    per_env: dict[str, Options] = {}
    for env, table in envs.items():
        where = f"[validate.environments.{env}]"
        if not isinstance(table, dict):
            raise ConfigError(f"{CONFIG_FILE}: {where} must be a table")
        per_env[env] = _options(project, table, defaults, where)
    return ProjectSettings(defaults, per_env)


def _options(project: Path, table: dict[str, Any], base: Options, where: str) -> Options:
    for key in table:
        if key not in _KEYS:
            raise ConfigError(
                f"{CONFIG_FILE}: {where} {key}: unknown key (known: {', '.join(_KEYS)})"
            )
    options = base
    if "kube-version" in table:
        value = table["kube-version"]
        label = f"{CONFIG_FILE}: {where} kube-version"
        if not isinstance(value, str):
            raise ConfigError(f'{label}: expected a string like "{DEFAULT_KUBE_VERSION}"')
        options = replace(options, kube_version=kubeschemas.minor_version(value, label))
    if "strict" in table:
        if not isinstance(table["strict"], bool):
            raise ConfigError(f"{CONFIG_FILE}: {where} strict: expected true or false")
        options = replace(options, strict=table["strict"])
    if "crd-dirs" in table:
        dirs = table["crd-dirs"]
        if not isinstance(dirs, list) or not all(isinstance(d, str) and d for d in dirs):
            raise ConfigError(f"{CONFIG_FILE}: {where} crd-dirs: expected a list of paths")
        options = replace(options, crd_dirs=tuple(project / d for d in dirs))
    return options


def with_overrides(
    options: Options,
    kube_version: str | None = None,
    strict: bool = False,
    crd_dirs: tuple[Path, ...] = (),
) -> Options:
    """The command line wins: its version replaces, ``--strict`` turns on, dirs are added."""
    if kube_version is not None:
        options = replace(
            options, kube_version=kubeschemas.minor_version(kube_version, "--kube-version")
        )
    if strict:
        options = replace(options, strict=True)
    if crd_dirs:
        options = replace(options, crd_dirs=options.crd_dirs + crd_dirs)
    return options


def resolve(
    project: Path,
    envs: list[str],
    kube_version: str | None = None,
    strict: bool = False,
    crd_dirs: tuple[Path, ...] = (),
) -> dict[str, Options]:
    """Each environment's options: kpb.toml's, then the command line's on top."""
    configured = load(project)
    return {
        env: with_overrides(configured.for_env(env), kube_version, strict, crd_dirs) for env in envs
    }
