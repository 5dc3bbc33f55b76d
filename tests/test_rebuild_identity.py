"""Every dataset, and the reviewed face set, rebuilds byte-identical: build a shard, remove its commit marker, wait past a
wall-clock second, rebuild it in place and compare the tar and parquet bytes."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import torch
from conftest import files_of

from pipelines.faces.review import HumanReview, write_reviewed_shard
from pipelines.runner import BuildSpec, run_build
from pipelines.store.reader import ShardReader

# thresholds opened up so that random-weight boxes survive and entities with masks are written (as in
# test_personalization), so the rebuild compares real records, not rejections
OPEN_BOXES = dict(
    min_score=0.0,
    min_area_ratio=0.0,
    max_area_ratio=1.0,
    min_aspect=0.0,
    max_aspect=1000.0,
    min_mask_fill=0.0,
    min_boxes=1,
    max_boxes=50,
    min_nouns=1,
    max_nouns=50,
    max_white_fraction=1.0,
    min_image_side=64,
)


def _rebuild(dataset: str, source: Path, out: Path, shard: str, **config) -> tuple[dict[str, bytes], dict[str, bytes]]:
    """The shard's tar and parquet bytes after a first build and after a rebuild from scratch a second later."""
    spec = BuildSpec(dataset, str(source), str(out), config)
    run_build(spec, only=[shard])
    first = files_of(out / dataset)
    (out / dataset / f"{shard}_stats.json").unlink()
    time.sleep(1.1)  # anything that reads the clock (even to the second) now differs
    run_build(spec, only=[shard])
    return first, files_of(out / dataset)


def _ok_count(directory: Path) -> int:
    return sum(1 for r in ShardReader(str(directory)).manifests().to_pylist() if r["status"] == "ok")


@pytest.mark.slow
@pytest.mark.parametrize(
    ("dataset", "shard", "config"),
    [
        ("ingest", "00000", {}),
        ("personalization", "00001", OPEN_BOXES),
        ("text_rendering", "00002", {}),
        ("retrieval_negatives", "00003", {}),
    ],
)
def test_dataset_rebuilds_byte_identical(sample_source: Path, tmp_path: Path, dataset: str, shard: str, config: dict):
    first, second = _rebuild(dataset, sample_source, tmp_path, shard, **config)
    assert set(first) == {f"{shard}.tar", f"{shard}.parquet"} and _ok_count(tmp_path / dataset) > 0
    assert first == second


@pytest.fixture
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)  # 2 shared cores: spinning OpenMP threads only slow MTCNN and CLIP down
    yield
    torch.set_num_threads(before)


@pytest.mark.slow
def test_face_attributes_and_reviewed_set_rebuild_byte_identical(sample_source: Path, tmp_path: Path, one_thread):
    first, second = _rebuild("face_attributes", sample_source, tmp_path, "00002")
    assert _ok_count(tmp_path / "face_attributes") >= 1  # grace_hopper's face
    assert first == second

    faces = str(tmp_path / "face_attributes")
    ok = list(ShardReader(faces).samples("00002"))
    store = {
        s.key: HumanReview(s.key, "17", "reviewer@example.com", "2026-11-24T10:00:00Z", {"Smiling": 1}) for s in ok
    }
    reviewed = tmp_path / "reviewed"
    write_reviewed_shard(faces, str(reviewed), "00002", store)
    once = files_of(reviewed)
    time.sleep(1.1)
    write_reviewed_shard(faces, str(reviewed), "00002", store)  # always rebuilt (the store may have changed)
    assert set(once) == {"00002.tar", "00002.parquet"} and once == files_of(reviewed)
