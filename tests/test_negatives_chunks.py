"""The parse read through arrays (pipelines/negatives/parse.py) gives spaCy's own tokens, heads and noun chunks."""

from __future__ import annotations

from dataclasses import replace

from pipelines.negatives.parse import Word, _left_edges, _word, _words, noun_chunks
from pipelines.nlp import load_nlp

CAPTIONS = [
    "A man riding a red motorcycle down a dirt road.",
    "Two dogs and a cat sit on the old couch while a woman in orange reads.",
    "A kitchen with stainless appliances, granite countertops and a large window",
    "There is a dog that has been sitting on the red couch.",
    "A BLACK AND WHITE CAT ON A WOODEN BENCH",
    "people standing around  a table full of food . they are eating",
    "A box full of glazed donuts on the counter.",
    "What a chocolate doughnut! It's glazed and they're all gone.",
]


def _spacy_view(doc):
    tokens = [(t.idx, t.text, t.pos_, t.tag_, t.dep_, t.head.i, t.left_edge.i) for t in doc]
    return tokens, [(c.start, c.end, c.root.i) for c in doc.noun_chunks]


def _our_view(doc):
    words = _words(doc, doc.text)
    edges = _left_edges(words)
    tokens = [(w.start, w.text, w.pos, w.tag, w.dep, w.head, e) for w, e in zip(words, edges, strict=True)]
    return tokens, noun_chunks(words)


def test_words_and_noun_chunks_match_spacy() -> None:
    for doc in load_nlp().pipe(CAPTIONS):
        assert _our_view(doc) == _spacy_view(doc)


def test_the_comparison_sees_a_wrong_head() -> None:
    """The check can fail: one head moved changes the left edges and the chunks."""
    doc = load_nlp()(CAPTIONS[0])
    words = list(_words(doc, doc.text))
    road = next(w for w in words if w.text == "road")
    words[road.index - 1] = replace(words[road.index - 1], head=road.index - 1, dep="ROOT")  # "dirt" cut off
    assert noun_chunks(words) != _spacy_view(doc)[1]


def test_fast_word_is_the_dataclass_value() -> None:
    args = (3, "Red", 10, 13, "ADJ", "JJ", "amod", 4)
    fast, slow = _word(*args), Word(*args)
    assert fast == slow and hash(fast) == hash(slow) and fast.lower == slow.lower == "red"
    assert _word(3, "Red", 10, 13, "ADJ", "JJ", "amod", 5) != slow  # the comparison sees another head
