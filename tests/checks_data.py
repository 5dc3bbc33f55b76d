"""Tiny shards for the check tests: an img2dataset-style source tar, and shards written straight through ShardWriter."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path
from typing import Any

import pyarrow as pa
from PIL import Image

from pipelines.datasets import build_shard, make_dataset
from pipelines.schema import Written
from pipelines.sources.img2dataset import Img2DatasetSource
from pipelines.store.layout import DatasetDir
from pipelines.store.writer import ShardWriter


def jpeg(width: int, height: int, colour: tuple[int, int, int]) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (width, height), colour).save(buf, format="JPEG", quality=90)
    return buf.getvalue()


def write_tar(path: Path, members: list[tuple[str, bytes]]) -> None:
    """A plain tar with the members in the order given (tarfile, not the project's writer)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(path, "w") as tar:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))


def source_members(n: int, start: int = 0) -> list[tuple[str, bytes]]:
    members = []
    for i in range(start, start + n):
        key = f"s{i:03d}"
        members += [(f"{key}.jpg", jpeg(40, 30, (10 * i % 255, 60, 200))), (f"{key}.txt", f"photo {i}".encode())]
    return members


def ingest_shards(tmp: Path, shards: dict[str, int]) -> tuple[Img2DatasetSource, DatasetDir]:
    """A source of ``shards`` (id -> samples) and ``ingest`` built over it shard by shard (no Beam, no sizes.json)."""
    src, start = tmp / "source", 0
    for shard, n in shards.items():
        write_tar(src / f"{shard}.tar", source_members(n, start))
        start += n
    source, out = Img2DatasetSource(str(src)), DatasetDir(str(tmp / "ingest"))
    dataset = make_dataset("ingest", {})
    for shard in source.shards():
        build_shard(dataset, source, shard, out)
    out.write_json("run.json", dataset.run_info(source.uri, {}))
    return source, out


def write_records(
    out: DatasetDir,
    shard: str,
    samples: list[tuple[str, dict[str, bytes]]],
    fields: pa.Schema | None = None,
    values: list[dict[str, Any]] | None = None,
) -> None:
    """A committed shard of ``samples`` (key -> files, the json among them) whose rows are all ok, with manifest
    columns ``fields`` holding ``values`` (one dict a sample)."""
    schema = fields or pa.schema([])
    with ShardWriter(out, shard, schema) as writer:
        for i, (key, files) in enumerate(samples):
            writer.add(Written(key, key, files, values[i] if values else {}))
        writer.commit(dataset="test", inputs=len(samples), input_keys=[key for key, _ in samples])
    out.write_sizes()


def with_json(files: dict[str, bytes], record: dict[str, Any]) -> dict[str, bytes]:
    return files | {"json": json.dumps(record, sort_keys=True).encode()}
