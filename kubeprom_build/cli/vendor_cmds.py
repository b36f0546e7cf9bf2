"""Commands that manage vendor/: init, install, vendor, update (being written)."""

from __future__ import annotations
