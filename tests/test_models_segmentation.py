"""SAM segmenter (tiny random weights through the production loader) and COCO RLE round-trips."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import torch
from fixtures_models import one_torch_thread, photos, sam_spec, segmenter, tiny_cache  # noqa: F401
from pycocotools import mask as mask_utils

from models import Masks, Segmenter, tiny_spec
from models.registry import file_sha256
from models.rle import masks_to_rle, rle_to_masks
from models.segmentation.sam import SamSegmenter, load_sam

BOXES = np.array([[10, 20, 200, 300], [100, 100, 400, 290], [0, 0, 451, 300]], dtype=np.float32)


def test_registry_builds_tiny_sam_with_random_id(segmenter, sam_spec, tiny_cache):  # noqa: F811
    assert isinstance(segmenter, Segmenter)
    assert segmenter.model_id == f"sam-vit_tiny-random(sha256:{file_sha256(sam_spec.checkpoint)[:8]})"
    assert segmenter._predictor.transform.target_length == 256  # ResizeLongestSide follows the model's img_size
    mtime = __import__("os").stat(sam_spec.checkpoint).st_mtime_ns
    assert tiny_spec("sam", cache_dir=tiny_cache).checkpoint == sam_spec.checkpoint  # cached, not rebuilt
    assert __import__("os").stat(sam_spec.checkpoint).st_mtime_ns == mtime


def test_masks_have_image_size(segmenter, photos):  # noqa: F811
    for image in photos:
        out = segmenter.segment(image, BOXES)
        assert isinstance(out, Masks) and len(out) == 3
        assert out.masks.shape == (3, *image.shape[:2]) and out.masks.dtype == np.bool_
        assert out.iou_scores.shape == (3,) and out.iou_scores.dtype == np.float32
    empty = segmenter.segment(photos[1], np.zeros((0, 4), np.float32))
    assert empty.masks.shape == (0, 300, 451)


def test_box_chunks_do_not_change_masks(segmenter, photos):  # noqa: F811
    one_by_one = SamSegmenter(segmenter._predictor.model, dataclasses.replace(segmenter.spec, batch_size=1), "0" * 64)
    a, b = segmenter.segment(photos[1], BOXES), one_by_one.segment(photos[1], BOXES)
    assert (a.masks == b.masks).mean() > 0.999
    np.testing.assert_allclose(a.iou_scores, b.iou_scores, atol=1e-4)


def test_rle_round_trips_through_pycocotools(segmenter, photos):  # noqa: F811
    masks = segmenter.segment(photos[1], BOXES).masks
    rles = json.loads(json.dumps(masks_to_rle(masks)))  # what lands in a sample's json
    assert all(r["size"] == [300, 451] and isinstance(r["counts"], str) for r in rles)
    decoded = mask_utils.decode(rles)  # pycocotools reads the str counts directly
    assert (decoded.transpose(2, 0, 1).astype(bool) == masks).all()
    assert (rle_to_masks(rles) == masks).all()
    assert list(mask_utils.area(rles)) == list(masks.sum(axis=(1, 2)))
    assert masks_to_rle(np.zeros((0, 4, 5), bool)) == [] and rle_to_masks([], size=(4, 5)).shape == (0, 4, 5)


def test_loader_is_strict(sam_spec, tmp_path):  # noqa: F811
    state = torch.load(sam_spec.checkpoint, weights_only=True)
    state.pop("mask_decoder.iou_token.weight")
    torch.save(state, tmp_path / "partial.pth")
    with pytest.raises(RuntimeError, match="iou_token"):
        load_sam("vit_tiny", str(tmp_path / "partial.pth"), "cpu")
