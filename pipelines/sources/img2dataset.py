"""img2dataset output as a source: ``NNNNN.tar`` shards of ``<key>.jpg/.txt/.json``, read only once committed.

img2dataset and shardsmith both write ``NNNNN_stats.json`` after a shard's tar (and parquet): in a folder that holds any
stats file or manifest, a tar without its stats file is unfinished (still being written, or left by a killed run), and
reading it is an error that raises, so the run retries. A bare folder of WebDataset tars (no stats, no parquet) is read
as it is."""

from __future__ import annotations

import tarfile
from collections.abc import Iterator
from dataclasses import dataclass

from pipelines.schema import InputSample
from pipelines.sources.base import SourceShard
from pipelines.store.fs import TMP_MARK, join, open_fs
from pipelines.store.layout import STATS_SUFFIX, DatasetDir
from pipelines.store.tarfmt import index_tar, iter_tar_grouped


class SourceReadError(IOError):
    """A source shard that cannot be read to its end (truncated or corrupt tar); raised so the shard is retried or inspected."""


class UncommittedShardError(IOError):
    """A source tar whose commit marker (``_stats.json``) is missing or disagrees with it; raised so the run retries."""


@dataclass(frozen=True)
class Img2DatasetSource:
    uri: str

    def shards(self) -> list[SourceShard]:
        return [SourceShard(n[: -len(".tar")], join(self.uri.rstrip("/"), n)) for n in self._names() if _is_tar(n)]

    def indexed_shards(self) -> list[SourceShard]:
        return self.shards()  # listing changes nothing here

    def _names(self) -> list[str]:
        fs, path = open_fs(self.uri)
        return sorted(p.rsplit("/", 1)[-1] for p in fs.ls(path, detail=False))

    def samples(self, shard: SourceShard) -> Iterator[InputSample]:
        """Every sample of the shard, a key's members grouped wherever they lie in the tar (webdataset's key rule)."""
        fs, path = open_fs(shard.url)
        size = self._committed_size(shard)
        with fs.open(path, "rb") as f:
            try:
                for key, files in iter_tar_grouped(f, size):
                    yield InputSample(source_key=key, files=files, url=shard.url)
            except (tarfile.TarError, EOFError, ValueError) as e:
                raise SourceReadError(f"{shard.url}: unreadable tar ({type(e).__name__}: {e})") from e

    def keys(self, shard: SourceShard) -> list[str]:
        """The sample keys of a shard, from the tar's headers (no data read)."""
        fs, path = open_fs(shard.url)
        size = self._committed_size(shard)
        with fs.open(path, "rb") as f:
            try:
                return list(index_tar(f, size))
            except (tarfile.TarError, EOFError, ValueError) as e:
                raise SourceReadError(f"{shard.url}: unreadable tar ({type(e).__name__}: {e})") from e

    def pending_keys(self) -> list[str]:
        return []  # every sample of an img2dataset source is in a shard

    def _committed_size(self, shard: SourceShard) -> int:
        """The tar's size, after checking its commit marker where the folder uses them (see the module docstring)."""
        d = DatasetDir(self.uri)
        size = int(d.fs.size(d.tar(shard.shard)))
        names = self._names()
        if not any(_is_marker(n) for n in names):
            return size
        if f"{shard.shard}{STATS_SUFFIX}" not in names:
            raise UncommittedShardError(
                f"{shard.url} has no {shard.shard}{STATS_SUFFIX}: not committed yet, retry later"
            )
        recorded = d.read_stats(shard.shard).get("files", {}).get("tar", {}).get("bytes")
        if recorded is not None and recorded != size:
            raise UncommittedShardError(f"{shard.url} is {size} bytes, its {STATS_SUFFIX} says {recorded}")
        return size


def _is_tar(name: str) -> bool:
    return name.endswith(".tar") and not name.startswith(".")


def _is_marker(name: str) -> bool:
    """A stats file or manifest, or a writer's temporary file (a shardsmith writer at work on its first shard)."""
    visible = not name.startswith(".")
    return (visible and (name.endswith(STATS_SUFFIX) or name.endswith(".parquet"))) or TMP_MARK in name
