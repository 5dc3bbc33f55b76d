"""The contract layout of one dataset directory: file names, the done marker, run.json and sizes.json."""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from fsspec import AbstractFileSystem
from fsspec.implementations.local import LocalFileSystem

from pipelines.store.fs import is_tmp, join, open_fs, write_bytes_atomic

STATS_SUFFIX = "_stats.json"


def dumps(obj: Any) -> bytes:
    """Canonical JSON bytes: sorted keys, no NaN, UTF-8; the same object always gives the same bytes."""
    return json.dumps(obj, sort_keys=True, ensure_ascii=False, allow_nan=False, indent=1).encode()


@dataclass(frozen=True)
class DatasetDir:
    """``<root>/<dataset>/``: ``<shard>.tar``, ``<shard>.parquet``, ``<shard>_stats.json`` (commit marker), sizes.json, run.json."""

    url: str

    @classmethod
    def under(cls, root: str, dataset: str) -> DatasetDir:
        return cls(root.rstrip("/") + "/" + dataset)

    @cached_property
    def _fs_path(self) -> tuple[AbstractFileSystem, str]:
        return open_fs(self.url)

    @property
    def fs(self) -> AbstractFileSystem:
        return self._fs_path[0]

    @property
    def path(self) -> str:
        return self._fs_path[1]

    def tar(self, shard: str) -> str:
        return join(self.path, f"{shard}.tar")

    def parquet(self, shard: str) -> str:
        return join(self.path, f"{shard}.parquet")

    def stats(self, shard: str) -> str:
        return join(self.path, f"{shard}{STATS_SUFFIX}")

    def ensure(self) -> None:
        self.fs.makedirs(self.path, exist_ok=True)

    def is_done(self, shard: str) -> bool:
        return self.fs.exists(self.stats(shard))

    def names(self) -> list[str]:
        if not self.fs.exists(self.path):
            return []
        return sorted(p.rsplit("/", 1)[-1] for p in self.fs.ls(self.path, detail=False))

    def done_shards(self) -> list[str]:
        return [n[: -len(STATS_SUFFIX)] for n in self.names() if n.endswith(STATS_SUFFIX) and not n.startswith(".")]

    def read_json(self, name: str) -> Any:
        with self.fs.open(join(self.path, name), "rb") as f:
            return json.load(f)

    def read_parquet_column(self, shard: str, column: str) -> list[Any]:
        import pyarrow.parquet as pq

        with self.fs.open(self.parquet(shard), "rb") as f:
            return pq.read_table(f, columns=[column]).column(column).to_pylist()

    def read_stats(self, shard: str) -> dict[str, Any]:
        return self.read_json(f"{shard}{STATS_SUFFIX}")

    def write_json(self, name: str, obj: Any) -> None:
        self.ensure()
        write_bytes_atomic(self.fs, join(self.path, name), dumps(obj))

    def write_sizes(self, attempts: int = 20) -> dict[str, int]:
        """Rewrite sizes.json (open_clip's convention: ok samples per tar) from every committed shard's stats.

        Safe with concurrent runs on any store, without a lock: the file is replaced whole (temporary name, then rename),
        and after writing, the writer lists the committed shards again and reads the file back; if a shard was
        committed meanwhile, or another writer replaced the file with an older listing, it writes again. So once any
        run's ``write_sizes`` returns, sizes.json names every shard committed before that moment with its ok count, and
        a later writer only adds shards. On a local disk writers also take turns (``flock`` on ``.sizes.json.lock``), so the
        file is never even briefly stale there; on an object store a stale writer's file can stand for the moment
        until its own check rewrites it. Each stats file is read once per call."""
        stats: dict[str, int] = {}
        with self._sizes_lock():
            for _ in range(attempts):
                sizes = self._sizes_from_stats(stats)
                self.write_json("sizes.json", sizes)
                if self._sizes_from_stats(stats) == sizes and self.read_json("sizes.json") == sizes:
                    return sizes
        raise RuntimeError(f"{self.url}: sizes.json did not settle in {attempts} writes (shards kept being committed)")

    @contextlib.contextmanager
    def _sizes_lock(self) -> Iterator[None]:
        if not isinstance(self.fs, LocalFileSystem):
            yield
            return
        import fcntl

        self.ensure()
        with open(join(self.path, ".sizes.json.lock"), "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def _sizes_from_stats(self, cache: dict[str, int]) -> dict[str, int]:
        """``{"<shard>.tar": ok}`` for every committed shard; ``cache`` (shard -> ok) keeps stats already read."""
        done = self.done_shards()
        for shard in done:
            if shard not in cache:
                cache[shard] = int(self.read_stats(shard)["counts"]["ok"])
        return {f"{s}.tar": cache[s] for s in done}

    def tmp_files(self) -> list[str]:
        return [n for n in self.names() if is_tmp(n)]

    def remove_stale_tmp(self, shard: str, older_than_s: float = 3600.0) -> list[str]:
        """Remove temporary files a dead attempt at ``shard`` left behind; young ones may belong to a live attempt."""
        removed = []
        for name in self.tmp_files():
            if not name.startswith(f".{shard}.") and not name.startswith(f".{shard}_"):
                continue
            path = join(self.path, name)
            modified = self.fs.modified(path).timestamp()
            if time.time() - modified > older_than_s:
                self.fs.rm(path)
                removed.append(name)
        return removed
