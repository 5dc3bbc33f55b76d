"""fsspec helpers: one filesystem for local paths and URLs, and writes that appear under their final name whole or not at all."""

from __future__ import annotations

import hashlib
import posixpath
import uuid
from typing import IO

import fsspec
from fsspec import AbstractFileSystem

TMP_MARK = ".tmp-"


def open_fs(url: str) -> tuple[AbstractFileSystem, str]:
    """The filesystem for ``url`` (a local path, ``file://``, ``s3://``, ``gs://``, ``memory://``...) and the path inside it."""
    fs, path = fsspec.core.url_to_fs(url)
    return fs, path.rstrip("/") or "/"


def join(*parts: str) -> str:
    return posixpath.join(*parts)


def tmp_path_for(path: str) -> str:
    """A unique temporary sibling of ``path``: a dot file, so it never looks like a shard to any reader."""
    head, tail = posixpath.split(path)
    return posixpath.join(head, f".{tail}{TMP_MARK}{uuid.uuid4().hex[:12]}")


def is_tmp(name: str) -> bool:
    return posixpath.basename(name).startswith(".") and TMP_MARK in name


def commit(fs: AbstractFileSystem, tmp: str, final: str) -> None:
    """Move a finished temporary file to its final name (an atomic rename on local disks; a whole-object put on stores)."""
    fs.mv(tmp, final)


def write_bytes_atomic(fs: AbstractFileSystem, path: str, data: bytes) -> None:
    tmp = tmp_path_for(path)
    try:
        with fs.open(tmp, "wb") as f:
            f.write(data)
        commit(fs, tmp, path)
    finally:
        if fs.exists(tmp):
            fs.rm(tmp)


class HashingWriter:
    """Wraps a binary file: counts and sha256-hashes every byte written through it."""

    def __init__(self, raw: IO[bytes]) -> None:
        self._raw = raw
        self._hash = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes) -> int:
        self._hash.update(data)
        self.size += len(data)
        return self._raw.write(data)

    def tell(self) -> int:
        return self.size

    def flush(self) -> None:
        self._raw.flush()

    @property
    def sha256(self) -> str:
        return self._hash.hexdigest()
