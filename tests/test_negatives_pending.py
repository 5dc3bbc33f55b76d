"""Candidate pools built lazily (replace-att, replace-count) and the linear `_spread`: the same candidates, targets
and order as eager ones."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from pipelines.negatives.attributes import find_counts
from pipelines.negatives.core import _spread
from pipelines.negatives.generate import Pool, _candidate, _count_edits, replace_att, replace_count
from pipelines.negatives.open_attributes import all_attributes
from pipelines.negatives.parse import parse_captions
from pipelines.negatives.vocab import load_vocabulary

CAPTIONS = [
    "A man in a red shirt holding a small black dog.",
    "an old wooden bench next to a tall green tree",
    "The goalkeeper in orange dives for the white ball.",
    "Two young girls eating glazed donuts on a dirt trail.",
    "A large brown horse and a tiny white pony in an open field.",
]
# counts whose change must also change the noun and the verb, or cannot ("his" agrees with one man)
COUNT_CAPTIONS = [
    "A dog is running on the beach.",
    "Two cats are sleeping on a couch.",
    "A man is holding his phone.",
    "There is a bird on the fence.",
    "Three people's bags sit on one bench.",
    "A woman and two children walk a dog.",
]


def _pools(generate, captions: list[str]) -> list[Pool]:
    vocab = load_vocabulary()
    return [generate(parsed, vocab, all_attributes(parsed, vocab)) for parsed in parse_captions(captions)]


@pytest.mark.parametrize(("generate", "captions"), [(replace_att, CAPTIONS), (replace_count, COUNT_CAPTIONS)])
def test_a_pool_target_is_its_built_candidate_target(generate, captions) -> None:
    pools = _pools(generate, captions)
    assert sum(len(p) for p in pools) > 10
    for pool in pools:
        for i, target in enumerate(pool.targets):
            built = pool.build(i)
            assert built.kind == pool.kind
            assert built.target == target
            assert built.edits


def test_the_lazy_count_pool_is_the_eager_one() -> None:
    """`_count_possible` decides which counts make the pool without building their edits: the pool holds exactly the
    counts whose `_count_edits` is not None, in the same order (the agreement cases above included)."""
    vocab = load_vocabulary()
    for parsed in parse_captions(COUNT_CAPTIONS):
        pool = replace_count(parsed, vocab, [])
        eager = []
        for hit in find_counts(parsed, vocab):
            for value in (hit.value + 1, hit.value - 1, hit.value + 2):
                if value < 1 or (hit.is_article and value == 1):
                    continue
                edits = _count_edits(parsed, hit, value, vocab)
                if edits is not None:
                    eager.append(_candidate("replace-count", edits))
        assert [pool.build(i) for i in range(len(pool))] == eager, parsed.text
    assert any(
        e is None
        for e in [
            _count_edits(p, h, 2, vocab) for p in parse_captions(COUNT_CAPTIONS[2:3]) for h in find_counts(p, vocab)
        ]
    )


def test_the_target_check_sees_a_wrong_target() -> None:
    """The comparison above can fail: a pool whose targets are off by one differs from what it builds."""
    pool = next(p for p in _pools(replace_att, CAPTIONS) if len(p))
    broken = Pool(pool.kind, [(t[0] + 1,) for t in pool.targets], pool.build)
    assert broken.build(0).target != broken.targets[0]


def _spread_by_sorting(order: list[int], targets: list[tuple[int, ...]]) -> list[int]:
    """The earlier definition: sort by (how many earlier candidates share the target, position)."""
    seen: Counter[tuple[int, ...]] = Counter()
    ranked = []
    for position, i in enumerate(order):
        ranked.append((seen[targets[i]], position, i))
        seen[targets[i]] += 1
    return [i for _, _, i in sorted(ranked, key=lambda r: r[:2])]


def test_spread_orders_as_the_sorting_definition() -> None:
    rng = random.Random(0)
    for _ in range(300):
        targets = [(rng.randrange(5),) for _ in range(rng.randrange(12))]
        order = list(range(len(targets)))
        rng.shuffle(order)
        assert _spread(order, targets) == _spread_by_sorting(order, targets)
    assert [t for t in _spread([0, 1, 2], [(1,), (1,), (2,)])] == [0, 2, 1]
