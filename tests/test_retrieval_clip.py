"""open_clip students by config: saved folders load through open_clip's own local-dir loader; the production budget."""

from __future__ import annotations

import pytest
import torch

import models.compat  # noqa: F401  (torchvision's ops before open_clip imports it)
from models.retrieval.clip import build_clip, clip_config, load_clip, save_clip, tower_parameters


def test_tiny_student_roundtrips_through_open_clip_local_dir(tmp_path) -> None:
    torch.manual_seed(0)
    cfg = clip_config("tiny")
    model = build_clip(cfg).eval()
    save_clip(model, cfg, tmp_path / "model")
    loaded, preprocess, tokenizer = load_clip(tmp_path / "model")
    tokens = tokenizer(["a small red cup", "two blue dogs"])
    assert tokens.shape == (2, cfg["text_cfg"]["context_length"])
    images = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(loaded.encode_image(images), model.encode_image(images))
        torch.testing.assert_close(loaded.encode_text(tokens), model.encode_text(tokens))
    assert preprocess.transforms[0].size == 64


def test_unknown_config_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown open_clip config"):
        clip_config("ViT-H-14-but-tiny")


@pytest.mark.slow
def test_production_student_has_mobileclip_s0_budget() -> None:
    with torch.device("meta"):
        model = build_clip(clip_config("mobile-s0"))
    counts = tower_parameters(model)
    assert 10e6 < counts["image"] < 13e6, counts
    assert 38e6 < counts["text"] < 48e6, counts
