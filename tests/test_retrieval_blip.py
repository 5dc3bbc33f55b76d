"""The BLIP fusion teacher: a tiny real architecture, its all-pairs ITM scores, save/load through transformers."""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image

import models.compat  # noqa: F401
from models.retrieval.blip import (
    build_tiny_blip,
    itc_features,
    itm_pair_logits,
    load_blip,
    save_blip,
    train_wordpiece_tokenizer,
)
from models.retrieval.losses import itm_loss

CAPTIONS = ["a small red circle", "two blue squares on the left", "a green striped triangle"]


def _inputs(processor):
    rng = np.random.default_rng(0)
    images = [Image.fromarray(rng.integers(0, 255, (64, 64, 3), dtype=np.uint8)) for _ in range(2)]
    return processor(images=images, text=CAPTIONS, return_tensors="pt", padding=True)


def test_pair_logits_match_the_model_forward_and_survive_save_load(tmp_path) -> None:
    torch.manual_seed(0)
    tokenizer = train_wordpiece_tokenizer(CAPTIONS * 3, vocab_size=200)
    assert tokenizer.tokenize("a small red circle") == ["a", "small", "red", "circle"]
    model, processor = build_tiny_blip(tokenizer)
    model.eval()
    x = _inputs(processor)
    with torch.no_grad():
        pairs = itm_pair_logits(model, x["pixel_values"], x["input_ids"], x["attention_mask"])
        direct = model(
            input_ids=x["input_ids"][:2], pixel_values=x["pixel_values"], attention_mask=x["attention_mask"][:2]
        )
    assert pairs.shape == (2, 3)
    torch.testing.assert_close(torch.diagonal(pairs[:, :2]), direct.itm_score[:, 1] - direct.itm_score[:, 0])
    save_blip(model, processor, tmp_path / "teacher")
    loaded, loaded_processor = load_blip(tmp_path / "teacher")
    y = _inputs(loaded_processor)
    with torch.no_grad():
        torch.testing.assert_close(
            itm_pair_logits(loaded, y["pixel_values"], y["input_ids"], y["attention_mask"]), pairs
        )
        img, txt = itc_features(loaded, y["pixel_values"], y["input_ids"], y["attention_mask"])
    torch.testing.assert_close(img.norm(dim=-1), torch.ones(2))
    assert txt.shape[0] == 3


def test_itm_loss_prefers_separated_logits() -> None:
    good = itm_loss(torch.tensor([4.0, 5.0]), torch.tensor([-4.0, -3.0, -5.0]))
    bad = itm_loss(torch.tensor([-1.0, 0.0]), torch.tensor([1.0, 2.0, 0.5]))
    assert good < 0.1 < 1.0 < bad
