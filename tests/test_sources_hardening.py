"""Inputs that used to block or lose data: colliding keys, split tar members, masks on downscaled images, list json,
a growing folder, a loss guard that counted, uncommitted upstream tars, and concurrent sizes.json writers."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
import threading
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from PIL import Image

from pipelines.datasets import build_shard, make_dataset
from pipelines.datasets.base import unique_keys
from pipelines.geometry import decode_rle, encode_rle
from pipelines.runner import BuildSpec, run_build
from pipelines.schema import InputSample, Written
from pipelines.sources import open_source
from pipelines.sources.img2dataset import UncommittedShardError
from pipelines.sources.index import IndexConflict
from pipelines.store.layout import DatasetDir
from pipelines.store.reader import ShardReader
from pipelines.store.writer import ShardWriter
from pipelines.validate import validate_dataset


def _image(fmt: str, size: tuple[int, int] = (24, 16), color: tuple[int, int, int] = (200, 30, 30)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, color).save(buf, format=fmt)
    return buf.getvalue()


def _folder(root: Path, names: list[str]) -> None:
    root.mkdir(parents=True, exist_ok=True)
    for i, name in enumerate(names):
        fmt = "JPEG" if name.endswith(".jpg") else "PNG"
        (root / name).write_bytes(_image(fmt, color=((i * 53) % 256, (i * 97) % 256, 40)))
        (root / (name.rsplit(".", 1)[0] + ".txt")).write_text(f"a photo called {name}")


def _tar(path: Path, members: list[tuple[str, bytes]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(path, "w") as tar:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))


def _ingest_shard(source_uri: str, out: Path, shard: str = "00000", **config) -> dict:
    source = open_source(source_uri, index_root=str(out))
    target = next(s for s in source.shards() if s.shard == shard)
    return build_shard(make_dataset("ingest", config), source, target, DatasetDir.under(str(out), "ingest")).stats


def _rows(out: Path, dataset: str = "ingest") -> list[dict]:
    return ShardReader(str(out / dataset)).manifests().to_pylist()


# ---- 1. colliding safe keys ----


def test_colliding_safe_keys_are_made_unique_and_the_shard_commits(tmp_path):
    _folder(tmp_path / "src", ["a.b.jpg", "a_b.jpg"])
    stats = _ingest_shard(str(tmp_path / "src"), tmp_path / "out")
    assert stats["counts"] == {"ok": 2, "rejected": 0, "failed": 0}
    rows = {r["source_key"]: r["key"] for r in _rows(tmp_path / "out")}
    suffix = hashlib.sha256(b"a_b.jpg").hexdigest()[:8]
    assert rows == {"a.b.jpg": "a_b_jpg", "a_b.jpg": f"a_b_jpg_{suffix}"}
    records = {s.key: s.record for s in ShardReader(str(tmp_path / "out" / "ingest")).all_samples()}
    assert records[f"a_b_jpg_{suffix}"]["key"] == f"a_b_jpg_{suffix}"  # the record carries the key it is stored under
    assert records[f"a_b_jpg_{suffix}"]["source_key"] == "a_b.jpg"
    shard_errors = [e for e in validate_dataset(str(tmp_path / "out" / "ingest")).errors if e[0] != "-"]
    assert shard_errors == []  # sizes.json and run.json come from a run's finalize, not from build_shard


def test_unique_keys_when_a_source_key_is_another_ones_suffixed_key():
    suffixed = "a_b_jpg_" + hashlib.sha256(b"a_b.jpg").hexdigest()[:8]
    samples = [InputSample(k, {}) for k in ("a.b.jpg", suffixed, "a_b.jpg")]
    keys = [s.key for s in unique_keys(samples)]
    assert len(set(keys)) == 3 and keys[:2] == ["a_b_jpg", suffixed] and keys[2] == f"{suffixed}_2"


# ---- 2. tar members of one key that are not adjacent ----


def test_split_tar_members_are_grouped_by_key(tmp_path):
    jpg = _image("JPEG")
    members = [("k1.jpg", jpg), ("k2.jpg", jpg), ("k1.txt", b"first"), ("k2.txt", b"second")]
    _tar(tmp_path / "src" / "00000.tar", members)
    stats = _ingest_shard(str(tmp_path / "src"), tmp_path / "out", duplicates="mark")
    assert stats["counts"] == {"ok": 2, "rejected": 0, "failed": 0} and stats["inputs"] == 2
    assert {r["key"]: r["caption"] for r in _rows(tmp_path / "out")} == {"k1": "first", "k2": "second"}


def test_a_truncated_tar_still_raises_when_grouping(tmp_path):
    _tar(tmp_path / "src" / "00000.tar", [("k1.jpg", _image("JPEG")), ("k1.txt", b"x")])
    data = (tmp_path / "src" / "00000.tar").read_bytes()
    (tmp_path / "src" / "00000.tar").write_bytes(data[:700])
    source = open_source(str(tmp_path / "src"))
    with pytest.raises(OSError, match="truncated"):
        list(source.samples(source.shards()[0]))


# ---- 3. masks on an image that ingest downscales ----


def test_rle_mask_is_rescaled_with_the_image(tmp_path):
    mask = np.zeros((100, 200), bool)
    mask[20:60, 40:120] = True
    meta = {"entities": [{"phrase": "box", "box": [40, 20, 120, 60], "mask": encode_rle(mask)}]}
    bad = {"entities": [{"mask": {"size": [100, 200], "counts": "not an rle"}}]}
    img = _image("JPEG", (200, 100))
    members = [("k1.jpg", img), ("k1.txt", b"cap"), ("k1.json", json.dumps(meta).encode())]
    members += [("k2.jpg", img), ("k2.txt", b"cap 2"), ("k2.json", json.dumps(bad).encode())]
    _tar(tmp_path / "src" / "00000.tar", members)
    stats = _ingest_shard(str(tmp_path / "src"), tmp_path / "out", max_side=100, duplicates="mark")
    assert stats["counts"]["ok"] == 2
    records = {s.key: s.record for s in ShardReader(str(tmp_path / "out" / "ingest")).all_samples()}
    entity = records["k1"]["source"]["entities"][0]
    scaled = decode_rle(entity["mask"])
    assert scaled.shape == (50, 100) and entity["box"] == [20.0, 10.0, 60.0, 30.0]
    ys, xs = np.nonzero(scaled)
    assert (xs.min(), xs.max(), ys.min(), ys.max()) == (20, 59, 10, 29) and scaled.sum() == 40 * 20
    assert "does not decode" in records["k2"]["source"]["entities"][0]["mask"]["dropped"]
    report = validate_dataset(str(tmp_path / "out" / "ingest"))
    assert not [m for _, m in report.errors if "mask" in m], report.errors


# ---- 4. validate on a record json that is a list ----


def test_validate_reports_a_json_list_instead_of_crashing(tmp_path):
    d = DatasetDir(str(tmp_path / "ds"))
    with ShardWriter(d, "00000", pa.schema([])) as w:
        w.add(Written("k0", "src", {"jpg": _image("JPEG"), "json": b"[1, 2]"}))
        w.commit(dataset="t", inputs=1, input_keys={"src"})
    d.write_sizes()
    d.write_json("run.json", {"config_sha256": ""})
    report = validate_dataset(d.url)
    assert not report.ok and any("json is a list, not an object" in m for _, m in report.errors), report.errors


# ---- 5. a folder source that grows ----


def test_a_growing_folder_keeps_its_shards_and_ingests_new_files(tmp_path):
    src, out = tmp_path / "src", tmp_path / "out"
    _folder(src, ["b.png", "c.png", "d.png"])
    run_build(BuildSpec("ingest", str(src), str(out), samples_per_shard=2))
    before = {p.name: p.read_bytes() for p in (out / "ingest").glob("0000*")}
    _folder(src, ["aa.png"])  # sorts first: with slices of the sorted listing, every shard would shift
    report = run_build(BuildSpec("ingest", str(src), str(out), samples_per_shard=2))
    assert report["shards"] == ["00000", "00001", "00002"]
    assert {p.name: p.read_bytes() for p in (out / "ingest").glob("0000[01]*")} == before  # done shards untouched
    by_shard = {}
    for row in _rows(out):
        by_shard.setdefault(row["shard"], []).append(row["source_key"])
    assert by_shard == {"00000": ["b.png", "c.png"], "00001": ["d.png"], "00002": ["aa.png"]}
    assert validate_dataset(str(out / "ingest"), source=str(src)).ok


def test_the_sensor_adds_a_partition_for_new_files_only(tmp_path):
    from dagster import DagsterInstance, SensorResult, build_sensor_context

    from assets.partitions import source_shards
    from assets.resources import SourceResource
    from dagster_project.sensors import source_shards_sensor

    _folder(tmp_path / "src", ["b.png", "c.png", "d.png"])
    resource = SourceResource(uri=str(tmp_path / "src"), samples_per_shard=2, index_root=str(tmp_path / "storage"))
    instance = DagsterInstance.ephemeral()

    def tick() -> list[str]:
        result = source_shards_sensor(build_sensor_context(instance=instance, resources={"source": resource}))
        added = (
            [k for r in result.dynamic_partitions_requests for k in r.partition_keys]
            if isinstance(result, SensorResult)
            else []
        )
        instance.add_dynamic_partitions(source_shards.name, added)
        return added

    assert tick() == ["00000", "00001"]
    _folder(tmp_path / "src", ["aa.png"])  # tonight's file
    assert tick() == ["00002"] and tick() == []
    assert resource.shards()[2].shard == "00002"
    assert open_source(str(tmp_path / "src"), index_root=str(tmp_path / "storage")).keys(resource.shards()[0]) == [
        "b.png",
        "c.png",
    ]


def test_validate_source_reports_keys_no_row_names(tmp_path):
    src, out = tmp_path / "src", tmp_path / "out"
    _folder(src, ["b.png", "c.png"])
    source = open_source(str(src), samples_per_shard=2, index_root=str(out))
    assert source.keys(source.shards()[0]) == ["b.png", "c.png"]
    d = DatasetDir.under(str(out), "ingest")
    with ShardWriter(d, "00000", pa.schema([])) as w:  # a shard that names only b.png (as a lossy writer would)
        w.add(Written("b_png", "b.png", {"jpg": _image("JPEG"), "json": b'{"width": 24, "height": 16, "models": {}}'}))
        w.commit(dataset="ingest", inputs=1, input_keys={"b.png"})
    d.write_sizes()
    d.write_json("run.json", {"config_sha256": ""})
    _folder(src, ["e.png"])  # not listed yet: in no shard
    errors = validate_dataset(d.url, source=str(src)).errors
    assert ("00000", "1 source keys that no row names: ['c.png']") in errors
    assert any("in no shard yet" in m and "e.png" in m for _, m in errors)
    assert source.pending_keys() == ["e.png"]  # validate read the index and did not extend it


def test_keys_stay_unique_across_shards_added_later(tmp_path):
    _folder(tmp_path / "src", ["a.b.jpg"])
    out = tmp_path / "out"
    _ingest_shard(str(tmp_path / "src"), out)
    _folder(tmp_path / "src", ["a_b.jpg"])  # a month later: another shard, the same safe key
    _ingest_shard(str(tmp_path / "src"), out, shard="00001")
    keys = {r["source_key"]: (r["shard"], r["key"]) for r in _rows(out)}
    suffix = hashlib.sha256(b"a_b.jpg").hexdigest()[:8]
    assert keys == {"a.b.jpg": ("00000", "a_b_jpg"), "a_b.jpg": ("00001", f"a_b_jpg_{suffix}")}


def test_the_index_belongs_to_one_source(tmp_path):
    _folder(tmp_path / "one", ["a.png"])
    _folder(tmp_path / "two", ["a.png"])
    open_source(str(tmp_path / "one"), index_root=str(tmp_path / "out")).shards()
    with pytest.raises(IndexConflict):
        open_source(str(tmp_path / "two"), index_root=str(tmp_path / "out")).shards()


def test_two_listings_agree_and_never_rewrite_an_entry(tmp_path):
    _folder(tmp_path / "src", ["a.png", "b.png", "c.png"])
    one = open_source(str(tmp_path / "src"), samples_per_shard=2, index_root=str(tmp_path / "out"))
    two = open_source(str(tmp_path / "src"), samples_per_shard=2, index_root=str(tmp_path / "out"))
    assert one.shards() == two.shards()
    entry = tmp_path / "out" / "_source_index" / "00001.json"
    written = entry.read_bytes()
    _folder(tmp_path / "src", ["bb.png"])
    assert [one.keys(s) for s in two.shards()] == [["a.png", "b.png"], ["c.png"], ["bb.png"]]
    assert entry.read_bytes() == written


# ---- 6. the writer's loss guard compares sets ----


def test_loss_guard_compares_key_sets_not_counts(tmp_path):
    d = DatasetDir(str(tmp_path / "ds"))
    lost = r"no row names 1 of them \['src/2.jpg'\]"
    with pytest.raises(AssertionError, match=lost), ShardWriter(d, "00000", pa.schema([])) as w:
        w.add(Written("k1", "src/1.jpg", {"jpg": _image("JPEG")}))
        w.add(Written("k3", "src/3.jpg", {"jpg": _image("JPEG")}))  # 2 rows for 2 inputs, but not those inputs
        w.commit(dataset="t", inputs=2, input_keys={"src/1.jpg", "src/2.jpg"})
    assert not d.is_done("00000")


# ---- 7. downstream datasets read only committed upstream shards ----


def test_an_uncommitted_upstream_tar_raises(tmp_path):
    _folder(tmp_path / "src", ["a.png", "b.png"])
    out = tmp_path / "out"
    source = open_source(str(tmp_path / "src"), samples_per_shard=1, index_root=str(out))
    ingest = DatasetDir.under(str(out), "ingest")
    for shard in source.shards():
        build_shard(make_dataset("ingest"), source, shard, ingest)
    Path(ingest.stats("00001")).unlink()  # a tar under its final name whose commit marker never came
    upstream = open_source(ingest.url, "img2dataset")
    assert [s.source_key for s in upstream.samples(upstream.shards()[0])] == ["a_png"]
    with pytest.raises(UncommittedShardError, match="00001_stats.json"):
        build_shard(make_dataset("ingest"), upstream, upstream.shards()[1], DatasetDir.under(str(out), "again"))
    assert not DatasetDir.under(str(out), "again").is_done("00001")
    Path(ingest.tar("00000")).write_bytes(Path(ingest.tar("00000")).read_bytes() + b"\0" * 512)  # replaced after commit
    with pytest.raises(UncommittedShardError, match="says"):
        list(upstream.samples(upstream.shards()[0]))


# ---- 8. sizes.json under concurrent runs ----


def _commit(d: DatasetDir, shard: str, n_ok: int) -> None:
    with ShardWriter(d, shard, pa.schema([])) as w:
        for i in range(n_ok):
            w.add(Written(f"k{i}", f"s{i}", {"jpg": b"x"}))
        w.commit(dataset="t", inputs=n_ok, input_keys={f"s{i}" for i in range(n_ok)})


def test_a_stale_sizes_writer_never_drops_another_runs_shard(tmp_path, monkeypatch):
    d = DatasetDir(f"memory://sizes-race/{tmp_path.name}/ds")  # an object store: no lock, the writer's check must do
    _commit(d, "00000", 1)
    _commit(d, "00001", 2)
    original = DatasetDir.write_json
    calls = []

    def racing_write(self, name, obj):
        calls.append(dict(obj) if name == "sizes.json" else None)
        if name == "sizes.json" and len(calls) == 1:
            # run A has listed 00000-00001; before it writes, run B commits 00002 and writes sizes.json in full
            _commit(d, "00002", 3)
            monkeypatch.setattr(DatasetDir, "write_json", original)
            DatasetDir(d.url).write_sizes()
            monkeypatch.setattr(DatasetDir, "write_json", racing_write)
        original(self, name, obj)  # then A writes what it listed

    monkeypatch.setattr(DatasetDir, "write_json", racing_write)
    d.write_sizes()
    assert calls[0] == {"00000.tar": 1, "00001.tar": 2}  # A's first write was stale
    assert d.read_json("sizes.json") == {"00000.tar": 1, "00001.tar": 2, "00002.tar": 3}


def test_sizes_writers_take_turns_on_a_local_disk(tmp_path, monkeypatch):
    d = DatasetDir(str(tmp_path / "ds"))
    _commit(d, "00000", 1)
    original = DatasetDir.write_json
    written: list[dict] = []

    def run_b() -> None:
        _commit(d, "00001", 2)
        DatasetDir(d.url).write_sizes()

    def slow_write(self, name, obj):
        if name == "sizes.json":
            written.append(dict(obj))
            if len(written) == 1:
                other = threading.Thread(target=run_b)
                other.start()
                time.sleep(0.5)  # B has committed and wants to write sizes.json; it must wait for A
                assert len(written) == 1 and not (tmp_path / "ds" / "sizes.json").exists()
                slow_write.other = other
        original(self, name, obj)

    monkeypatch.setattr(DatasetDir, "write_json", slow_write)
    d.write_sizes()
    slow_write.other.join(10)
    assert written[0] == {"00000.tar": 1} and written[-1] == {"00000.tar": 1, "00001.tar": 2}
    assert d.read_json("sizes.json") == {"00000.tar": 1, "00001.tar": 2}


def test_validate_only_judges_sizes_json_for_its_own_shards(tmp_path):
    d = DatasetDir(str(tmp_path / "ds"))
    _commit(d, "00000", 2)
    d.write_sizes()
    d.write_json("run.json", {"config_sha256": ""})
    _commit(d, "00001", 1)  # another run's shard, committed; that run has not written sizes.json yet

    def sizes_errors(only: list[str] | None) -> list[str]:
        return [m for _, m in validate_dataset(d.url, deep=False, only=only).errors if "sizes.json" in m]

    assert sizes_errors(["00000"]) == []
    assert sizes_errors(None) == ["sizes.json does not match the ok counts of the committed shards"]
    d.write_json("sizes.json", {"00000.tar": 3, "00007.tar": 1})
    assert sizes_errors(["00000"]) == [
        "sizes.json lacks or miscounts ['00000.tar'] (ok counts of their stats)",
        "sizes.json names shards that are not committed: ['00007.tar']",
    ]
