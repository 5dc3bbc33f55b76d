"""The compiled attribute ruler of pipelines.nlp (PosRules) gives the same POS, tags, heads and noun chunks as spaCy's full one."""

from __future__ import annotations

from pipelines.nlp import TAG_POS, load_nlp

CAPTIONS = [
    "There is a dog that has been sitting on the red couch.",
    "Two young girls in orange are gonna play with a ball.",
    "A man does his best while the women were dancing  near  a wooden table.",
    "What a chocolate doughnut! It's glazed and they're all gone.",
    "A BLACK AND WHITE CAT ON A WOODEN BENCH",
    "the goalkeeper in orange dives for the ball , which is white",
    "did you see the dirt trail ? I have had that one .",
]


def _view(doc):
    return [(t.text, t.pos_, t.tag_, t.dep_, t.head.i) for t in doc], [c.text for c in doc.noun_chunks]


def test_fast_pos_matches_the_full_attribute_ruler(stock_nlp):
    full, fast = stock_nlp(), load_nlp()
    assert TAG_POS in fast.pipe_names
    for got, want in zip(fast.pipe(CAPTIONS), full.pipe(CAPTIONS), strict=True):
        assert _view(got) == _view(want)


def test_the_check_sees_a_wrong_pos(stock_nlp):
    """The comparison can fail: the fast pipeline without its tag map leaves tag-only POS unset."""
    full, fast = stock_nlp(), load_nlp()
    with fast.select_pipes(disable=[TAG_POS]):
        doc = fast("A dog on a red couch.")
    assert _view(doc) != _view(full("A dog on a red couch."))
