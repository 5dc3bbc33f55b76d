"""img2dataset output as a source: ``NNNNN.tar`` shards of ``<key>.jpg/.txt/.json`` (its parquet and stats are ignored)."""

from __future__ import annotations

import tarfile
from collections.abc import Iterator
from dataclasses import dataclass

from pipelines.schema import InputSample
from pipelines.sources.base import SourceShard
from pipelines.store.fs import join, open_fs
from pipelines.store.tarfmt import iter_tar_samples


class SourceReadError(IOError):
    """A source shard that cannot be read to its end (truncated or corrupt tar); raised so the shard is retried or inspected."""


@dataclass(frozen=True)
class Img2DatasetSource:
    uri: str

    def shards(self) -> list[SourceShard]:
        fs, path = open_fs(self.uri)
        names = sorted(p.rsplit("/", 1)[-1] for p in fs.ls(path, detail=False))
        return [
            SourceShard(n[: -len(".tar")], join(self.uri.rstrip("/"), n))
            for n in names
            if n.endswith(".tar") and not n.startswith(".")
        ]

    def samples(self, shard: SourceShard) -> Iterator[InputSample]:
        fs, path = open_fs(shard.url)
        with fs.open(path, "rb") as f:
            try:
                for key, files in iter_tar_samples(f):
                    yield InputSample(source_key=key, files=files, url=shard.url)
            except (tarfile.TarError, EOFError) as e:
                raise SourceReadError(f"{shard.url}: unreadable tar ({type(e).__name__}: {e})") from e
