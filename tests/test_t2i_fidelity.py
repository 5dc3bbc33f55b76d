"""Prompt fidelity: the prompts cover the corpus' colours x shapes, and the score reads a classifier's answers right."""

from __future__ import annotations

import pytest
import torch

from models.training.attribute_cnn import AttributeCNN
from pipelines.sources.shapes import COLOURS, SHAPES
from pipelines.training.t2i_generate import fidelity_prompts, score_fidelity
from pipelines.training.trainers.shapes_classifier import LABELS, MAX_OBJECTS

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _rigged(colour_bias: dict[str, float], shape_bias: dict[str, float]) -> AttributeCNN:
    """A classifier that answers the same whatever the image: its head weights are zero, its biases set."""
    heads = {head: len(names) for head, names in LABELS.items()} | {"objects": MAX_OBJECTS}
    model = AttributeCNN(heads, width=8).eval()
    with torch.no_grad():
        for head, bias in (("colour", colour_bias), ("shape", shape_bias)):
            model.heads[head].weight.zero_()
            model.heads[head].bias.fill_(-5.0)
            for name, value in bias.items():
                model.heads[head].bias[LABELS[head].index(name)] = value
    return model


def test_prompts_cover_every_colour_with_every_shape():
    items = fidelity_prompts(36)
    assert {(c, s) for _, c, s in items} == {(c, s) for c in COLOURS for s in SHAPES}
    assert all(c in p and s in p for p, c, s in items)
    assert len(fidelity_prompts(40)) == 40


def test_score_counts_the_classifiers_answers():
    items = fidelity_prompts(36)
    images = torch.rand(36, 3, 16, 16)
    always_red_circle = _rigged({"red": 5.0}, {"circle": 5.0})
    assert score_fidelity(images, items, always_red_circle, 32) == {
        "fidelity_colour": round(1 / 6, 4), "fidelity_shape": round(1 / 6, 4), "fidelity_both": round(1 / 36, 4),
        "fidelity_samples": 36,
    }  # fmt: skip
    # "black" is no prompt colour: the score takes the argmax over the prompts' colours, where blue is ahead
    black_then_blue = _rigged({"black": 9.0, "blue": 4.0}, {"cross": 9.0, "heart": 4.0})
    scores = score_fidelity(images, items, black_then_blue, 32)
    assert scores["fidelity_colour"] == round(1 / 6, 4) and scores["fidelity_shape"] == round(1 / 6, 4)
