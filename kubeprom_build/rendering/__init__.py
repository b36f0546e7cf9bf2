"""Rendering: evaluate environments/<env>.jsonnet and write manifests/<env>/ as build.sh did.

One half of kpb; it never imports :mod:`kubeprom_build.vendoring` (the CLI checks that vendor/
is ready before it asks for a build). The names below are its public API; the modules beneath
them are layered from the engines and the YAML emitter up to the pipeline.
"""

from __future__ import annotations

from kubeprom_build.rendering.extvars import FLAGS, Variables, parse_variables
from kubeprom_build.rendering.pipeline import (
    ENV_DIR,
    BuildReport,
    BuildRequest,
    EnvResult,
    Gate,
    Progress,
    build,
    diff_environment,
    environment_name,
    environments,
    output_label,
)

__all__ = [
    "ENV_DIR",
    "FLAGS",
    "BuildReport",
    "BuildRequest",
    "EnvResult",
    "Gate",
    "Progress",
    "Variables",
    "build",
    "diff_environment",
    "environment_name",
    "environments",
    "output_label",
    "parse_variables",
]
