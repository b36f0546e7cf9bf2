"""Where the opt-in real-world tests find local copies of kube-prometheus and its dependencies.

One variable, ``KPB_MIRRORS``, names a directory laid out as docs/realworld.md describes
(``gitconfig`` redirecting GitHub URLs to local mirrors, ``kp-v0.18.0/src`` and
``kp-v0.18.0/vendor``, ``kp-lock.json``). Unset, every ``realworld`` test is skipped with a reason,
so CI on a clean machine stays offline and deterministic.
"""

from __future__ import annotations

import os
from pathlib import Path

ENV_VAR = "KPB_MIRRORS"
KUBE_PROMETHEUS = "kp-v0.18.0"
SKIP_REASON = f"set {ENV_VAR} to local kube-prometheus mirrors (see docs/realworld.md)"


def mirrors_dir() -> Path | None:
    """The configured mirrors directory, or None when real-world tests are not enabled here."""
    configured = os.environ.get(ENV_VAR, "")
    return Path(configured) if configured and Path(configured).is_dir() else None


def kube_prometheus_dir() -> Path | None:
    """``<mirrors>/kp-v0.18.0`` (``src/`` checkout at v0.18.0 and the ``vendor/`` its lock pins)."""
    mirrors = mirrors_dir()
    return mirrors / KUBE_PROMETHEUS if mirrors else None
