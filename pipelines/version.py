"""The code version written into run.json and every shard's stats."""

from __future__ import annotations

import functools
import subprocess
from importlib import metadata
from pathlib import Path


@functools.cache
def code_version() -> str:
    """``<package version>+g<git sha>[.dirty]`` when run from a git checkout, else the package version."""
    try:
        version = metadata.version("shardsmith")
    except metadata.PackageNotFoundError:
        version = "0+unknown"
    repo = Path(__file__).resolve().parent.parent
    if not (repo / ".git").exists():
        return version
    try:
        sha = subprocess.run(
            ["git", "-C", str(repo), "rev-parse", "--short=12", "HEAD"], capture_output=True, text=True, timeout=5
        )
        dirty = subprocess.run(
            ["git", "-C", str(repo), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=5,
        )
    except (OSError, subprocess.TimeoutExpired):
        return version
    if sha.returncode != 0:
        return version
    return f"{version}+g{sha.stdout.strip()}{'.dirty' if dirty.stdout.strip() else ''}"
