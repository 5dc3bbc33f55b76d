"""The append-only shard index of a folder source: which files make up each shard, fixed once written.

A folder that grows must keep its shards: shard N is built once and then skipped by name, so its files may never change.
The index, kept under the storage root beside the outputs (``<root>/_source_index/NNNNN.json``, one immutable file per
shard), records each shard's files when the shard is first listed; files found later (tonight's new photos) go to new
shards appended after the last, which the Dagster sensor sees as new partitions. A shard's entry is never rewritten.

Each entry also fixes its files' output keys, unique over the whole index: ``a_b.jpg`` added a month after ``a.b.jpg``
does not take its key ``a_b_jpg`` again but gets ``schema.unique_key``'s hash suffix."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from functools import cached_property

from fsspec import AbstractFileSystem
from fsspec.implementations.local import LocalFileSystem

from pipelines.schema import safe_key, unique_key
from pipelines.store.fs import join, open_fs, tmp_path_for, write_bytes_atomic
from pipelines.store.layout import dumps

INDEX_DIR = "_source_index"


class IndexConflict(ValueError):
    """The index under this storage root belongs to another source."""


@dataclass(frozen=True)
class ShardIndex:
    """``<root>/_source_index/``: shard id -> the source's files (paths relative to the source root) in it."""

    root: str
    source: str

    @classmethod
    def under(cls, root: str, source: str) -> ShardIndex:
        fs, path = open_fs(source)
        return cls(root.rstrip("/") + "/" + INDEX_DIR, fs.unstrip_protocol(path))

    @cached_property
    def _fs_path(self) -> tuple[AbstractFileSystem, str]:
        return open_fs(self.root)

    def entries(self) -> dict[str, dict[str, str]]:
        """Every shard written so far, in order: shard -> {file: key}."""
        fs, path = self._fs_path
        if not fs.exists(path):
            return {}
        names = sorted(p.rsplit("/", 1)[-1] for p in fs.ls(path, detail=False))
        return {n[: -len(".json")]: self.files(n[: -len(".json")]) for n in names if _is_entry(n)}

    def files(self, shard: str) -> dict[str, str]:
        """The files of one shard with their output keys, in order (KeyError when it was never written)."""
        fs, path = self._fs_path
        try:
            entry = json.loads(fs.cat_file(join(path, f"{shard}.json")))
        except FileNotFoundError as e:
            raise KeyError(f"{self.root} has no shard {shard}") from e
        if entry["source"] != self.source:
            raise IndexConflict(
                f"{self.root} indexes {entry['source']}, not {self.source}: build another source under another storage "
                "root (or move the index away to shard this source afresh, and its outputs with it)"
            )
        return dict(zip(entry["files"], entry["keys"], strict=True))

    def extend(self, listing: list[str], per_shard: int) -> dict[str, dict[str, str]]:
        """Append shards of ``per_shard`` files (sorted) for the files of ``listing`` that no shard holds yet.

        Two processes that extend at once either write the same entries, or one finds the other's entry first and
        starts over from the index as it is then: an entry, once there, is never replaced."""
        while True:
            entries = self.entries()
            taken = {k: f for files in entries.values() for f, k in files.items()}
            indexed = set(taken.values())
            new = sorted(set(listing) - indexed)
            if not new:
                return entries
            first = max((int(s) for s in entries), default=-1) + 1
            chunks = [_keyed(new[i : i + per_shard], taken) for i in range(0, len(new), per_shard)]
            if all(self._create(f"{first + i:05d}", chunk) for i, chunk in enumerate(chunks)):
                return self.entries()

    def _create(self, shard: str, files: dict[str, str]) -> bool:
        """Write the entry unless one exists (then False); on a local disk by a hard link, which cannot overwrite."""
        fs, path = self._fs_path
        final = join(path, f"{shard}.json")
        data = dumps({"source": self.source, "shard": shard, "files": list(files), "keys": list(files.values())})
        fs.makedirs(path, exist_ok=True)
        if isinstance(fs, LocalFileSystem):
            return _link_new(fs, final, data)
        if fs.exists(final):
            return fs.cat_file(final) == data
        write_bytes_atomic(fs, final, data)  # object stores: check, then put; the read back catches a lost race
        return fs.cat_file(final) == data


def _keyed(files: list[str], taken: dict[str, str]) -> dict[str, str]:
    """``{file: key}``, each key unique against ``taken`` (key -> file), which it extends."""
    keyed = {}
    for f in files:
        key = unique_key(safe_key(f), f, taken)
        taken[key], keyed[f] = f, key
    return keyed


def _link_new(fs: AbstractFileSystem, final: str, data: bytes) -> bool:
    tmp = tmp_path_for(final)
    with fs.open(tmp, "wb") as f:
        f.write(data)
    try:
        os.link(tmp, final)
        return True
    except FileExistsError:
        return fs.cat_file(final) == data
    finally:
        os.unlink(tmp)


def _is_entry(name: str) -> bool:
    return name.endswith(".json") and not name.startswith(".") and name[: -len(".json")].isdigit()
