"""Validation: know that an environment's manifests are valid before they reach a cluster.

The third part of kpb beside vendoring and rendering, and independent of both: it reads
parsed objects and reports :class:`Finding` values.
"""

from __future__ import annotations

from kubeprom_build.validation.alertmanager import RoutedAlert, RoutingTable, explain_routes
from kubeprom_build.validation.findings import Finding, Manifest, Severity

__all__ = ["Finding", "Manifest", "RoutedAlert", "RoutingTable", "Severity", "explain_routes"]
