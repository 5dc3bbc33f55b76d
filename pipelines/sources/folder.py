"""A folder of images with a captions file as a source, in shards of ``samples_per_shard`` images that never change.

Shards come from the append-only index under the storage root (``pipelines.sources.index``): listing the source
records the files no shard holds yet as new shards after the last, sorted, so the files of a shard already built never
move. Files whose path has a part starting with a dot are ignored (upload under a dot name, then rename).

Captions come from ``captions.jsonl`` (``{"file": ..., "caption": ...}``), ``captions.csv``/``captions.tsv`` (columns
``file`` and ``caption``), or a ``<image stem>.txt`` beside each image."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cached_property

from pipelines.decode import IMAGE_EXTS
from pipelines.schema import InputSample
from pipelines.sources.base import SourceShard
from pipelines.sources.index import ShardIndex
from pipelines.store.fs import join, open_fs

CAPTION_FILES = ("captions.jsonl", "captions.csv", "captions.tsv")


@dataclass(frozen=True)
class FolderSource:
    uri: str
    samples_per_shard: int = 1000
    index_root: str = ""  # the storage root the shard index is kept under (``<index_root>/_source_index/``)

    @cached_property
    def index(self) -> ShardIndex:
        if not self.index_root:
            raise ValueError(
                f"folder source {self.uri}: give index_root, the storage root its shard index is kept under"
            )
        return ShardIndex.under(self.index_root, self.uri)

    def _images(self) -> list[str]:
        """Image paths relative to the root, as listed now; hidden files and folders left out."""
        fs, root = open_fs(self.uri)
        rel = [p[len(root) :].lstrip("/") for p in fs.find(root)]
        return sorted(
            r
            for r in rel
            if r.rsplit(".", 1)[-1].lower() in IMAGE_EXTS and not any(part.startswith(".") for part in r.split("/"))
        )

    @cached_property
    def _captions(self) -> dict[str, str]:
        fs, root = open_fs(self.uri)
        for name in CAPTION_FILES:
            path = join(root, name)
            if fs.exists(path):
                return _parse_captions(name, fs.cat_file(path).decode("utf-8"))
        return {}

    def shards(self) -> list[SourceShard]:
        """Every shard, after appending new ones for the images no shard holds yet."""
        entries = self.index.extend(self._images(), self.samples_per_shard)
        return [SourceShard(s, f"{self.uri.rstrip('/')}#{s}") for s in entries]

    def keys(self, shard: SourceShard) -> list[str]:
        return list(self.index.files(shard.shard))

    def indexed_shards(self) -> list[SourceShard]:
        """The shards in the index, without appending any (read only)."""
        return [SourceShard(s, f"{self.uri.rstrip('/')}#{s}") for s in self.index.entries()]

    def pending_keys(self) -> list[str]:
        """Images that no shard holds yet: the next listing (a build, or the sensor) puts them in new shards."""
        indexed = {f for files in self.index.entries().values() for f in files}
        return [r for r in self._images() if r not in indexed]

    def samples(self, shard: SourceShard) -> Iterator[InputSample]:
        """The shard's images as the index records them; one deleted since yields no image, so it is a failed row."""
        fs, root = open_fs(self.uri)
        for rel, key in self.index.files(shard.shard).items():
            stem, ext = rel.rsplit(".", 1)
            path = join(root, rel)
            files = {ext.lower().replace("jpeg", "jpg"): fs.cat_file(path)} if fs.exists(path) else {}
            caption = self._captions.get(rel)
            sidecar = join(root, stem + ".txt")
            if caption is None and fs.exists(sidecar):
                files["txt"] = fs.cat_file(sidecar)
            elif caption is not None:
                files["txt"] = caption.encode("utf-8")
            yield InputSample(source_key=rel, files=files, url=join(self.uri.rstrip("/"), rel), key=key)


def _parse_captions(name: str, text: str) -> dict[str, str]:
    if name.endswith(".jsonl"):
        rows = [json.loads(line) for line in text.splitlines() if line.strip()]
    else:
        rows = list(csv.DictReader(io.StringIO(text), delimiter="\t" if name.endswith(".tsv") else ","))
    return {str(r["file"]): str(r.get("caption") or "") for r in rows}
