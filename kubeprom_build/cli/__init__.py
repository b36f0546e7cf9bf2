"""Command-line interface: importing this package registers every command on the app."""

from __future__ import annotations

from kubeprom_build.cli import build_cmds, validate_cmds, vendor_cmds
from kubeprom_build.cli.app import app, main, run

__all__ = ["app", "build_cmds", "main", "run", "validate_cmds", "vendor_cmds"]
