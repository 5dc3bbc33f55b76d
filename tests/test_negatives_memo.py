"""The vocabulary's memo of derived answers: computed once per key, bounded, and never changing an answer."""

from __future__ import annotations

import pytest

from pipelines.negatives import NegativesConfig, generate_negatives_many
from pipelines.negatives.vocab import load_vocabulary

CAPTIONS = ["A red car parked next to a blue truck.", "A red car beside a white fence.", "Two small dogs on a bed."]


def test_remembered_computes_once_per_key_and_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    vocab = load_vocabulary()
    calls: list[str] = []
    monkeypatch.setattr("pipelines.negatives.vocab.MEMO_LIMIT", len(vocab._memo) + 2)
    assert vocab.remembered(("test", "a"), lambda: calls.append("a") or 1) == 1
    assert vocab.remembered(("test", "a"), lambda: calls.append("a") or 2) == 1
    assert vocab.remembered(("test", "b"), lambda: calls.append("b") or 3) == 3
    assert calls == ["a", "b"]
    vocab.remembered(("test", "c"), lambda: 4)  # the limit is reached: the memo starts over
    assert ("test", "a") not in vocab._memo and vocab._memo == {("test", "c"): 4}


def test_an_emptied_memo_gives_the_same_negatives() -> None:
    config = NegativesConfig()
    warm = generate_negatives_many(CAPTIONS, config)
    load_vocabulary()._memo.clear()
    assert generate_negatives_many(CAPTIONS, config) == warm
    assert any(warm)
