"""ShardReader: read a dataset directory back: manifests, stats, and samples by shard or by key."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from pipelines.store.layout import DatasetDir
from pipelines.store.tarfmt import iter_tar_samples


@dataclass(frozen=True)
class StoredSample:
    """A sample read back from a tar: its files by extension, with the json record decoded."""

    key: str
    shard: str
    files: dict[str, bytes]

    @property
    def record(self) -> dict[str, Any]:
        return json.loads(self.files["json"]) if "json" in self.files else {}


class ShardReader:
    """Reads committed shards of one dataset directory (local path or fsspec URL)."""

    def __init__(self, url: str) -> None:
        self.dir = DatasetDir(url)

    def shards(self) -> list[str]:
        return self.dir.done_shards()

    def manifest(self, shard: str, columns: list[str] | None = None) -> pa.Table:
        with self.dir.fs.open(self.dir.parquet(shard), "rb") as f:
            return pq.ParquetFile(f).read(columns=columns)  # read_table would import pyarrow.dataset and pandas

    def manifests(self, columns: list[str] | None = None) -> pa.Table:
        tables = [_with_shard(self.manifest(s, columns), s) for s in self.shards()]
        return pa.concat_tables(tables, promote_options="default") if tables else pa.table({})

    def stats(self, shard: str) -> dict[str, Any]:
        return self.dir.read_stats(shard)

    def samples(self, shard: str) -> Iterator[StoredSample]:
        with self.dir.fs.open(self.dir.tar(shard), "rb") as f:
            for key, files in iter_tar_samples(f):
                yield StoredSample(key, shard, files)

    def all_samples(self) -> Iterator[StoredSample]:
        for shard in self.shards():
            yield from self.samples(shard)

    def locate(self, key: str) -> tuple[str, dict[str, Any]] | None:
        """The shard and manifest row of ``key``, or None (a plain list lookup: pyarrow.compute would import pandas)."""
        for shard in self.shards():
            table = self.manifest(shard)
            keys = table.column("key").to_pylist()
            if key in keys:
                return shard, table.slice(keys.index(key), 1).to_pylist()[0]
        return None

    def sample(self, key: str) -> StoredSample | None:
        found = self.locate(key)
        if found is None or found[1]["status"] != "ok":
            return None
        return next((s for s in self.samples(found[0]) if s.key == key), None)


def _with_shard(table: pa.Table, shard: str) -> pa.Table:
    return table.append_column("shard", pa.array([shard] * table.num_rows, pa.string()))
