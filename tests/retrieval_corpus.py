"""A tiny retrieval corpus built the project's way, once per test session: shapes -> retrieval_negatives, and a
general split for replay. Shared by the retrieval test files through the session's base temp directory."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from pipelines.sources.shapes import ShapesConfig, write_shapes_source
from tests.conftest import build


@dataclass(frozen=True)
class Corpus:
    negatives: Path  # retrieval_negatives shards (jpg, txt, json with negatives)
    general: Path  # the shapes general split (jpg, txt, json without negatives): replay data


def retrieval_corpus(tmp_path_factory: pytest.TempPathFactory) -> Corpus:
    root = tmp_path_factory.getbasetemp() / "retrieval_corpus"
    corpus = Corpus(root / "out" / "retrieval_negatives", root / "general")
    if not (corpus.negatives / "sizes.json").exists():
        write_shapes_source(str(root / "shapes"), ShapesConfig(n=32, seed=0, shards=2))
        write_shapes_source(str(corpus.general), ShapesConfig(n=16, seed=0, shards=1, split="general"))
        report = build("retrieval_negatives", root / "shapes", root / "out", n=3, seed=0)
        assert report["counts"] == {"ok": 32, "rejected": 0, "failed": 0}
    return corpus
