"""Negatives never edit quoted text (the words on a sign) or part of a hyphenated word; the audit says so too."""

from __future__ import annotations

import pytest

from pipelines.checks.negatives import audit_record
from pipelines.negatives.core import NegativesConfig, generate_negatives, untouchable

SIGN = 'a red shop sign, with the words "OPEN 24 HOURS"'
HYPHEN = "a scanned page of printed text about region-based segmentation"


@pytest.mark.parametrize(
    ("text", "word", "reason"),
    [
        (SIGN, "OPEN", "inside_quotes"),
        (SIGN, "24", "inside_quotes"),
        (SIGN, "red", None),
        (HYPHEN, "based", "part_of_word"),
        (HYPHEN, "region", "part_of_word"),
        (HYPHEN, "printed", None),
        ("a \u201cgreen\u201d sign", "green", "inside_quotes"),
    ],
)
def test_untouchable_spans(text: str, word: str, reason: str | None) -> None:
    start = text.index(word)
    assert untouchable(text, start, start + len(word)) == reason


@pytest.mark.parametrize("caption", [SIGN, HYPHEN])
def test_generated_negatives_keep_quoted_and_hyphenated_words(caption: str) -> None:
    negatives = generate_negatives(caption, NegativesConfig(n=8))
    kept = '"OPEN 24 HOURS"' if caption == SIGN else "region-based"
    assert all(kept in n.text for n in negatives), [n.text for n in negatives]
    record = {
        "caption": caption,
        "negatives": [{"kind": n.kind, "text": n.text, "span": list(n.span)} for n in negatives],
    }
    assert audit_record(record) == []


def test_audit_fails_an_edit_of_quoted_text_and_allows_article_agreement_in_a_swap() -> None:
    record = {
        "caption": SIGN,
        "negatives": [
            {"kind": "replace-att", "text": 'a red shop sign, with the words "SHUT 24 HOURS"', "span": [33, 37]}
        ],
    }
    assert any("changes quoted text" in p for p in audit_record(record))
    swap = {
        "caption": "a red apple next to an orange bowl",
        "negatives": [{"kind": "swap-att", "text": "an orange apple next to a red bowl", "span": [0, 30]}],
    }
    assert audit_record(swap) == []
