"""ingest's ``sha256`` is the sha256 of the stored ``<key>.jpg`` as it lies in the tar: checkable from the shard alone, and
equal for the same picture stored twice (an exact duplicate) whatever the container's metadata."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from pipelines.store import ShardReader
from tests.conftest import build


def _jpeg(seed: int, comment: bytes) -> bytes:
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:600, 0:800].astype(np.float32)
    base = np.stack([x / 3.2, y / 2.4, (x + y) / 5.6], axis=-1) + rng.normal(0, 6, (600, 800, 1))
    buf = io.BytesIO()
    Image.fromarray(np.clip(base, 0, 255).astype(np.uint8)).save(buf, format="JPEG", quality=90, comment=comment)
    return buf.getvalue()


@pytest.mark.slow
def test_manifest_sha256_is_the_tar_members_sha256_and_finds_the_rewrapped_duplicate(tmp_path):
    root = tmp_path / "photos"
    root.mkdir()
    files = {"a": _jpeg(0, b"first"), "b": _jpeg(0, b"same picture, other metadata"), "c": _jpeg(1, b"first")}
    assert files["a"] != files["b"]
    for name, data in files.items():
        (root / f"{name}.jpg").write_bytes(data)
        (root / f"{name}.txt").write_text(f"photo {name}")
    build("ingest", root, tmp_path / "out", max_side=512, duplicates="mark")
    reader = ShardReader(str(tmp_path / "out" / "ingest"))
    rows = {r["key"]: r for r in reader.manifests().to_pylist()}
    stored = {s.key: hashlib.sha256(s.files["jpg"]).hexdigest() for s in reader.all_samples()}
    assert len(stored) == 3 and all(rows[k]["sha256"] == digest for k, digest in stored.items())
    key = {Path(r["source_key"]).stem: k for k, r in rows.items()}  # source file name -> sample key
    assert stored[key["a"]] == stored[key["b"]] != stored[key["c"]]
    assert [rows[key[n]]["duplicate_of"] for n in "abc"] == [None, key["a"], None]
