"""Deterministic WebDataset tar writing: fixed mtime, owner and mode, members in the order given."""

from __future__ import annotations

import io
import tarfile
from typing import IO

# 2000-01-01T00:00:00Z: a fixed member mtime, so that a rebuilt shard is byte-identical.
FIXED_MTIME = 946684800

# Files of one sample are written in this order; other extensions follow, sorted.
EXT_ORDER = ("jpg", "png", "txt", "json")


def ordered_exts(exts: list[str] | tuple[str, ...] | set[str]) -> list[str]:
    first = [e for e in EXT_ORDER if e in exts]
    return first + sorted(e for e in exts if e not in EXT_ORDER)


class TarSink:
    """Streams samples into a tar: ``<key>.<ext>`` members, each sample's files contiguous."""

    def __init__(self, fileobj: IO[bytes]) -> None:
        self._tar = tarfile.open(fileobj=fileobj, mode="w|", format=tarfile.GNU_FORMAT)

    def add(self, key: str, files: dict[str, bytes]) -> None:
        if "." in key or "/" in key:
            raise ValueError(f"key {key!r} contains a dot or slash; WebDataset splits keys at the first dot")
        for ext in ordered_exts(files):
            info = tarfile.TarInfo(f"{key}.{ext}")
            info.size = len(files[ext])
            info.mtime = FIXED_MTIME
            info.mode = 0o644
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            self._tar.addfile(info, io.BytesIO(files[ext]))

    def close(self) -> None:
        self._tar.close()


def iter_tar_samples(fileobj: IO[bytes]):
    """Yield ``(key, {ext: bytes})`` from a WebDataset tar, grouping consecutive members by key (text before the first dot)."""
    key: str | None = None
    files: dict[str, bytes] = {}
    with tarfile.open(fileobj=fileobj, mode="r|*") as tar:
        for member in tar:
            if not member.isfile():
                continue
            base = member.name.rsplit("/", 1)[-1]
            if base.startswith(".") or "." not in base:
                continue
            prefix = member.name[: len(member.name) - len(base)]
            stem, ext = base.split(".", 1)
            member_key = prefix + stem
            data = tar.extractfile(member).read()
            if member_key != key and key is not None:
                yield key, files
                files = {}
            key = member_key
            files[ext] = data
    if key is not None:
        yield key, files
