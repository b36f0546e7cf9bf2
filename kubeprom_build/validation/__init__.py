"""Validation: know that an environment's manifests are valid before they reach a cluster.

The third part of kpb beside vendoring and rendering, and independent of both: it reads
an environment's output (files on disk, or what a build is about to publish) into
:class:`Manifest` objects, runs every check over them and reports :class:`Finding` values.
"""

from __future__ import annotations

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
