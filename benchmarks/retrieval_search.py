"""Gallery search over 100k x 512 fp16 embeddings: ours against a streaming read of the same bytes and faiss-cpu.

"Ours" is the index's default path, the C kernel (models/retrieval/_fp16_topk.c: one streaming pass, fp16 widened
with F16C, fp32 FMA, a heap of k per query; on torch.get_num_threads() threads); the torch path it falls back to
(backend="torch") is timed beside it. The kernel alone is also timed over 1,000 cache-resident rows, called repeatedly
to the same rows (its compute floor without DRAM).
Per thread count (torch, our kernel and faiss/OpenMP set alike; numpy is single-threaded), every case runs once per round,
rounds repeated, medians. Two clocks: wall time, and for one thread the thread's CPU time (time.thread_time, which
counts memory stalls but not the time other processes hold the core: the per-core figure on a shared machine).
The floor is the faster of two full reads of the gallery's bytes (each byte once): torch.sum over them viewed as
int64, numpy's max over them viewed as int16. faiss runs its exact inner-product index (fp32, twice the bytes) and
its fp16 scalar quantizer (the same bytes as ours). Torch's fp16 GEMV, the core of our single-query path, is also
timed alone and on 1,000 rows that stay in cache (the same multiply-adds without DRAM: its compute floor). For 64
queries the work is compute-bound, so a GEMM reference is timed too: one fp32 torch.mm of the queries with an fp32
copy of the gallery, no conversion and no top-k."""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable
from statistics import median
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from benchmarks.common import write_result
from models.retrieval import index as index_module
from models.retrieval.index import Fp16Index, native_available

FLOORS = ("floor: torch.sum of the gallery bytes as int64", "floor: numpy max of the gallery bytes as int16")
KERNEL_HOT = "our kernel alone over 1,000 cache-resident rows, repeated to the same rows"
GEMV = "torch fp16 GEMV alone (the torch path, 1 query, without top-k and rescoring)"
GEMV_HOT = "torch fp16 GEMV over 1,000 cache-resident rows, repeated to the same multiply-adds"
GEMM = "GEMM reference: fp32 torch.mm, 64 queries x fp32 gallery"


def _unit(n: int, d: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.nn.functional.normalize(torch.randn(n, d, generator=g), dim=-1)


def _cases(index: Fp16Index, queries: torch.Tensor, k: int) -> dict[str, Callable[[], Any]]:
    import faiss

    e32 = index.embeddings.float()
    flat = faiss.IndexFlatIP(index.dim)
    flat.add(e32.numpy())
    sq = faiss.IndexScalarQuantizer(index.dim, faiss.ScalarQuantizer.QT_fp16, faiss.METRIC_INNER_PRODUCT)
    sq.train(e32.numpy())
    sq.add(e32.numpy())
    raw64, raw16 = index.embeddings.view(torch.int64), index.embeddings.numpy().view(np.int16)
    q1, qn1, qn64 = queries[:1], queries[:1].numpy(), queries.numpy()
    qh, hot = queries[0].half(), index.embeddings[:1000].clone()
    hot_reps = len(index) // len(hot)
    hot16, out_s, out_i = hot.numpy(), np.empty((1, k), np.float32), np.empty((1, k), np.int64)
    q1_32 = F.normalize(q1, dim=-1).numpy()

    def kernel_hot() -> None:  # the kernel itself, without search()'s per-call normalising and key lookup
        for _ in range(hot_reps):
            index_module._fp16_topk.topk(hot16, q1_32, k, out_s, out_i, torch.get_num_threads())

    return {
        FLOORS[0]: lambda: raw64.sum(),
        FLOORS[1]: lambda: raw16.max(),
        "ours, 1 query": lambda: index.search(q1, k, backend="native"),
        KERNEL_HOT: kernel_hot,
        "torch path, 1 query": lambda: index.search(q1, k, backend="torch"),
        GEMV: lambda: index.embeddings @ qh,
        GEMV_HOT: lambda: [hot @ qh for _ in range(hot_reps)],
        "faiss IndexFlatIP (fp32), 1 query": lambda: flat.search(qn1, k),
        "faiss SQ fp16, 1 query": lambda: sq.search(qn1, k),
        "ours, 64 queries": lambda: index.search(queries, k, backend="native"),
        "torch path, 64 queries": lambda: index.search(queries, k, backend="torch"),
        "faiss IndexFlatIP (fp32), 64 queries": lambda: flat.search(qn64, k),
        "faiss SQ fp16, 64 queries": lambda: sq.search(qn64, k),
        GEMM: lambda: torch.mm(queries, e32.T),
    }


def _timed(cases: dict[str, Callable[[], Any]], repeats: int, threads: int) -> dict[str, dict[str, float]]:
    """Median wall and thread-CPU milliseconds per case, the cases interleaved within each round."""
    import faiss

    torch.set_num_threads(threads)
    faiss.omp_set_num_threads(threads)
    for fn in cases.values():  # warm-up
        fn()
    wall: dict[str, list[float]] = {name: [] for name in cases}
    cpu: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(repeats):
        for name, fn in cases.items():
            c, t = time.thread_time(), time.perf_counter()
            fn()
            wall[name].append(time.perf_counter() - t)
            cpu[name].append(time.thread_time() - c)
    return {name: {"wall_ms": median(wall[name]) * 1e3, "cpu_ms": median(cpu[name]) * 1e3} for name in cases}


def _agreement(index: Fp16Index, queries: torch.Tensor, k: int) -> dict[str, float]:
    """Mean share of the float64 brute-force top-k (over the same fp16 rows) that ours and faiss return."""
    import faiss

    ref = torch.topk(queries.double() @ index.embeddings.double().T, k, dim=1).indices.tolist()
    flat = faiss.IndexFlatIP(index.dim)
    flat.add(index.embeddings.float().numpy())
    got = {
        "ours_1_query": index.search(queries[:1], k, backend="native").indices.tolist(),
        "ours_64_queries": index.search(queries, k, backend="native").indices.tolist(),
        "torch_path_1_query": index.search(queries[:1], k, backend="torch").indices.tolist(),
        "torch_path_64_queries": index.search(queries, k, backend="torch").indices.tolist(),
        "faiss_flat_64_queries": flat.search(queries.numpy(), k)[1].tolist(),
    }
    return {
        name: float(np.mean([len(set(a) & set(b)) / k for a, b in zip(rows, ref, strict=False)]))
        for name, rows in got.items()
    }


def _ratios(ms: dict[str, dict[str, float]], clock: str) -> dict[str, float]:
    floor = min(ms[f][clock] for f in FLOORS)
    out = {f"{name} / floor": v[clock] / floor for name, v in ms.items()}
    for n in ("1 query", "64 queries"):
        for peer in ("torch path", "faiss IndexFlatIP (fp32)", "faiss SQ fp16"):
            out[f"ours / {peer}, {n}"] = ms[f"ours, {n}"][clock] / ms[f"{peer}, {n}"][clock]
    out["ours, 64 queries / GEMM reference"] = ms["ours, 64 queries"][clock] / ms[GEMM][clock]
    return out


def _markdown(args: argparse.Namespace, runs: dict[str, Any], agreement: dict[str, float]) -> str:
    cols = [(t, c) for t in args.threads for c in (["cpu_ms", "wall_ms"] if t == 1 else ["wall_ms"])]
    head = " | ".join(f"{t} thread{'s' * (t > 1)} {'CPU' if c == 'cpu_ms' else 'wall'} ms | x floor" for t, c in cols)
    lines = [
        f"# Gallery search: {args.n:,} x {args.dim} fp16 ({args.n * args.dim * 2 / 1e6:.1f} MB), top-{args.k}, "
        f"median of {args.repeats} interleaved rounds",
        "",
        f"| case | {head} |",
        "| --- |" + " ---: | ---: |" * len(cols),
    ]
    for name in runs[str(args.threads[0])]["median_ms"]:
        cells = []
        for t, c in cols:
            run = runs[str(t)]
            cells += [f"{run['median_ms'][name][c]:.2f}", f"{run['ratios_' + c[:-3]][f'{name} / floor']:.2f}"]
        lines.append(f"| {name} | {' | '.join(cells)} |")
    lines += [
        "",
        "Floor = the faster of the two reads on the same clock. Load average (1 min) per run: "
        + ", ".join(
            f"{t} thread(s) {runs[str(t)]['loadavg_before']:.1f} -> {runs[str(t)]['loadavg_after']:.1f}"
            for t in args.threads
        )
        + ".",
        "Share of the float64 brute-force top-k returned: "
        + ", ".join(f"{k} {v:.4f}" for k, v in agreement.items())
        + ".",
    ]
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--dim", type=int, default=512)
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--repeats", type=int, default=11)
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    args = ap.parse_args()
    if not native_available():
        raise SystemExit("the C kernel is not built (python setup.py build_ext --inplace) or this CPU lacks AVX2/F16C")
    index = Fp16Index.build(_unit(args.n, args.dim, 0), [str(i) for i in range(args.n)])
    queries = _unit(64, args.dim, 1)
    cases = _cases(index, queries, args.k)
    runs: dict[str, Any] = {}
    for t in args.threads:
        before = os.getloadavg()[0]
        ms = _timed(cases, args.repeats, t)
        run = {"median_ms": ms, "loadavg_before": before, "loadavg_after": os.getloadavg()[0]}
        run["ratios_wall"] = _ratios(ms, "wall_ms")
        if t == 1:  # one thread's CPU time is its latency; with more threads it counts only the calling one
            run["ratios_cpu"] = _ratios(ms, "cpu_ms")
        runs[str(t)] = run
    torch.set_num_threads(1)
    agreement = _agreement(index, queries, args.k)
    result = {
        "gallery": {"n": args.n, "dim": args.dim, "dtype": "float16", "bytes": index.embeddings.numel() * 2},
        "k": args.k,
        "repeats": args.repeats,
        "threads": args.threads,
        "floor_cases": list(FLOORS),
        "runs": runs,
        "top_k_agreement_with_float64": agreement,
        "note": "cpu_ms is the calling thread's CPU time; it is a latency only for 1 thread",
    }
    md = _markdown(args, runs, agreement)
    write_result("retrieval_search", result, md)
    print(md)


if __name__ == "__main__":
    main()
