"""An fp16 brute-force gallery index: L2-normalised embeddings stored as float16 in safetensors, exact top-k search."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

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
    def search(self, queries: torch.Tensor, k: int = 10, chunk: int = 2048) -> SearchResult:
        """Top-``k`` gallery rows by cosine similarity for each query of (Q, D) or (D,); queries are normalised."""
        q = torch.nn.functional.normalize(queries.float().reshape(-1, self.dim), dim=-1)
        k = min(k, len(self))
        if q.shape[0] == 1:
            scores, idx = self._search_one(q[0], k)
            scores, idx = scores[None], idx[None]
        else:
            scores, idx = self._search_many(q, k, chunk)
        keys = [[self.keys[i] for i in row.tolist()] for row in idx]
        return SearchResult(scores=scores, indices=idx, keys=keys)

    def _search_one(self, q: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
        # One streaming fp16 matrix-vector pass (fp32 accumulation), then an exact rescoring of the near-ties.
        approx = (self.embeddings @ q.to(torch.float16)).float()
        kth = torch.topk(approx, k).values[-1]
        cand = torch.nonzero(approx >= kth - _RESCORE_MARGIN).flatten()
        exact = self.embeddings[cand].float() @ q
        top = torch.topk(exact, k)
        return top.values, cand[top.indices]

    def _search_many(self, q: torch.Tensor, k: int, chunk: int) -> tuple[torch.Tensor, torch.Tensor]:
        # Chunks of the gallery are widened to fp32 in cache and multiplied in one GEMM per chunk; a running top-k.
        best_s = torch.full((q.shape[0], 0), float("-inf"))
        best_i = torch.zeros((q.shape[0], 0), dtype=torch.long)
        for start in range(0, len(self), chunk):
            block = self.embeddings[start : start + chunk].float()
            s = q @ block.T
            kk = min(k, s.shape[1])
            top = torch.topk(s, kk, dim=1)
            best_s = torch.cat([best_s, top.values], dim=1)
            best_i = torch.cat([best_i, top.indices + start], dim=1)
            merged = torch.topk(best_s, min(k, best_s.shape[1]), dim=1)
            best_s, best_i = merged.values, torch.gather(best_i, 1, merged.indices)
        return best_s, best_i
