"""The fp16 gallery index (exact top-k, save/load) and the retrieval student's loss terms."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from models.retrieval.index import Fp16Index
from models.retrieval.losses import (
    LossWeights,
    RetrievalStudentLoss,
    affinity_distill_loss,
    hard_negative_loss,
)


def _gallery(n: int = 3000, d: int = 64, seed: int = 0) -> tuple[torch.Tensor, list[str]]:
    g = torch.Generator().manual_seed(seed)
    emb = torch.randn(n, d, generator=g)
    emb[1:40] = emb[0] + 1e-3 * torch.randn(39, d, generator=g)  # a cluster of near-ties
    return emb, [f"img{i:05d}" for i in range(n)]


def _exact_scores(index: Fp16Index, q: torch.Tensor) -> torch.Tensor:
    return F.normalize(q.float(), dim=-1) @ index.embeddings.float().T


@pytest.mark.parametrize("n_queries", [1, 7])
def test_search_is_exact_top_k_over_the_fp16_gallery(n_queries: int) -> None:
    emb, keys = _gallery()
    index = Fp16Index.build(emb, keys)
    queries = torch.cat([emb[:1], torch.randn(n_queries - 1, emb.shape[1])])[:n_queries]
    result = index.search(queries, k=20, chunk=512)
    exact = _exact_scores(index, queries)
    assert result.indices.shape == (n_queries, 20)
    # exact up to the order of exact ties: the same k best scores, and each returned row really has its score
    torch.testing.assert_close(result.scores, torch.topk(exact, 20, dim=1).values, atol=1e-6, rtol=0)
    torch.testing.assert_close(torch.gather(exact, 1, result.indices), result.scores, atol=1e-6, rtol=0)
    assert len(set(result.indices[0].tolist())) == 20
    assert result.keys[0] == [keys[i] for i in result.indices[0].tolist()]
    assert torch.all(result.scores[:, :-1] >= result.scores[:, 1:])


def test_single_and_batched_paths_agree_and_roundtrip(tmp_path) -> None:
    emb, keys = _gallery(n=1000)
    index = Fp16Index.build(emb, keys, meta={"model": "student-x"})
    path = index.save(tmp_path / "idx")
    loaded = Fp16Index.load(path)
    assert loaded.embeddings.dtype == torch.float16 and loaded.keys == keys and loaded.meta["model"] == "student-x"
    q = torch.randn(3, emb.shape[1])
    batched = loaded.search(q, k=5)
    for i in range(3):
        single = loaded.search(q[i], k=5)
        assert single.indices[0].tolist() == batched.indices[i].tolist()
        torch.testing.assert_close(single.scores[0], batched.scores[i], atol=1e-5, rtol=0)


def test_index_refuses_mismatched_keys() -> None:
    with pytest.raises(ValueError, match="keys"):
        Fp16Index.build(torch.randn(4, 8), ["a", "b", "c"])
    with pytest.raises(ValueError, match="unique"):
        Fp16Index.build(torch.randn(2, 8), ["a", "a"])


def _unit(*shape: int, seed: int = 0) -> torch.Tensor:
    return F.normalize(torch.randn(*shape, generator=torch.Generator().manual_seed(seed)), dim=-1)


def test_hard_negative_loss_falls_as_negatives_move_away_from_the_image() -> None:
    img, txt = _unit(4, 16), _unit(4, 16, seed=1)
    txt = F.normalize(img + 0.3 * txt, dim=-1)
    close = F.normalize(img[:, None, :] + 0.1 * _unit(4, 2, 16, seed=2), dim=-1)
    far = -close
    mask = torch.ones(4, 2, dtype=torch.bool)
    scale = torch.tensor(10.0)
    assert hard_negative_loss(img, txt, close, mask, scale) > hard_negative_loss(img, txt, far, mask, scale) + 1.0
    none = hard_negative_loss(img, txt, close, torch.zeros(4, 2, dtype=torch.bool), scale)
    assert none.item() == 0.0


def test_distillation_is_zero_only_at_the_teacher_and_leaves_the_teacher_alone() -> None:
    teacher = torch.randn(6, 6, requires_grad=True)
    assert affinity_distill_loss(teacher.detach().clone(), teacher).abs().item() < 1e-6
    student = torch.randn(6, 6, requires_grad=True)
    loss = affinity_distill_loss(student, teacher)
    loss.backward()
    assert loss.item() > 0.01 and student.grad is not None and teacher.grad is None


def test_weights_switch_terms_off_and_total_is_their_weighted_sum() -> None:
    img, txt = _unit(4, 16), _unit(4, 16, seed=1)
    args = dict(
        teacher_logits=torch.randn(4, 4),
        negative_features=_unit(4, 3, 16, seed=3),
        negative_mask=torch.ones(4, 3, dtype=torch.bool),
        replay_logits=torch.randn(4, 4),
        replay_reference_logits=torch.randn(4, 4),
    )
    scale = torch.tensor(5.0)
    full = RetrievalStudentLoss(LossWeights(1.0, 0.5, 2.0, 0.25))(img, txt, scale, **args)
    assert all(full[t].item() > 0 for t in ("contrastive", "distill", "hard_negative", "lwf"))
    expect = full["contrastive"] + 0.5 * full["distill"] + 2.0 * full["hard_negative"] + 0.25 * full["lwf"]
    torch.testing.assert_close(full["total"], expect)
    off = RetrievalStudentLoss(LossWeights(1.0, 0.0, 0.0, 0.0))(img, txt, scale, **args)
    assert off["distill"].item() == off["hard_negative"].item() == off["lwf"].item() == 0.0
    torch.testing.assert_close(off["total"], full["contrastive"])
