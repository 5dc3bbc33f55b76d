"""The shapes corpus: deterministic bytes, ground truth that matches the pixels, captions the negatives rules swap."""

from __future__ import annotations

import io
import json
from collections import Counter

import numpy as np
import pytest
import webdataset as wds
from click.testing import CliRunner
from PIL import Image

from models.rle import rle_to_masks
from pipelines.cli import main
from pipelines.sources.shapes import COLOURS, ShapesConfig, make_scene, sample_scene, scene_rng, write_shapes_source
from pipelines.store import ShardReader
from tests.conftest import build


def _samples(directory) -> list[dict]:
    urls = sorted(str(p) for p in directory.glob("*.tar"))
    return list(wds.WebDataset(urls, shardshuffle=False))


def test_cli_writes_img2dataset_shards_deterministically(tmp_path):
    runner = CliRunner()
    for name, seed in (("a", 3), ("b", 3), ("c", 4)):
        args = ["sample-source", "--kind", "shapes", "--n", "12", "--seed", str(seed), "--shards", "2"]
        result = runner.invoke(main, [*args, "--out", str(tmp_path / name)])
        assert result.exit_code == 0, result.output
    a, b, c = ((tmp_path / x / "00000.tar").read_bytes() for x in "abc")
    assert a == b and a != c
    assert json.loads((tmp_path / "a" / "sizes.json").read_text()) == {"00000.tar": 6, "00001.tar": 6}
    samples = _samples(tmp_path / "a")
    assert len(samples) == 12 and all({"jpg", "txt", "zh.txt", "json"} <= set(s) for s in samples)
    assert all(s["zh.txt"].decode() and not s["zh.txt"].decode().isascii() for s in samples)
    stats = json.loads((tmp_path / "a" / "00000_stats.json").read_text())
    assert stats["successes"] == 6 and len(stats["files"]["tar"]["sha256"]) == 64


def test_scene_ground_truth_matches_the_pixels():
    config = ShapesConfig(n=20, seed=1)
    for i in range(20):
        scene = make_scene(config, i)
        record, image = scene.record, np.asarray(Image.open(io.BytesIO(scene.files["jpg"])).convert("RGB"))
        assert image.shape == (64, 64, 3)
        masks = rle_to_masks([inst["mask"] for inst in record["instances"]])
        assert not (masks.sum(0) > 1).any(), "instances overlap"
        for inst, mask in zip(record["instances"], masks, strict=True):
            ys, xs = np.nonzero(mask)
            assert inst["box"] == [xs.min(), ys.min(), xs.max() + 1, ys.max() + 1]
            obj = record["objects"][inst["object"]]
            if obj["pattern"] == "plain":  # a plain object's pixels are its colour (JPEG error aside)
                mean = image[mask].mean(0)
                assert np.abs(mean - np.asarray(COLOURS[obj["colour"]])).max() < 40, (record["caption"], mean)
        assert sum(o["count"] for o in record["objects"]) == len(record["instances"])
        for o in record["objects"]:
            assert f"{o['size']} {o['pattern']} {o['colour']} {o['shape']}" in record["caption"]


def _scenes(split: str, n: int) -> list[tuple]:
    config = ShapesConfig(seed=0, split=split)
    return [sample_scene(config, scene_rng(config, i)) for i in range(n)]


def test_scenes_are_binding_hard_and_splits_differ():
    train, test, general = _scenes("train", 300), _scenes("test", 50), _scenes("general", 50)
    assert sum(len(s) >= 2 for s in train) > 150
    assert all(len({o.colour for o in s}) == len(s) and len({o.shape for o in s}) == len(s) for s in train)
    # the same colour recombines with other shapes across images: every colour is seen on at least 4 shapes
    pairs = {(o.colour, o.shape) for s in train for o in s}
    assert all(sum(1 for c, _ in pairs if c == colour) >= 4 for colour in COLOURS)
    assert test != train[:50]
    shapes = {o.shape for s in train for o in s}
    assert shapes.isdisjoint({o.shape for s in general for o in s})


def test_bad_config_is_refused():
    with pytest.raises(ValueError, match="split"):
        ShapesConfig(split="validation")


@pytest.mark.slow
def test_retrieval_negatives_swaps_its_vocabulary(tmp_path):
    source = tmp_path / "shapes"
    write_shapes_source(str(source), ShapesConfig(n=24, seed=0, shards=1))
    report = build("retrieval_negatives", source, tmp_path / "out", n=3, seed=0)
    assert report["counts"] == {"ok": 24, "rejected": 0, "failed": 0}
    records = [s.record for s in ShardReader(str(tmp_path / "out" / "retrieval_negatives")).all_samples()]
    kinds = Counter(n["kind"] for r in records for n in r["negatives"])
    assert kinds["replace-att"] > 0 and kinds["swap-att"] > 0, kinds
    swap = next(n for r in records for n in r["negatives"] if n["kind"] == "swap-att")
    assert sorted(swap["text"].split()) == sorted(next(r for r in records if swap in r["negatives"])["caption"].split())
