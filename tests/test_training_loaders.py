"""Loaders: seeded determinism, per-worker sharding of one pass, sizes.json lengths, resume position, missing keys."""

from __future__ import annotations

import io
import itertools
import json

import pytest
from PIL import Image

from pipelines.loaders import BatchLoader, LoaderConfig, NoUsableSamples, open_shards
from pipelines.store.tarfmt import TarSink


def _key(sample: dict) -> str:
    return sample["__key__"]


def _write_dir(root, shards: dict[str, list[dict[str, bytes]]], sizes: dict | None = None):
    """A dataset dir of tiny shards: ``shards`` maps a shard name to its samples (files by extension, keyed in order)."""
    root.mkdir(parents=True, exist_ok=True)
    jpg = io.BytesIO()
    Image.new("RGB", (4, 4), "red").save(jpg, format="JPEG")
    for name, samples in shards.items():
        with (root / f"{name}.tar").open("wb") as f:
            sink = TarSink(f)
            for i, files in enumerate(samples):
                sink.add(f"{name}_{i:03d}", {"jpg": jpg.getvalue(), **files})
            sink.close()
        (root / f"{name}_stats.json").write_text(json.dumps({"counts": {"ok": len(samples)}}))
    sizes = sizes if sizes is not None else {f"{n}.tar": len(s) for n, s in shards.items()}
    (root / "sizes.json").write_text(json.dumps(sizes))
    return root


@pytest.fixture
def data(tmp_path):
    shards = {f"{s:05d}": [{"txt": f"caption {s} {i}".encode()} for i in range(5 + s)] for s in range(4)}
    return _write_dir(tmp_path / "d", shards)


def _take(loader, n):
    return list(itertools.islice(loader, n))


def test_same_seed_same_batches_other_seed_others(data):
    shards = open_shards(str(data))
    a = _take(BatchLoader(shards, LoaderConfig(4, seed=1, shuffle=8), _key, list), 6)
    b = _take(BatchLoader(shards, LoaderConfig(4, seed=1, shuffle=8), _key, list), 6)
    c = _take(BatchLoader(shards, LoaderConfig(4, seed=2, shuffle=8), _key, list), 6)
    assert a == b and a != c


def test_one_pass_splits_shards_over_workers_without_duplicates(data):
    shards = open_shards(str(data))
    everything = {f"{s:05d}_{i:03d}" for s in range(4) for i in range(5 + s)}
    for workers in (0, 2):
        config = LoaderConfig(3, resampled=False, shuffle=4, workers=workers)
        loader = BatchLoader(shards, config, _key, list)
        batches = list(loader)
        keys = [k for b in batches for k in b]
        assert len(keys) == len(set(keys)) == len(everything) and set(keys) == everything
        assert len(batches) == len(loader)  # the length comes from sizes.json: exact, partial batches per worker


def test_resumed_stream_continues_where_it_stopped(data):
    shards = open_shards(str(data))
    for workers in (0, 2):
        config = LoaderConfig(4, seed=5, shuffle=8, workers=workers)
        whole = _take(BatchLoader(shards, config, _key, list), 7)
        resumed = _take(BatchLoader(shards, config, _key, list, start_batch=3), 4)
        assert resumed == whole[3:], workers


def test_length_comes_from_sizes_json_and_is_required(tmp_path, data):
    shards = open_shards(str(data))
    assert shards.total == 5 + 6 + 7 + 8
    assert len(BatchLoader(shards, LoaderConfig(4), _key, list)) == 26 // 4
    (data / "sizes.json").write_text(json.dumps({"00000.tar": 100, "00001.tar": 1, "00002.tar": 1, "00003.tar": 1}))
    assert open_shards(str(data)).total == 103  # read, never guessed from the tars
    (data / "sizes.json").unlink()
    with pytest.raises(FileNotFoundError, match="sizes.json"):
        open_shards(str(data))


def test_img2dataset_folder_without_sizes_json_takes_lengths_from_its_stats(tmp_path):
    """What img2dataset writes: tar + parquet + ``_stats.json`` (count, successes, ...) a shard, and no sizes.json."""
    shards = {f"{s:05d}": [{"txt": b"a teal hexagon", "json": b'{"status": "success"}'}] * (3 + s) for s in range(2)}
    root = _write_dir(tmp_path / "i2d", shards)
    (root / "sizes.json").unlink()
    for s, name in enumerate(shards):
        stats = {"count": 4 + s, "successes": 3 + s, "failed_to_download": 1, "failed_to_resize": 0}
        (root / f"{name}_stats.json").write_text(json.dumps({**stats, "status_dict": {"success": 3 + s}}))
    data = open_shards(str(root))
    assert [s.samples for s in data.shards] == [3, 4]  # successes, not count (failed downloads are not in the tar)
    keys = [k for b in BatchLoader(data, LoaderConfig(2, resampled=False), _key, list) for k in b]
    assert len(keys) == len(set(keys)) == 7


def test_missing_txt_is_skipped_not_waited_for(tmp_path, caplog):
    samples = [{"txt": b"a red cup"}, {}, {"txt": b"a blue cup"}]
    shards = open_shards(str(_write_dir(tmp_path / "m", {"00000": samples})))
    one_pass = list(BatchLoader(shards, LoaderConfig(2, resampled=False, shuffle=0), _key, list))
    assert one_pass == [["00000_000", "00000_002"]]
    assert "00000_001" in caplog.text and "no txt" in caplog.text
    endless = _take(BatchLoader(shards, LoaderConfig(2, shuffle=0), _key, list), 3)
    assert all(b == ["00000_000", "00000_002"] for b in endless)


def test_no_usable_sample_raises_instead_of_hanging(tmp_path):
    shards = open_shards(str(_write_dir(tmp_path / "e", {"00000": [{}, {}], "00001": [{}]})))
    with pytest.raises(NoUsableSamples):
        _take(BatchLoader(shards, LoaderConfig(2), _key, list), 1)
