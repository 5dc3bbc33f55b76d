"""Gallery search over 100k x 512 fp16 embeddings: ours against a streaming read of the same bytes and faiss-cpu.

One thread for everything (per-core figures), cases interleaved, medians. The floor is the fastest full read of the
gallery's bytes we can make; faiss runs its exact inner-product index (fp32, twice the bytes) and its fp16 scalar
quantizer (the same bytes as ours)."""

from __future__ import annotations

import argparse

import numpy as np
import torch

from benchmarks.common import interleaved, median, write_result
from models.retrieval.index import Fp16Index


def _gallery(n: int, d: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.nn.functional.normalize(torch.randn(n, d, generator=g), dim=-1)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--dim", type=int, default=512)
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--repeats", type=int, default=15)
    args = ap.parse_args()
    import faiss

    torch.set_num_threads(1)
    faiss.omp_set_num_threads(1)
    emb = _gallery(args.n, args.dim, 0)
    index = Fp16Index.build(emb, [str(i) for i in range(args.n)])
    queries = _gallery(64, args.dim, 1)
    q1 = queries[:1]
    raw = index.embeddings.view(torch.int64)
    flat = faiss.IndexFlatIP(args.dim)
    flat.add(index.embeddings.float().numpy())
    sq = faiss.IndexScalarQuantizer(args.dim, faiss.ScalarQuantizer.QT_fp16, faiss.METRIC_INNER_PRODUCT)
    sq.train(index.embeddings.float().numpy())
    sq.add(index.embeddings.float().numpy())
    qn1, qn64 = q1.numpy(), queries.numpy()
    cases = {
        "floor: streaming read of the fp16 gallery": lambda: raw.sum(),
        "ours, 1 query": lambda: index.search(q1, args.k),
        "faiss IndexFlatIP (fp32), 1 query": lambda: flat.search(qn1, args.k),
        "faiss SQ fp16, 1 query": lambda: sq.search(qn1, args.k),
        "ours, 64 queries": lambda: index.search(queries, args.k),
        "faiss IndexFlatIP (fp32), 64 queries": lambda: flat.search(qn64, args.k),
        "faiss SQ fp16, 64 queries": lambda: sq.search(qn64, args.k),
    }
    for fn in cases.values():  # warm-up
        fn()
    times = interleaved(cases, args.repeats)
    ms = {name: median(t) * 1e3 for name, t in times.items()}
    floor = ms["floor: streaming read of the fp16 gallery"]
    ours = index.search(queries, args.k).indices.numpy()
    _, ref = flat.search(qn64, args.k)
    agreement = float(np.mean([len(set(a) & set(b)) / args.k for a, b in zip(ours, ref, strict=True)]))
    result = {
        "gallery": {"n": args.n, "dim": args.dim, "dtype": "float16", "bytes": index.embeddings.numel() * 2},
        "k": args.k,
        "threads": 1,
        "median_ms": ms,
        "ours_1_query_vs_floor": ms["ours, 1 query"] / floor,
        "ours_1_query_vs_faiss_flat": ms["ours, 1 query"] / ms["faiss IndexFlatIP (fp32), 1 query"],
        "ours_1_query_vs_faiss_sq_fp16": ms["ours, 1 query"] / ms["faiss SQ fp16, 1 query"],
        "ours_64_queries_vs_faiss_flat": ms["ours, 64 queries"] / ms["faiss IndexFlatIP (fp32), 64 queries"],
        "top_k_agreement_with_faiss_flat": agreement,
    }
    lines = [
        f"# Gallery search: {args.n:,} x {args.dim} fp16, top-{args.k}, 1 thread, median of {args.repeats}",
        "",
        "| case | ms | x floor |",
        "| --- | ---: | ---: |",
        *[f"| {name} | {v:.2f} | {v / floor:.2f} |" for name, v in ms.items()],
        "",
        f"Top-{args.k} agreement of ours with faiss IndexFlatIP over 64 queries: {agreement:.4f}.",
    ]
    write_result("retrieval_search", result, "\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
