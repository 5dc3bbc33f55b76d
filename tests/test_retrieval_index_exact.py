"""The fp16 index's top-k against a float64 brute force over the same fp16 rows: the C kernel and the torch paths."""

from __future__ import annotations

import platform
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from models.retrieval import index as index_module
from models.retrieval.index import Fp16Index, native_available

needs_native = pytest.mark.skipif(not native_available(), reason="the C kernel is not built or the CPU lacks AVX2")
BACKENDS = [pytest.param("native", marks=needs_native), "torch"]

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


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize(
    ("n", "d", "n_queries", "k", "chunk"),
    [
        (2500, 128, 1, 20, 512),
        (2500, 128, 9, 20, 512),
        (777, 64, 5, 1, 100),
        (300, 64, 4, 300, 128),
        (300, 64, 1, 300, 128),
        (1000, 512, 3, 50, 16),
        (1001, 37, 7, 5, 64),  # dims not a multiple of 8, rows not of 4, queries not of 4: every kernel tail
        (9000, 72, 1, 10, 1024),
    ],
)
def test_top_k_equals_a_float64_brute_force(n: int, d: int, n_queries: int, k: int, chunk: int, backend: str) -> None:
    index = Fp16Index.build(_gallery(n, d), [f"k{i}" for i in range(n)])
    g = torch.Generator().manual_seed(1)
    queries = torch.cat([index.embeddings[:1].float(), torch.randn(n_queries, d, generator=g)])[:n_queries]
    result = index.search(queries, k=k, chunk=chunk, backend=backend)
    assert result.backend == backend
    assert result.indices.shape == (n_queries, k)
    assert_exact_top_k(result.scores, result.indices, index.embeddings, F.normalize(queries.float(), dim=-1))


@pytest.mark.parametrize("n_queries", [1, 6])
def test_native_and_torch_paths_agree(n_queries: int) -> None:
    if not native_available():
        pytest.skip("the C kernel is not built or the CPU lacks AVX2")
    index = Fp16Index.build(
        torch.randn(6000, 96, generator=torch.Generator().manual_seed(3)), [str(i) for i in range(6000)]
    )
    q = torch.randn(n_queries, 96, generator=torch.Generator().manual_seed(4))
    native, ref = index.search(q, k=16, backend="native"), index.search(q, k=16, backend="torch")
    assert (native.backend, ref.backend) == ("native", "torch")
    assert torch.equal(native.indices, ref.indices)
    assert native.keys == ref.keys
    torch.testing.assert_close(native.scores, ref.scores, atol=1e-6, rtol=0)


@needs_native
@pytest.mark.parametrize(("threads", "k"), [(2, 12), (3, 12), (5, 12), (5, 9000)])  # 9000 > a thread's 4000 rows
def test_native_threads_return_what_one_thread_returns(threads: int, k: int) -> None:
    g = torch.Generator().manual_seed(5)
    gallery = F.normalize(torch.randn(20_000, 64, generator=g), dim=-1).half()
    gallery[15_000] = gallery[3]  # an exact tie across two threads' shares: the earlier row ranks first either way
    q = torch.cat([gallery[3:4].float(), torch.randn(2, 64, generator=g)])
    out = {}
    for t in (1, threads):
        for nq in (1, 3):
            s, i = np.empty((nq, k), np.float32), np.empty((nq, k), np.int64)
            index_module._fp16_topk.topk(gallery.numpy(), q[:nq].numpy(), k, s, i, t)
            out[t, nq] = s, i
    for nq in (1, 3):
        np.testing.assert_array_equal(out[1, nq][1], out[threads, nq][1])
        np.testing.assert_array_equal(out[1, nq][0], out[threads, nq][0])
        assert list(out[threads, nq][1][0, :2]) == [3, 15_000]
        assert len(set(out[threads, nq][1][-1].tolist())) == k


@needs_native
def test_native_refuses_wrong_buffers() -> None:
    topk = index_module._fp16_topk.topk
    g, q = np.zeros((10, 8), np.float16), np.zeros((1, 8), np.float32)
    s, i = np.empty((1, 3), np.float32), np.empty((1, 3), np.int64)
    topk(g, q, 3, s, i)
    with pytest.raises(ValueError, match="gallery"):
        topk(g.astype(np.float32), q, 3, s, i)
    with pytest.raises(ValueError, match="queries"):
        topk(g, q.astype(np.float64), 3, s, i)
    with pytest.raises(ValueError, match="shapes"):
        topk(g, np.zeros((1, 9), np.float32), 3, s, i)
    with pytest.raises(ValueError, match="shapes"):
        topk(g, q, 11, np.empty((1, 11), np.float32), np.empty((1, 11), np.int64))
    with pytest.raises(ValueError, match="indices_out"):
        topk(g, q, 3, s, i.astype(np.int32))
    with pytest.raises(ValueError, match="contiguous"):
        topk(g[:, ::2], q[:, ::2], 3, s, i)  # not contiguous


def test_without_the_kernel_search_falls_back_to_torch(monkeypatch: pytest.MonkeyPatch) -> None:
    index = Fp16Index.build(_gallery(500, 32), [f"k{i}" for i in range(500)])
    q = torch.randn(2, 32, generator=torch.Generator().manual_seed(6))
    monkeypatch.setattr(index_module, "_fp16_topk", None)
    assert not native_available()
    result = index.search(q, k=5)
    assert result.backend == "torch"
    assert_exact_top_k(result.scores, result.indices, index.embeddings, F.normalize(q, dim=-1))
    with pytest.raises(RuntimeError, match="not built"):
        index.search(q, k=5, backend="native")
    with pytest.raises(ValueError, match="backend"):
        index.search(q, k=5, backend="numpy")  # type: ignore[arg-type]


def _cpu_flags() -> set[str]:
    for line in Path("/proc/cpuinfo").read_text().splitlines() if Path("/proc/cpuinfo").exists() else []:
        if line.startswith("flags"):
            return set(line.split(":", 1)[1].split())
    return set()


@pytest.mark.skipif(
    platform.machine() != "x86_64" or not {"avx2", "f16c", "fma"} <= _cpu_flags(), reason="not an AVX2 x86-64 CPU"
)
def test_the_kernel_is_built_and_taken_by_default_where_the_cpu_runs_it() -> None:
    # `pip install -e .` (make install) builds it; a missing build would otherwise pass silently through the fallback.
    assert native_available(), "models/retrieval/_fp16_topk is not built: run `python setup.py build_ext --inplace`"
    index = Fp16Index.build(_gallery(100, 16), [f"k{i}" for i in range(100)])
    assert index.search(torch.randn(16), k=3).backend == "native"


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
