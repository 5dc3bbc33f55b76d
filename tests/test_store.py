"""Shard store: round trip, deterministic bytes, temp-then-rename, and the ecosystem's loaders reading our shards."""

from __future__ import annotations

import io
import json

import pyarrow as pa
import pytest
import webdataset as wds
from PIL import Image

from pipelines.schema import Failed, Rejected, Written, safe_key
from pipelines.store import DatasetDir, ShardReader, ShardWriter

FIELDS = pa.schema([("width", pa.int32())])


def _jpeg(color: str) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (32, 24), color).save(buf, format="JPEG")
    return buf.getvalue()


def _outcomes() -> list:
    ok = [
        Written(
            f"k{i}",
            f"src/{i}.jpg",
            {
                "jpg": _jpeg(c),
                "txt": c.encode(),
                "json": json.dumps({"width": 32, "height": 24, "models": {}}).encode(),
            },
            {"width": 32},
        )
        for i, c in enumerate(["red", "green", "blue"])
    ]
    return [
        ok[0],
        Rejected("k3", "src/3.jpg", "exact_duplicate", "same as k0"),
        ok[1],
        Failed("k4", "src/4.jpg", "truncated"),
        ok[2],
    ]


def _write(root: str, shard: str = "00000") -> dict:
    d = DatasetDir(root)
    with ShardWriter(d, shard, FIELDS) as w:
        for o in _outcomes():
            w.add(o)
        return w.commit(dataset="t", inputs=5, input_keys={o.source_key for o in _outcomes()}).to_dict()


def test_round_trip(tmp_path):
    stats = _write(str(tmp_path))
    assert stats["counts"] == {"ok": 3, "rejected": 1, "failed": 1}
    assert stats["reasons"] == {"rejected": {"exact_duplicate": 1}, "failed": {"truncated": 1}}
    reader = ShardReader(str(tmp_path))
    assert reader.shards() == ["00000"]
    rows = reader.manifest("00000").to_pylist()
    assert [r["key"] for r in rows] == ["k0", "k3", "k1", "k4", "k2"]
    assert [r["status"] for r in rows] == ["ok", "rejected", "ok", "failed", "ok"]
    assert rows[1]["detail"] == "same as k0" and rows[0]["width"] == 32 and rows[3]["width"] is None
    samples = list(reader.samples("00000"))
    assert [s.key for s in samples] == ["k0", "k1", "k2"]
    assert samples[1].files["txt"] == b"green" and samples[1].record["width"] == 32
    assert reader.sample("k2").files["txt"] == b"blue"
    assert reader.sample("k3") is None  # rejected: in the manifest, not in the tar


def test_same_outcomes_give_identical_bytes(tmp_path):
    _write(str(tmp_path / "a"))
    _write(str(tmp_path / "b"))
    for name in ("00000.tar", "00000.parquet", "00000_stats.json"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name


def test_webdataset_reads_shards(tmp_path):
    _write(str(tmp_path))
    ds = wds.WebDataset(str(tmp_path / "00000.tar"), shardshuffle=False).decode("pil").to_tuple("jpg", "txt", "json")
    got = [(img.size, txt, meta["width"]) for img, txt, meta in ds]
    assert got == [((32, 24), "red", 32), ((32, 24), "green", 32), ((32, 24), "blue", 32)]


def test_error_leaves_nothing_under_a_final_name(tmp_path):
    d = DatasetDir(str(tmp_path))
    with pytest.raises(RuntimeError), ShardWriter(d, "00000", FIELDS) as w:
        w.add(_outcomes()[0])
        raise RuntimeError("storage went away")
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_lost_input_is_an_error(tmp_path):
    d = DatasetDir(str(tmp_path))
    with pytest.raises(AssertionError, match="source keys"), ShardWriter(d, "00000", FIELDS) as w:
        w.add(_outcomes()[0])
        w.commit(dataset="t", inputs=2, input_keys={_outcomes()[0].source_key, "src/lost.jpg"})
    assert not d.is_done("00000")


def test_keys_never_contain_dots(tmp_path):
    assert safe_key("dir/photo.v2.jpg") == "dir_photo_v2_jpg"
    d = DatasetDir(str(tmp_path))
    with pytest.raises(ValueError, match="dot"), ShardWriter(d, "00000", FIELDS) as w:
        w.add(Written("a.b", "a.b", {"jpg": _jpeg("red")}))


def test_unknown_manifest_field_is_an_error(tmp_path):
    with pytest.raises(ValueError, match="schema"), ShardWriter(DatasetDir(str(tmp_path)), "00000", FIELDS) as w:
        w.add(Failed("k", "k", "truncated", fields={"nope": 1}))


def test_memory_filesystem_url():
    stats = _write("memory://shardsmith-test/ds")
    assert ShardReader("memory://shardsmith-test/ds").shards() == ["00000"]
    assert stats["counts"]["ok"] == 3
