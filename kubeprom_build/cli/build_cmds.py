"""Commands that render environments: build, diff (being written)."""

from __future__ import annotations
