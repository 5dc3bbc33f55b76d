"""The sample schema: what one input sample becomes (written, rejected or failed), and the key rules."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from typing import Any, Literal

Status = Literal["ok", "rejected", "failed"]
STATUSES: tuple[Status, ...] = ("ok", "rejected", "failed")

_KEY_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")

# Columns every manifest (parquet) has, whatever the dataset; datasets add their own after these.
BASE_COLUMNS = ("key", "source_key", "status", "reason", "detail")


def safe_key(source_key: str) -> str:
    """A WebDataset-safe key that keeps the source key readable: no dots, no slashes, only [A-Za-z0-9_-]."""
    key = _KEY_UNSAFE.sub("_", source_key.strip())
    if not key:
        raise ValueError(f"cannot make a key from {source_key!r}")
    return key


def unique_key(key: str, source_key: str, taken: set[str] | dict[str, object]) -> str:
    """``key`` if no other sample took it, else ``<key>_<first 8 hex of sha256(source_key)>`` (and ``_2``, ``_3``... only
    when a source key is literally another one's suffixed key): unique, deterministic, and still traceable."""
    if key not in taken:
        return key
    base = candidate = f"{key}_{hashlib.sha256(source_key.encode()).hexdigest()[:8]}"
    n = 2
    while candidate in taken:
        candidate, n = f"{base}_{n}", n + 1
    return candidate


@dataclass(frozen=True)
class InputSample:
    """One sample as a source yields it: raw bytes by extension (``{"jpg": b"...", "txt": b"..."}``), nothing decoded.

    ``key`` is the output key: ``safe_key(source_key)`` unless given (``unique_keys`` gives one when two collide)."""

    source_key: str
    files: dict[str, bytes]
    url: str = ""
    key: str = ""

    def __post_init__(self) -> None:
        if not self.key:
            object.__setattr__(self, "key", safe_key(self.source_key))


@dataclass(frozen=True)
class Written:
    """A sample that goes into the tar: ``files`` by extension (``jpg``, ``json``, extras) and its manifest fields."""

    key: str
    source_key: str
    files: dict[str, bytes]
    fields: dict[str, Any] = field(default_factory=dict)
    status: Status = field(default="ok", init=False)
    reason: str | None = field(default=None, init=False)
    detail: str = field(default="", init=False)


@dataclass(frozen=True)
class Rejected:
    """A sample a quality filter removed; ``reason`` is the filter's name."""

    key: str
    source_key: str
    reason: str
    detail: str = ""
    fields: dict[str, Any] = field(default_factory=dict)
    status: Status = field(default="rejected", init=False)


@dataclass(frozen=True)
class Failed:
    """A bad input (truncated, not an image, too large, empty caption...); ``reason`` is a stable snake_case code."""

    key: str
    source_key: str
    reason: str
    detail: str = ""
    fields: dict[str, Any] = field(default_factory=dict)
    status: Status = field(default="failed", init=False)


Outcome = Written | Rejected | Failed
