"""A folder of images with a captions file as a source, cut into shards of ``samples_per_shard`` sorted images.

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
from pipelines.store.fs import join, open_fs

CAPTION_FILES = ("captions.jsonl", "captions.csv", "captions.tsv")


@dataclass(frozen=True)
class FolderSource:
    uri: str
    samples_per_shard: int = 1000

    @cached_property
    def _images(self) -> list[str]:
        """Image paths relative to the root, sorted."""
        fs, root = open_fs(self.uri)
        found = fs.find(root)
        rel = [p[len(root) :].lstrip("/") for p in found]
        return sorted(
            r for r in rel if r.rsplit(".", 1)[-1].lower() in IMAGE_EXTS and not r.rsplit("/", 1)[-1].startswith(".")
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
        n = len(self._images)
        return [
            SourceShard(f"{i:05d}", f"{self.uri.rstrip('/')}#{i:05d}")
            for i in range((n + self.samples_per_shard - 1) // self.samples_per_shard)
        ]

    def samples(self, shard: SourceShard) -> Iterator[InputSample]:
        fs, root = open_fs(self.uri)
        start = int(shard.shard) * self.samples_per_shard
        for rel in self._images[start : start + self.samples_per_shard]:
            stem, ext = rel.rsplit(".", 1)
            files = {ext.lower().replace("jpeg", "jpg"): fs.cat_file(join(root, rel))}
            caption = self._captions.get(rel)
            sidecar = join(root, stem + ".txt")
            if caption is None and fs.exists(sidecar):
                files["txt"] = fs.cat_file(sidecar)
            elif caption is not None:
                files["txt"] = caption.encode("utf-8")
            yield InputSample(source_key=rel, files=files, url=join(self.uri.rstrip("/"), rel))


def _parse_captions(name: str, text: str) -> dict[str, str]:
    if name.endswith(".jsonl"):
        rows = [json.loads(line) for line in text.splitlines() if line.strip()]
    else:
        rows = list(csv.DictReader(io.StringIO(text), delimiter="\t" if name.endswith(".tsv") else ","))
    return {str(r["file"]): str(r.get("caption") or "") for r in rows}
