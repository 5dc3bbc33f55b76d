"""Folded hash embeddings (pipelines/nlp_embed.py): the same tok2vec output up to float rounding, the same parses."""

from __future__ import annotations

import numpy as np
import pytest

from pipelines.nlp import load_nlp
from pipelines.nlp_embed import PRECOMPUTED, _tables, fold_embeddings

CAPTIONS = [
    "A man riding a red motorcycle down a dirt road.",
    "Two young girls in orange play with a ball near the wooden bench.",
    "A BLACK AND WHITE CAT ON A WOODEN BENCH",
    "A kitchen with stainless appliances and granite countertops.",
]


def _view(doc):
    return [(t.text, t.tag_, t.dep_, t.head.i) for t in doc]


def test_folded_embeddings_give_the_same_vectors_and_parses(stock_nlp) -> None:
    plain, folded = stock_nlp(), load_nlp()
    assert any(n.name == PRECOMPUTED for n in folded.get_pipe("tok2vec").model.walk())
    for got, want in zip(folded.pipe(CAPTIONS), plain.pipe(CAPTIONS), strict=True):
        np.testing.assert_allclose(got.tensor, want.tensor, atol=1e-4)
        assert _view(got) == _view(want)


def test_the_comparison_sees_a_wrong_table(monkeypatch: pytest.MonkeyPatch, stock_nlp) -> None:
    """The check can fail: tables folded with each column's weights shifted give other vectors."""

    def shifted(concat, maxout):
        found = _tables(concat, maxout)
        return [(layer, column, rows, table[:, ::-1].copy()) for layer, column, rows, table in found]

    monkeypatch.setattr("pipelines.nlp_embed._tables", shifted)
    broken, plain = fold_embeddings(stock_nlp()), stock_nlp()
    got, want = broken(CAPTIONS[0]), plain(CAPTIONS[0])
    assert not np.allclose(got.tensor, want.tensor, atol=1e-4)
