"""An fp16 brute-force gallery index: L2-normalised embeddings stored as float16 in safetensors, exact top-k search."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import torch
from safetensors.torch import load_file, save_file

try:  # the C kernel (AVX2 + F16C + FMA), built by `pip install -e .` or `python setup.py build_ext --inplace`
    from models.retrieval import _fp16_topk
except ImportError:  # not built (no compiler at install, or run from a bare checkout): the torch path serves
    _fp16_topk = None

Backend = Literal["auto", "native", "torch"]

INDEX_FILE = "index.safetensors"
KEYS_FILE = "keys.json"
# fp16 scores of unit vectors are within half an ulp of 1.0 (2**-11) of the fp32-accumulated inner product; rows
# whose fp16 score is within this margin of the k-th best are rescored exactly, so the top-k is exact.
_RESCORE_MARGIN = 2.0**-9


@dataclass(frozen=True)
class SearchResult:
    """``scores`` and ``indices`` are (Q, k), best first; ``keys[q][j]`` is the gallery key of ``indices[q, j]``."""

    scores: torch.Tensor
    indices: torch.Tensor
    keys: list[list[str]]
    backend: Literal["native", "torch"] = "torch"


def native_available() -> bool:
    """Whether the C kernel is built and this CPU runs it (x86-64 with AVX2, F16C and FMA)."""
    return _fp16_topk is not None and _fp16_topk.available()


class Fp16Index:
    """Exact inner-product search over an (N, D) float16 gallery of unit vectors (cosine similarity)."""

    def __init__(self, embeddings: torch.Tensor, keys: list[str], meta: dict[str, str] | None = None) -> None:
        if embeddings.ndim != 2 or embeddings.shape[0] != len(keys):
            raise ValueError(f"embeddings {tuple(embeddings.shape)} do not match {len(keys)} keys")
        if len(set(keys)) != len(keys):
            raise ValueError("gallery keys must be unique")
        self.embeddings = embeddings.to(torch.float16).contiguous()
        self.keys = list(keys)
        self.meta = dict(meta or {})

    @classmethod
    def build(cls, embeddings: torch.Tensor, keys: list[str], meta: dict[str, str] | None = None) -> Fp16Index:
        """Normalise float embeddings (N, D) to unit length and store them as float16."""
        unit = torch.nn.functional.normalize(embeddings.float(), dim=-1)
        return cls(unit.to(torch.float16), keys, meta)

    @property
    def dim(self) -> int:
        return int(self.embeddings.shape[1])

    def __len__(self) -> int:
        return int(self.embeddings.shape[0])

    def save(self, out: str | os.PathLike[str]) -> Path:
        """Write ``index.safetensors`` (tensor ``embeddings``, metadata) and ``keys.json`` under ``out``."""
        path = Path(out)
        path.mkdir(parents=True, exist_ok=True)
        meta = {**self.meta, "dim": str(self.dim), "count": str(len(self)), "dtype": "float16", "metric": "cosine"}
        tmp = path / f".{INDEX_FILE}.tmp"
        save_file({"embeddings": self.embeddings}, str(tmp), metadata=meta)
        (path / f".{KEYS_FILE}.tmp").write_text(json.dumps(self.keys))
        os.replace(path / f".{KEYS_FILE}.tmp", path / KEYS_FILE)
        os.replace(tmp, path / INDEX_FILE)
        return path

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Fp16Index:
        from safetensors import safe_open

        path = Path(path)
        with safe_open(str(path / INDEX_FILE), framework="pt") as f:
            meta = dict(f.metadata() or {})
        tensors = load_file(str(path / INDEX_FILE))
        keys = json.loads((path / KEYS_FILE).read_text())
        return cls(tensors["embeddings"], keys, {k: v for k, v in meta.items() if k not in {"dim", "count"}})

    @torch.no_grad()
    def search(self, queries: torch.Tensor, k: int = 10, chunk: int = 1024, backend: Backend = "auto") -> SearchResult:
        """Top-``k`` gallery rows by cosine similarity for each query of (Q, D) or (D,); queries are normalised.
        ``scores`` are fp32 inner products of the fp16 rows with the fp32 query, exact up to fp32 rounding.
        ``backend``: "native" is the C kernel (one streaming pass on ``torch.get_num_threads()`` threads), "torch" the
        portable path (``chunk`` rows per GEMM for batches); "auto" takes the kernel where ``native_available()``."""
        q = torch.nn.functional.normalize(queries.float().reshape(-1, self.dim), dim=-1)
        k = min(k, len(self))
        if backend == "auto":
            backend = "native" if native_available() else "torch"
        if backend == "native":
            scores, idx = self._search_native(q, k)
        elif backend != "torch":
            raise ValueError(f"backend must be auto, native or torch, got {backend!r}")
        elif q.shape[0] == 1:
            scores, idx = self._search_one(q[0], k)
            scores, idx = scores[None], idx[None]
        else:
            scores, idx = self._search_many(q, k, chunk)
        keys = [[self.keys[i] for i in row.tolist()] for row in idx]
        return SearchResult(scores=scores, indices=idx, keys=keys, backend=backend)

    def _search_native(self, q: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
        # The kernel scores each row once (fp16 widened exactly, fp32 multiply-adds) and keeps a heap of k per
        # query; batches widen blocks of rows once and score them against tiles of queries in registers.
        if not native_available():
            raise RuntimeError(
                "the native fp16 kernel is not built or this CPU lacks AVX2/F16C/FMA; use backend='torch'"
            )
        scores, idx = torch.empty(q.shape[0], k), torch.empty(q.shape[0], k, dtype=torch.long)
        threads = torch.get_num_threads()
        _fp16_topk.topk(self.embeddings.numpy(), q.contiguous().numpy(), k, scores.numpy(), idx.numpy(), threads)
        return scores, idx

    def _search_one(self, q: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
        # One streaming fp16 matrix-vector pass (torch's fp16 GEMV, fp32 accumulation, fp16 output), then an exact
        # fp32 rescoring of every row whose rounded score is within the margin of the k-th best.
        approx = (self.embeddings @ q.to(torch.float16)).float()
        kth = float(torch.topk(approx, k, sorted=False).values.min())
        cand = torch.nonzero(approx >= kth - _RESCORE_MARGIN).flatten()
        exact = self.embeddings[cand].float() @ q
        top = torch.topk(exact, k)
        return top.values, cand[top.indices]

    def _search_many(self, q: torch.Tensor, k: int, chunk: int) -> tuple[torch.Tensor, torch.Tensor]:
        # Chunks of ``chunk`` rows are widened to fp32 into one reused buffer that stays in cache, multiplied in one
        # fp32 GEMM per chunk; each chunk's top-k lands in a (Q, chunks, k) table that one final top-k merges.
        nq, n = q.shape[0], len(self)
        chunk = max(chunk, k)
        starts = range(0, n, chunk)
        buf, sbuf = torch.empty(min(chunk, n), self.dim), torch.empty(nq, min(chunk, n))
        vals = torch.full((nq, len(starts), k), float("-inf"))
        idx = torch.zeros((nq, len(starts), k), dtype=torch.long)
        for c, start in enumerate(starts):
            block = self.embeddings[start : start + chunk]
            rows = block.shape[0]
            buf[:rows].copy_(block)
            scores = torch.mm(q, buf[:rows].T, out=sbuf[:, :rows]) if rows == sbuf.shape[1] else q @ buf[:rows].T
            kk = min(k, rows)
            torch.topk(scores, kk, dim=1, out=(vals[:, c, :kk], idx[:, c, :kk]))
            idx[:, c, :kk] += start
        top = torch.topk(vals.reshape(nq, -1), k, dim=1)
        return top.values, torch.gather(idx.reshape(nq, -1), 1, top.indices)
