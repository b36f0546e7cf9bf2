"""Validation: know that an environment's manifests are valid before they reach a cluster.

The third part of kpb beside vendoring and rendering, and independent of both: it reads
an environment's output (files on disk, or what a build is about to publish) into
:class:`Manifest` objects, runs every check over them and reports :class:`Finding` values.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from kubeprom_build.validation import runner
    from kubeprom_build.validation.alertmanager import RoutedAlert, RoutingTable, explain_routes
    from kubeprom_build.validation.findings import Finding, Manifest, Severity
    from kubeprom_build.validation.kubeschemas import versions as kube_versions
    from kubeprom_build.validation.runner import (
        Gate,
        Result,
        checks,
        explain_directory,
        validate_directory,
        validate_files,
    )
    from kubeprom_build.validation.settings import (
        CONFIG_FILE,
        DEFAULT_KUBE_VERSION,
        Options,
        ProjectSettings,
        resolve,
        with_overrides,
    )
    from kubeprom_build.validation.settings import load as load_settings

__all__ = [
    "CONFIG_FILE",
    "DEFAULT_KUBE_VERSION",
    "Finding",
    "Gate",
    "Manifest",
    "Options",
    "ProjectSettings",
    "Result",
    "RoutedAlert",
    "RoutingTable",
    "Severity",
    "checks",
    "explain_directory",
    "explain_routes",
    "kube_versions",
    "load_settings",
    "resolve",
    "runner",
    "validate_directory",
    "validate_files",
    "with_overrides",
]

#: Public name -> (module, name there; None: the module itself). Imported on first use, so a
#: build without --validate never loads the schema libraries.
_WHERE: dict[str, tuple[str, str | None]] = {
    "CONFIG_FILE": ("settings", "CONFIG_FILE"),
    "DEFAULT_KUBE_VERSION": ("settings", "DEFAULT_KUBE_VERSION"),
    "Finding": ("findings", "Finding"),
    "Gate": ("runner", "Gate"),
    "Manifest": ("findings", "Manifest"),
    "Options": ("settings", "Options"),
    "ProjectSettings": ("settings", "ProjectSettings"),
    "Result": ("runner", "Result"),
    "RoutedAlert": ("alertmanager", "RoutedAlert"),
    "RoutingTable": ("alertmanager", "RoutingTable"),
    "Severity": ("findings", "Severity"),
    "checks": ("runner", "checks"),
    "explain_directory": ("runner", "explain_directory"),
    "explain_routes": ("alertmanager", "explain_routes"),
    "kube_versions": ("kubeschemas", "versions"),
    "load_settings": ("settings", "load"),
    "resolve": ("settings", "resolve"),
    "runner": ("runner", None),
    "validate_directory": ("runner", "validate_directory"),
    "validate_files": ("runner", "validate_files"),
    "with_overrides": ("settings", "with_overrides"),
}


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    module_name, attribute = _WHERE[name]
    module = importlib.import_module(f"{__name__}.{module_name}")
    value = module if attribute is None else getattr(module, attribute)
    globals()[name] = value
    return value
