"""The 2019 article's own jsonnet, read at test time from beside the repository, never committed.

The article that kpb grew out of shows its ``base.libsonnet`` and ``dev.jsonnet`` in full (the
ksonnet-era setup on kube-prometheus release-0.3). The real-world seed test builds exactly those
files, so they are cut out of the article text here instead of being copied into the repository.
stg and prd differ from dev only in their values; they are derived from dev the way the article
describes (``env`` and per-environment values).
"""

from __future__ import annotations

from pathlib import Path

#: ``shared/`` lies beside the repository (in sessions and in CI alike).
ARTICLE = Path(__file__).resolve().parents[2].parent / "shared/seed/kube-prometheus-eks-article.txt"


def _block(lines: list[str], start: int, stop_prefix: str) -> str:
    end = next(i for i in range(start, len(lines)) if lines[i].startswith(stop_prefix))
    return "\n".join(lines[start:end]).rstrip() + "\n"


def article_files() -> dict[str, str] | None:
    """``base.libsonnet`` and ``dev/stg/prd.jsonnet`` as the article has them; None if absent."""
    if not ARTICLE.is_file():
        return None
    lines = ARTICLE.read_text(encoding="utf-8").splitlines()
    base_at = next(i for i in range(len(lines) - 1) if lines[i] == lines[i + 1] == "base.libsonnet")
    dev_at = lines.index("dev.jsonnet", base_at)
    base = _block(lines, base_at + 2, "セキュリティグループ")
    dev = _block(lines, dev_at + 1, "マニフェストファイルの出力方法")
    files = {"base.libsonnet": base, "dev.jsonnet": dev}
    for env in ("stg", "prd"):
        files[f"{env}.jsonnet"] = dev.replace("env: 'dev'", f"env: '{env}'").replace(
            "#prom-alert-dev", f"#prom-alert-{env}"
        )
    return files
