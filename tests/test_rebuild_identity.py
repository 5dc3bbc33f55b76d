"""Every dataset, and the reviewed face set, rebuilds byte-identical: build a shard, remove its commit marker, wait past a
wall-clock second, rebuild it in place and compare the tar and parquet bytes."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
import torch
from conftest import files_of
from PIL import Image

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


def _rebuild(
    dataset: str, source: Path, out: Path, shard: str | None, **config
) -> tuple[dict[str, bytes], dict[str, bytes]]:
    """Tar and parquet bytes after a first build (of ``shard``, or of every shard) and after a rebuild from scratch a
    second later."""
    spec = BuildSpec(dataset, str(source), str(out), config)
    only = None if shard is None else [shard]
    run_build(spec, only=only)
    first = files_of(out / dataset)
    for marker in (out / dataset).glob("*_stats.json"):
        marker.unlink()
    time.sleep(1.1)  # anything that reads the clock (even to the second) now differs
    run_build(spec, only=only)
    return first, files_of(out / dataset)


def _small_photo_folder(root: Path) -> Path:
    """A folder source of two real photos with captions (the models are slow on CPU: two images keep it in seconds)."""
    from skimage import data

    root.mkdir()
    captions = {
        "astronaut.jpg": "an astronaut with a flag and a helmet in front of a rocket",
        "chelsea.jpg": "a cat on a rug next to a wall and a floor",
    }
    for name, image in (("astronaut.jpg", data.astronaut()), ("chelsea.jpg", data.chelsea())):
        Image.fromarray(image).resize((256, 256)).save(root / name, quality=90)
    lines = [json.dumps({"file": f, "caption": c}) for f, c in captions.items()]
    (root / "captions.jsonl").write_text("\n".join(lines) + "\n")
    return root


def _ok_count(directory: Path) -> int:
    return sum(1 for r in ShardReader(str(directory)).manifests().to_pylist() if r["status"] == "ok")


@pytest.mark.slow
@pytest.mark.parametrize(
    ("dataset", "shard", "config"),
    [
        ("ingest", "00000", {}),
        ("text_rendering", "00002", {}),
        ("retrieval_negatives", "00003", {}),
    ],
)
def test_dataset_rebuilds_byte_identical(sample_source: Path, tmp_path: Path, dataset: str, shard: str, config: dict):
    first, second = _rebuild(dataset, sample_source, tmp_path, shard, **config)
    assert set(first) == {f"{shard}.tar", f"{shard}.parquet"} and _ok_count(tmp_path / dataset) > 0
    assert first == second


@pytest.mark.slow
def test_personalization_rebuilds_byte_identical(tmp_path: Path):
    source = _small_photo_folder(tmp_path / "photos")
    first, second = _rebuild("personalization", source, tmp_path / "out", None, **OPEN_BOXES)
    assert _ok_count(tmp_path / "out" / "personalization") == 2
    assert first and first == second


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
