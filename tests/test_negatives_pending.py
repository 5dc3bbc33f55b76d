"""Lazily built replace-att candidates and the linear `_spread`: the same candidates, targets and order as eager ones."""

from __future__ import annotations

import random
from collections import Counter

from pipelines.negatives.core import _spread
from pipelines.negatives.generate import Pending, replace_att
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


def _pendings() -> list[Pending]:
    vocab = load_vocabulary()
    found: list[Pending] = []
    for parsed in parse_captions(CAPTIONS):
        found += replace_att(parsed, vocab, all_attributes(parsed, vocab))
    return found


def test_a_pending_target_is_its_resolved_target() -> None:
    pendings = _pendings()
    assert len(pendings) > 20
    for pending in pendings:
        resolved = pending.resolve()
        assert resolved.kind == pending.kind == "replace-att"
        assert resolved.target == pending.target
        assert resolved.edits[0].role in {"attribute", "article"}


def test_the_target_check_sees_a_wrong_target() -> None:
    """The comparison above can fail: a pending whose target is off by one differs from its resolution."""
    pending = _pendings()[0]
    broken = Pending(pending.kind, (pending.target[0] + 1,), pending.build)
    assert broken.resolve().target != broken.target


def _spread_by_sorting(items: list[Pending]) -> list[Pending]:
    """The earlier definition: sort by (how many earlier candidates share the target, position)."""
    seen: Counter[tuple[int, ...]] = Counter()
    ranked = []
    for position, item in enumerate(items):
        ranked.append((seen[item.target], position, item))
        seen[item.target] += 1
    return [c for _, _, c in sorted(ranked, key=lambda r: r[:2])]


def test_spread_orders_as_the_sorting_definition() -> None:
    rng = random.Random(0)
    for _ in range(200):
        items = [Pending("replace-att", (rng.randrange(5),), list) for _ in range(rng.randrange(12))]
        assert _spread(items) == _spread_by_sorting(items)
    items = [Pending("replace-att", (t,), list) for t in (1, 1, 2)]
    assert [p.target for p in _spread(items)] == [(1,), (2,), (1,)]
