"""The source interface: list input shards, stream the samples of one; picklable so Beam ships it to workers."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal, Protocol

from pipelines.schema import InputSample
from pipelines.store.fs import open_fs

SourceKind = Literal["img2dataset", "folder"]


@dataclass(frozen=True, order=True)
class SourceShard:
    """One input shard: its id (the output shard gets the same id) and where it lives."""

    shard: str
    url: str


class Source(Protocol):
    uri: str

    def shards(self) -> list[SourceShard]: ...

    def samples(self, shard: SourceShard) -> Iterator[InputSample]: ...

    def keys(self, shard: SourceShard) -> list[str]:
        """The source keys of a shard, without reading the samples' data."""
        ...

    def indexed_shards(self) -> list[SourceShard]:
        """The shards as they are, without recording new ones (for read-only checks)."""
        ...

    def pending_keys(self) -> list[str]:
        """Source keys that no shard holds yet (a folder source's new files before the next listing)."""
        ...


def detect_kind(uri: str) -> SourceKind:
    """``img2dataset`` when the root holds ``*.tar`` shards, else ``folder``."""
    fs, path = open_fs(uri)
    if not fs.isdir(path):
        raise FileNotFoundError(f"source {uri} is not a directory")
    names = [p.rsplit("/", 1)[-1] for p in fs.ls(path, detail=False)]
    return "img2dataset" if any(n.endswith(".tar") and not n.startswith(".") for n in names) else "folder"


def open_source(
    uri: str, kind: SourceKind | Literal["auto"] = "auto", samples_per_shard: int = 1000, index_root: str = ""
) -> Source:
    """The source at ``uri``; a folder source keeps its shard index under ``index_root`` (the storage root)."""
    from pipelines.sources.folder import FolderSource
    from pipelines.sources.img2dataset import Img2DatasetSource

    kind = detect_kind(uri) if kind == "auto" else kind
    if kind == "img2dataset":
        return Img2DatasetSource(uri)
    if kind == "folder":
        return FolderSource(uri, samples_per_shard=samples_per_shard, index_root=index_root)
    raise ValueError(f"unknown source kind {kind!r}")
