"""The "pos" structure (noun chunks, heads and labels from the tags, no dependency parser) against spaCy's parse."""

from __future__ import annotations

import pytest

from pipelines.negatives.core import NegativesConfig
from pipelines.negatives.open_attributes import all_attributes
from pipelines.negatives.parse import parse_captions
from pipelines.negatives.vocab import load_vocabulary

CAPTIONS = [
    "the goalkeeper in orange dives for the ball",
    "two young girls sitting on a wooden bench",
    "a chocolate doughnut next to a cup of coffee",
    "glazed donuts on a white plate",
    "a black dog and a white cat on a green lawn",
    "a man in a red shirt riding a brown horse",
    "A red car and a bus that is blue.",
    "a large brown bear walking through a wooded area",
]


def _phrases(parsed):
    """Noun-headed phrases (spaCy also makes a chunk of a lone pronoun, which no rule reads)."""
    return [
        (p.text, p.head.text, tuple(m.text for m in p.modifiers), tuple(n.text for n in p.numerals))
        for p in parsed.phrases
        if p.head.pos in {"NOUN", "PROPN"}
    ]


def test_pos_structure_finds_the_parsers_noun_phrases() -> None:
    pos, dep = parse_captions(CAPTIONS, parse="pos"), parse_captions(CAPTIONS, parse="dep")
    assert [_phrases(p) for p in pos] == [_phrases(d) for d in dep]


def test_pos_structure_gives_the_parsers_attribute_heads() -> None:
    vocab = load_vocabulary()
    pos, dep = parse_captions(CAPTIONS, parse="pos"), parse_captions(CAPTIONS, parse="dep")
    heads = [[(a.text, a.head) for a in all_attributes(p, vocab)] for p in pos]
    assert heads == [[(a.text, a.head) for a in all_attributes(d, vocab)] for d in dep]
    assert ("blue", "bus") in heads[6]  # a relative clause's predicate describes its antecedent, not the subject


def test_a_predicate_noun_and_adjective_describe_the_subject() -> None:
    """ "The train is silver and brown": "silver" is tagged a noun (a predicate chunk), "brown" coordinates with it and
    describes the train, as in the parser's structure (without the rule, "brown" describes nothing)."""
    vocab = load_vocabulary()
    (pos,), (dep,) = (
        parse_captions(["The train is silver and brown."], parse="pos"),
        parse_captions(["The train is silver and brown."], parse="dep"),
    )
    heads = [(a.text, a.head) for a in all_attributes(pos, vocab)]
    assert heads == [(a.text, a.head) for a in all_attributes(dep, vocab)] == [("brown", "train")]
    (bike,) = parse_captions(["the bike is pink and blue"], parse="pos")  # two adjectives: the rule before it
    assert [(a.text, a.head) for a in all_attributes(bike, vocab)] == [("pink", "bike"), ("blue", "bike")]


def test_unknown_structure_is_refused() -> None:
    with pytest.raises(ValueError, match="parse must be one of"):
        NegativesConfig(parse="chunks")
