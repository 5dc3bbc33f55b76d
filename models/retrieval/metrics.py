"""Retrieval figures from embeddings: recall@K both ways, and SugarCrepe's per-kind negative accuracy."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

import torch


def recall_at_k(
    image_features: torch.Tensor, text_features: torch.Tensor, ks: Sequence[int] = (1, 5, 10)
) -> dict[str, float]:
    """Image i and caption i are the pair (one caption per image). Features are unit vectors, (N, D) each.

    ``i2t_r@k``: share of images whose own caption is among the k best captions; ``t2i_r@k`` the other way."""
    sims = image_features.float() @ text_features.float().T
    n = sims.shape[0]
    if sims.shape != (n, n):
        raise ValueError(f"recall needs one caption per image, got a {tuple(sims.shape)} similarity matrix")
    target = torch.arange(n)
    # rank of the true partner: how many candidates score strictly higher
    i2t_rank = (sims > sims[target, target][:, None]).sum(dim=1)
    t2i_rank = (sims[target, target][:, None] < sims.T).sum(dim=1)
    out: dict[str, float] = {}
    for k in ks:
        out[f"i2t_r@{k}"] = float((i2t_rank < k).float().mean())
        out[f"t2i_r@{k}"] = float((t2i_rank < k).float().mean())
    return out


def negative_accuracy(
    image_features: torch.Tensor,
    text_features: torch.Tensor,
    negative_features: torch.Tensor,
    negative_owner: Sequence[int],
    negative_kinds: Sequence[str],
) -> dict[str, dict[str, float]]:
    """SugarCrepe: a negative counts as correct when its image is closer to the true caption than to the negative.

    ``negative_features`` (M, D); ``negative_owner[m]`` is the index of the image (and true caption) it belongs to,
    ``negative_kinds[m]`` its kind (``replace-att``, ``swap-att``, ...). Returns ``{kind: {accuracy, n}}``."""
    if len(negative_owner) != negative_features.shape[0] or len(negative_kinds) != len(negative_owner):
        raise ValueError("one owner and one kind per negative")
    owner = torch.as_tensor(list(negative_owner), dtype=torch.long)
    img = image_features.float()[owner]
    pos = (img * text_features.float()[owner]).sum(dim=-1)
    neg = (img * negative_features.float()).sum(dim=-1)
    correct: dict[str, list[bool]] = defaultdict(list)
    for kind, ok in zip(negative_kinds, (pos > neg).tolist(), strict=True):
        correct[kind].append(ok)
    return {kind: {"accuracy": sum(v) / len(v), "n": float(len(v))} for kind, v in sorted(correct.items())}
