"""GPU-only: the production architectures at full size (random weights) on CUDA with bf16 autocast, through the pipeline.

Run with `make test-gpu` on a machine with CUDA; the default `make test` deselects them."""

from __future__ import annotations

import numpy as np
import pytest
import torch

pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")]


def test_full_random_models_on_cuda():
    from skimage import data

    from models import build, spec_for

    detector = build(
        "grounding_dino", spec_for("grounding_dino", "full-random", device="cuda", dtype="bfloat16", box_threshold=0.0)
    )
    segmenter = build("sam", spec_for("sam", "full-random", device="cuda", dtype="bfloat16"))
    assert "random" in detector.model_id and "random" in segmenter.model_id
    images = [data.astronaut(), data.chelsea()]
    dets = detector.detect(images, ["woman . flag .", "cat ."])
    for image, det in zip(images, dets, strict=True):
        h, w = image.shape[:2]
        assert len(det) > 0 and (det.boxes[:, [0, 2]] <= w + 0.5).all() and (det.boxes[:, [1, 3]] <= h + 0.5).all()
        masks = segmenter.segment(image, det.boxes[:8])
        assert masks.masks.shape == (min(8, len(det)), h, w) and np.isfinite(masks.iou_scores).all()


def test_personalization_build_on_cuda(sample_source, tmp_path):
    from pipelines.runner import BuildSpec, run_build
    from pipelines.validate import validate_dataset

    config = {"device": "cuda", "dtype": "bfloat16", "batch_size": 8}
    report = run_build(
        BuildSpec("personalization", str(sample_source), str(tmp_path), config, profile="full-random"), only=["00001"]
    )
    assert sum(report["counts"].values()) == report["inputs"]
    assert validate_dataset(str(tmp_path / "personalization")).ok
