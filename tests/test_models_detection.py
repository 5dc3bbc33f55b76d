"""Grounding DINO detector: tiny random-weight model built and loaded through the production loader."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from fixtures_models import detector, gd_spec, one_torch_thread, open_detector, photos, tiny_cache  # noqa: F401

from models import Detections, Detector, ModelSpec, production_spec
from models.detection.gd_batch import forward_batch
from models.detection.grounding_dino import GroundingDinoDetector, load_grounding_dino
from models.registry import file_sha256

PROMPTS = ["An astronaut . a flag . rocket", "a cat"]


def test_registry_builds_tiny_detector_with_random_id(detector, gd_spec):  # noqa: F811
    assert isinstance(detector, Detector)
    sha = file_sha256(gd_spec.checkpoint)
    assert detector.model_id == f"groundingdino-swint_tiny-random(sha256:{sha[:8]})"
    assert detector._model.num_queries == 50 and detector._model.hidden_dim == 256


def test_detect_batch_returns_boxes_inside_images(open_detector, photos):  # noqa: F811
    results = open_detector.detect(photos, PROMPTS)
    assert len(results) == 2
    for dets, image, prompt in zip(results, photos, PROMPTS, strict=True):
        h, w = image.shape[:2]
        assert isinstance(dets, Detections) and len(dets) == 50  # thresholds 0: every query
        assert dets.boxes.dtype == np.float32 and dets.scores.dtype == np.float32
        x0, y0, x1, y1 = dets.boxes.T
        assert (x0 >= 0).all() and (y0 >= 0).all() and (x1 <= w).all() and (y1 <= h).all()
        assert (x0 <= x1).all() and (y0 <= y1).all()
        assert ((dets.scores >= 0) & (dets.scores <= 1)).all() and (np.diff(dets.scores) <= 0).all()
        assert all(p and p in prompt.lower() for p in dets.phrases), dets.phrases


def test_batched_detect_equals_per_image_detect(open_detector, photos):  # noqa: F811
    images = [*photos, np.ascontiguousarray(photos[0][:, ::-1])]  # two sizes: one padded, one shared backbone call
    prompts = [*PROMPTS, "a flag"]
    batched = open_detector.detect(images, prompts)
    for image, prompt, together in zip(images, prompts, batched, strict=True):
        (alone,) = open_detector.detect([image], [prompt])
        np.testing.assert_allclose(together.boxes, alone.boxes, atol=1e-2)
        np.testing.assert_allclose(together.scores, alone.scores, atol=1e-4)
        assert together.phrases == alone.phrases


def test_single_image_forward_equals_groundingdino_forward(open_detector, photos):  # noqa: F811
    from groundingdino.util.misc import nested_tensor_from_tensor_list

    model, image = open_detector._model, open_detector._preprocess(photos[1])
    ours = forward_batch(model, [image], ["a cat."])
    with torch.inference_mode():
        theirs = model(nested_tensor_from_tensor_list([image]), captions=["a cat."])
    torch.testing.assert_close(ours["pred_boxes"], theirs["pred_boxes"])
    torch.testing.assert_close(ours["pred_logits"], theirs["pred_logits"])


def test_default_thresholds_filter_and_batch_size(detector, photos):  # noqa: F811
    one_by_one = GroundingDinoDetector(detector._model, dataclasses.replace(detector.spec, batch_size=1), "0" * 64)
    results = one_by_one.detect(photos, PROMPTS)  # two forwards of one image
    assert len(results) == 2
    for dets in results:
        assert (dets.scores > detector.spec.box_threshold).all()


def test_detect_rejects_bad_inputs(detector, photos):  # noqa: F811
    with pytest.raises(ValueError):
        detector.detect(photos, ["a cat"])
    with pytest.raises(ValueError):
        detector.detect([photos[0]], [" . "])
    with pytest.raises(ValueError):
        detector.detect([photos[0].astype(np.float32)], ["a cat"])


def test_loader_refuses_checkpoint_with_missing_weights(gd_spec, tmp_path):  # noqa: F811
    state = torch.load(gd_spec.checkpoint, weights_only=True)["model"]
    state.pop(next(k for k in state if k.startswith("transformer.")))
    torch.save({"model": state}, tmp_path / "partial.pth")
    with pytest.raises(RuntimeError, match="lacks 1 weights"):
        load_grounding_dino(gd_spec.config, tmp_path / "partial.pth", gd_spec.text_encoder, "cpu")


def test_spec_validation_and_production_env():
    with pytest.raises(ValueError):
        ModelSpec(name="sam", checkpoint="x", variant="vit_h", dtype="int8")
    env = {"SHARDSMITH_GD_CHECKPOINT": "s3://w/gd.pth", "SHARDSMITH_GD_CONFIG": "/c.py", "SHARDSMITH_DEVICE": "cuda"}
    spec = production_spec("grounding_dino", env=env, dtype="bfloat16")
    assert (spec.checkpoint, spec.config, spec.device, spec.dtype, spec.variant) == (
        "s3://w/gd.pth",
        "/c.py",
        "cuda",
        "bfloat16",
        "swint_ogc",
    )
    assert (spec.box_threshold, spec.text_threshold, spec.profile) == (0.25, 0.2, "production")
    assert production_spec("grounding_dino", env={"SHARDSMITH_GD_CHECKPOINT": "/gd.pth"}).config.endswith(
        "SwinT_OGC.py"
    )
    with pytest.raises(ValueError, match="SHARDSMITH_SAM_CHECKPOINT"):
        production_spec("sam", env={})
