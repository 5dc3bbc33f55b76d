"""Deterministic WebDataset tar writing: fixed mtime, owner and mode, members in the order given."""

from __future__ import annotations

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
    """Streams samples into a tar: ``<key>.<ext>`` members, each sample's files contiguous. The bytes are those of
    ``tarfile``'s GNU stream writer (``mode="w|"``): each member's header from ``TarInfo.tobuf``, its data, NUL padding
    to a block, and at the end two NUL blocks and padding to a record; written straight to ``fileobj`` (one write per
    piece, no copy of the data through ``tarfile``'s stream buffer). ``fileobj`` is not closed."""

    def __init__(self, fileobj: IO[bytes]) -> None:
        self._out, self._offset = fileobj, 0

    def add(self, key: str, files: dict[str, bytes]) -> None:
        if "." in key or "/" in key:
            raise ValueError(f"key {key!r} contains a dot or slash; WebDataset splits keys at the first dot")
        for ext in ordered_exts(files):
            data = files[ext]
            info = tarfile.TarInfo(f"{key}.{ext}")
            info.size = len(data)
            info.mtime = FIXED_MTIME
            info.mode = 0o644
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            self._write(info.tobuf(tarfile.GNU_FORMAT, tarfile.ENCODING, "surrogateescape"))
            self._write(data)
            self._write(_NUL[: -len(data) % tarfile.BLOCKSIZE])

    def _write(self, data: bytes) -> None:
        if data:
            self._out.write(data)
            self._offset += len(data)

    def close(self) -> None:
        self._write(bytes(2 * tarfile.BLOCKSIZE))
        self._write(bytes(-self._offset % tarfile.RECORDSIZE))


_NUL = bytes(tarfile.BLOCKSIZE)


class _CountingReader:
    def __init__(self, raw: IO[bytes]) -> None:
        self._raw, self.size = raw, 0

    def read(self, n: int = -1) -> bytes:
        data = self._raw.read(n)
        self.size += len(data)
        return data


def iter_tar_samples(fileobj: IO[bytes]):
    """Yield ``(key, {ext: bytes})`` from a WebDataset tar, grouping consecutive members by key (text before the first dot).

    Raises ``tarfile.ReadError`` on a truncated tar (a member shorter than its header says, or a size that is not whole blocks)."""
    reader = _CountingReader(fileobj)
    key: str | None = None
    files: dict[str, bytes] = {}
    with tarfile.open(fileobj=reader, mode="r|*") as tar:
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
            if len(data) != member.size:
                raise tarfile.ReadError(f"{member.name}: {len(data)} of {member.size} bytes (the tar is truncated)")
            if member_key != key and key is not None:
                yield key, files
                files = {}
            key = member_key
            files[ext] = data
        while reader.read(1 << 20):
            pass
    if reader.size % tarfile.BLOCKSIZE:
        raise tarfile.ReadError(f"{reader.size} bytes is not a whole number of tar blocks (the tar is truncated)")
    if key is not None:
        yield key, files


def _sample_member(member: tarfile.TarInfo) -> tuple[str, str] | None:
    """``(key, ext)`` of a member that belongs to a sample (webdataset's rule: key before the first dot of the file name,
    the folder kept in the key), or None for folders, dot files and names without an extension."""
    if not member.isfile():
        return None
    base = member.name.rsplit("/", 1)[-1]
    if base.startswith(".") or "." not in base:
        return None
    stem, ext = base.split(".", 1)
    return member.name[: len(member.name) - len(base)] + stem, ext


def index_tar(fileobj: IO[bytes], size: int) -> dict[str, dict[str, tarfile.TarInfo]]:
    """The members of a seekable tar of ``size`` bytes grouped by key, keys in order of first appearance, from the
    headers alone (the data is seeked over). Members of one key need not be adjacent (``k1.jpg, k2.jpg, k1.txt``).

    Raises ``tarfile.ReadError`` on a truncated tar, and ``ValueError`` on a key that has one extension twice."""
    if size % tarfile.BLOCKSIZE:
        raise tarfile.ReadError(f"{size} bytes is not a whole number of tar blocks (the tar is truncated)")
    groups: dict[str, dict[str, tarfile.TarInfo]] = {}
    with tarfile.open(fileobj=fileobj, mode="r:") as tar:
        for member in tar:
            if member.offset_data + member.size > size:
                raise tarfile.ReadError(f"{member.name}: {member.size} bytes run past the end (the tar is truncated)")
            found = _sample_member(member)
            if found is None:
                continue
            files = groups.setdefault(found[0], {})
            if found[1] in files:
                raise ValueError(f"{member.name} appears twice in the tar")
            files[found[1]] = member
    return groups


def iter_tar_grouped(fileobj: IO[bytes], size: int):
    """Yield ``(key, {ext: bytes})`` from a seekable tar, every member of a key in one sample wherever it lies
    (``index_tar``), keys in order of first appearance. A tar written sample by sample is read front to back."""
    groups = index_tar(fileobj, size)
    for key, members in groups.items():
        files = {}
        for ext, member in members.items():
            fileobj.seek(member.offset_data)
            data = fileobj.read(member.size)
            if len(data) != member.size:
                raise tarfile.ReadError(f"{member.name}: {len(data)} of {member.size} bytes (the tar is truncated)")
            files[ext] = data
        yield key, files
