"""Allow ``python -m kubeprom_build``."""

from __future__ import annotations

from kubeprom_build.cli import main

main()
