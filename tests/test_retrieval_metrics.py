"""Recall@K and the SugarCrepe protocol on hand-made embeddings whose answers are known."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from models.retrieval.metrics import negative_accuracy, recall_at_k


def test_recall_counts_the_true_partner_rank_both_ways() -> None:
    eye = torch.eye(4)
    assert recall_at_k(eye, eye, ks=(1,)) == {"i2t_r@1": 1.0, "t2i_r@1": 1.0}
    # caption 0 and 1 swapped: images 0 and 1 find the wrong caption first, but within the top 2
    swapped = eye[[1, 0, 2, 3]]
    r = recall_at_k(eye, swapped, ks=(1, 2))
    assert r["i2t_r@1"] == 0.5 and r["t2i_r@1"] == 0.5 and r["i2t_r@2"] == 1.0
    # a tie with the true partner is not counted against it
    tied = F.normalize(torch.tensor([[1.0, 0.0], [1.0, 0.0]]), dim=-1)
    assert recall_at_k(tied, tied, ks=(1,))["i2t_r@1"] == 1.0
    with pytest.raises(ValueError):
        recall_at_k(eye, eye[:3])


def test_negative_accuracy_per_kind() -> None:
    images = torch.eye(3)
    texts = torch.eye(3)
    # neg 0 (image 0) points away from image 0: correct; neg 1 (image 1) scores 0.1 < 1: correct;
    # neg 2 (image 1) equals image 1's own caption, a tie, which is not "closer to the true caption": wrong
    negatives = torch.tensor([[0.0, 1.0, 0.0], [1.0, 0.1, 0.0], [0.0, 1.0, 0.0]])
    out = negative_accuracy(images, texts, negatives, [0, 1, 1], ["replace-att", "swap-att", "swap-att"])
    assert out["replace-att"] == {"accuracy": 1.0, "n": 1.0}
    assert out["swap-att"] == {"accuracy": 0.5, "n": 2.0}
