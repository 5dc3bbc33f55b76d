"""The one local cache of the project: tiny random models, OCR model folders, open_clip files and downloaded weights."""

from __future__ import annotations

import os
from pathlib import Path


def cache_root(cache_dir: str | os.PathLike[str] | None = None) -> Path:
    """``cache_dir``, else ``$SHARDSMITH_CACHE``, else ``~/.cache/shardsmith``; ``~`` expanded. Everything the models
    keep locally lives under it: ``groundingdino-*``/``sam-*`` (tiny and random models), ``open_clip/``, ``ocr/``,
    ``weights/`` (production checkpoints copied from a URI)."""
    root = cache_dir or os.environ.get("SHARDSMITH_CACHE") or Path.home() / ".cache" / "shardsmith"
    return Path(root).expanduser()
