"""The fp16 index's top-k against a float64 brute force over the same fp16 rows, on both search paths."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from models.retrieval.index import Fp16Index

# fp32 accumulation over 64-512 dims of unit vectors differs from float64 by well under this; scores closer than it
# to the k-th best are ties, whose order (and membership at the k-th place) either way is right.
_TIE = 1e-5


def assert_exact_top_k(
    scores: torch.Tensor, indices: torch.Tensor, gallery: torch.Tensor, queries: torch.Tensor
) -> None:
    """``scores``/``indices`` (Q, k) must be the k best rows of ``gallery`` (N, D) for unit ``queries`` (Q, D) by a
    float64 inner product: each returned score is its row's float64 score, rows are distinct and best first, and
    every row clearly above the k-th best score is returned, every returned row is at least the k-th best (ties aside)."""
    ref = queries.double() @ gallery.double().T
    k = indices.shape[1]
    kth = torch.topk(ref, k, dim=1).values[:, -1:]
    got = torch.gather(ref, 1, indices)
    assert torch.allclose(scores.double(), got, atol=_TIE, rtol=0), "a returned score is not its row's score"
    assert all(len(set(row.tolist())) == k for row in indices), "a row returned twice"
    assert torch.all(scores[:, :-1] >= scores[:, 1:]), "not best first"
    assert torch.all(got >= kth - _TIE), "a returned row is below the k-th best"
    must = ref > kth + _TIE
    returned = torch.zeros_like(must).scatter_(1, indices, True)
    assert torch.all(returned | ~must), "a row clearly in the top k is missing"


def _gallery(n: int, d: int, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    emb = torch.randn(n, d, generator=g)
    emb[1:60] = emb[0] + 3e-3 * torch.randn(59, d, generator=g)  # near-ties closer than fp16's rounding of scores
    emb[60:64] = emb[0]  # exact duplicates: exact ties
    return emb


@pytest.mark.parametrize(
    ("n", "d", "n_queries", "k", "chunk"),
    [
        (2500, 128, 1, 20, 512),
        (2500, 128, 9, 20, 512),
        (777, 64, 5, 1, 100),
        (300, 64, 4, 300, 128),
        (300, 64, 1, 300, 128),
        (1000, 512, 3, 50, 16),
    ],
)
def test_top_k_equals_a_float64_brute_force(n: int, d: int, n_queries: int, k: int, chunk: int) -> None:
    index = Fp16Index.build(_gallery(n, d), [f"k{i}" for i in range(n)])
    g = torch.Generator().manual_seed(1)
    queries = torch.cat([index.embeddings[:1].float(), torch.randn(n_queries, d, generator=g)])[:n_queries]
    result = index.search(queries, k=k, chunk=chunk)
    assert result.indices.shape == (n_queries, k)
    assert_exact_top_k(result.scores, result.indices, index.embeddings, F.normalize(queries.float(), dim=-1))


def test_the_check_fails_on_a_wrong_top_k() -> None:
    index = Fp16Index.build(_gallery(2000, 64), [f"k{i}" for i in range(2000)])
    q = F.normalize(torch.randn(2, 64, generator=torch.Generator().manual_seed(2)), dim=-1)
    good = index.search(q, k=10)
    assert_exact_top_k(good.scores, good.indices, index.embeddings, q)
    ref = q.double() @ index.embeddings.double().T
    order = torch.argsort(ref, dim=1, descending=True)
    dropped = torch.cat([order[:, :9], order[:, 10:11]], dim=1)  # the 11th instead of the 10th
    assert float((ref.gather(1, order[:, 9:10]) - ref.gather(1, order[:, 10:11])).min()) > 1e-4
    with pytest.raises(AssertionError, match="below|missing"):
        assert_exact_top_k(ref.gather(1, dropped).float(), dropped, index.embeddings, q)
    with pytest.raises(AssertionError, match="its row's score"):
        assert_exact_top_k(good.scores + 1e-3, good.indices, index.embeddings, q)
    fp16_rounded = good.scores.half().float()  # what the fp16 GEMV alone returns, without the exact rescoring
    with pytest.raises(AssertionError, match="its row's score"):
        assert_exact_top_k(fp16_rounded, good.indices, index.embeddings, q)
