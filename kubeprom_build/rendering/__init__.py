"""Rendering: evaluate environments/<env>.jsonnet and write manifests/<env>/ as build.sh did.

One half of kpb; it never imports :mod:`kubeprom_build.vendoring` (the CLI checks that vendor/
is ready before it asks for a build). The names below are its public API; the modules beneath
them are layered from the engines and the YAML emitter up to the pipeline.

A name is imported from its module when first used (PEP 562), so a no-op build loads neither
an engine it does not run nor the YAML emitter.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
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
        output_dir,
        output_label,
        unchanged_environments,
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
    "output_dir",
    "output_label",
    "parse_variables",
    "unchanged_environments",
]

#: The module of each public name that does not live in the pipeline.
_ELSEWHERE = {
    "FLAGS": "extvars",
    "Variables": "extvars",
    "parse_variables": "extvars",
}


def __getattr__(name: str) -> Any:
    if name not in __all__:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    module = importlib.import_module(f"{__name__}.{_ELSEWHERE.get(name, 'pipeline')}")
    value = getattr(module, name)
    globals()[name] = value
    return value
