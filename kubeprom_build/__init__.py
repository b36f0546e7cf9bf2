"""kpb: vendor and build kube-prometheus based monitoring stacks reproducibly and fast."""

from __future__ import annotations

__version__ = "0.1.0"
