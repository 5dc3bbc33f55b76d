"""Negative records, the typed config, validity checking of candidates and the seeded choice of n negatives."""

from __future__ import annotations

import hashlib
import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import get_args

from pipelines.negatives.attributes import AttributeWord, find_attributes
from pipelines.negatives.generate import GENERATORS, KINDS, Candidate, Edit, Kind, Pool, is_open
from pipelines.negatives.open_attributes import all_attributes
from pipelines.negatives.open_vocab import in_category, synonymous
from pipelines.negatives.parse import DEFAULT_PARSE, Parse, ParsedCaption, check_parse, parse_caption, parse_captions
from pipelines.negatives.validity import (
    article_agrees,
    count_agrees,
    differs_only_in,
    is_novel,
    not_synonym,
    stays_in_category,
)
from pipelines.negatives.vocab import Vocabulary, load_vocabulary

NO_ATTRIBUTE_TO_SWAP = "no_attribute_to_swap"
DEFAULT_KINDS: tuple[Kind, ...] = ("replace-att", "swap-att", "replace-count")


@dataclass(frozen=True)
class NegativesConfig:
    """How many negatives per caption (`n`, all kinds together), which kinds, the seed, and whether attribute words
    outside the curated vocabulary are found and replaced through WordNet (`open_vocabulary`); `parse` is where
    the caption's structure comes from (pipelines/negatives/parse.py: "pos" rules on the tags, "dep" spaCy's parser)."""

    n: int = 3
    kinds: tuple[Kind, ...] = field(default=DEFAULT_KINDS)
    seed: int = 0
    open_vocabulary: bool = True
    parse: Parse = DEFAULT_PARSE

    def __post_init__(self) -> None:
        object.__setattr__(self, "kinds", tuple(self.kinds))
        if self.n < 0:
            raise ValueError(f"n must be >= 0, got {self.n}")
        unknown = [k for k in self.kinds if k not in get_args(Kind)]
        if unknown or not self.kinds or len(set(self.kinds)) != len(self.kinds):
            raise ValueError(f"kinds must be distinct names from {KINDS}, got {self.kinds}")
        check_parse(self.parse)


@dataclass(frozen=True)
class Negative:
    """A hard negative: `text == positive[:span[0]] + replacement + positive[span[1]:]`, `original == positive[span]`.

    The span covers every edit (for swap-att both attributes and what lies between; articles and agreement
    fixes included), in characters of the positive caption.
    """

    text: str
    kind: str
    span: tuple[int, int]
    original: str
    replacement: str


def stable_seed(seed: int, caption: str) -> int:
    """A 64-bit seed from (seed, caption) that is the same in every process (unlike `hash`)."""
    digest = hashlib.sha256(f"{seed}\x1f{caption}".encode()).digest()
    return int.from_bytes(digest[:8], "big")


def apply_edits(text: str, edits: Sequence[Edit]) -> tuple[str, list[int]]:
    """`text` with the (sorted, non-overlapping) edits applied, and where each edit starts in the result."""
    parts: list[str] = []
    starts: list[int] = []
    cursor, shift = 0, 0
    for edit in edits:
        parts += [text[cursor : edit.start], edit.new]
        starts.append(edit.start + shift)
        shift += len(edit.new) - (edit.end - edit.start)
        cursor = edit.end
    return "".join(parts) + text[cursor:], starts


_QUOTES = ('"', "\u201c", "\u201d")


def untouchable(text: str, start: int, end: int) -> str | None:
    """Why ``text[start:end]`` must not be edited: it is inside quotation marks (the words on a sign are what the
    image shows, not attributes of it), or only part of a word (``region-based``: the parse splits at hyphens)."""
    quoted = '"' in text or "\u201c" in text or "\u201d" in text
    if quoted and sum(text.count(q, 0, start) for q in _QUOTES) % 2:
        return "inside_quotes"
    before = text[start - 1] if start > 0 else " "
    after = text[end] if end < len(text) else " "
    if before == "-" or after == "-" or before.isalnum() or after.isalnum():
        return "part_of_word"
    return None


def check_candidate(positive: str, candidate: Candidate, others: Iterable[str], vocab: Vocabulary) -> str | None:
    """The first validity rule a candidate breaks, by name, or None when it is a valid negative."""
    return _verdict(positive, candidate, others, vocab)[0]


def _verdict(
    positive: str, candidate: Candidate, others: Iterable[str], vocab: Vocabulary
) -> tuple[str | None, str | None]:
    """`check_candidate`'s answer, and the negative's text once the edits were applied (None before that)."""
    edits = candidate.edits
    if len(edits) > 1 and any(a.end > b.start for a, b in zip(edits, edits[1:], strict=False)):
        return "overlapping_edits", None
    for edit in edits:
        reason = untouchable(positive, edit.start, edit.end) if edit.start < edit.end else None
        if reason is not None:
            return reason, None
    text, starts = apply_edits(positive, edits)
    if not is_novel(text, positive, others):
        return "duplicate", text
    for edit, start in zip(edits, starts, strict=True):
        reason = _attribute_reason(positive, candidate.kind, edit, vocab) if edit.role == "attribute" else None
        if reason is not None:
            return reason, text
        if edit.role != "article" and not article_agrees(text, start):
            return "article_disagrees", text
        if edit.role == "noun" and edit.count is not None and not count_agrees(edit.count, edit.new):
            return "count_disagrees", text
    return None, text


def _attribute_reason(positive: str, kind: Kind, edit: Edit, vocab: Vocabulary) -> str | None:
    """Why an attribute edit is invalid: it leaves its category (a swap may cross categories when one side is
    open-vocabulary), or the new word is a synonym of the old one (by the vocabulary and by WordNet)."""
    if edit.category is None:
        return None
    original, new = edit.old_key or positive[edit.start : edit.end], edit.new_key or edit.new
    if is_open(edit.category) or (kind == "swap-att" and not vocab.category(edit.category).contains(new)):
        if kind != "swap-att" and not in_category(new, edit.category):
            return "left_category"
        return "synonym" if synonymous(original, new) else None
    category = vocab.category(edit.category)
    if not stays_in_category(original, new, category):
        return "left_category"
    if not not_synonym(original, new, category) or synonymous(original, new):
        return "synonym"
    return None


def to_negative(positive: str, candidate: Candidate, text: str | None = None) -> Negative:
    """The `Negative` record of a checked candidate (`text`: its edits applied, when known); its span covers all of
    the candidate's edits."""
    text = text if text is not None else apply_edits(positive, candidate.edits)[0]
    start, end = candidate.edits[0].start, candidate.edits[-1].end
    replacement = text[start : end + len(text) - len(positive)]
    negative = Negative(text, candidate.kind, (start, end), positive[start:end], replacement)
    if not differs_only_in(positive, text, negative.span, replacement):
        raise AssertionError(f"edit bookkeeping broke on {positive!r}: {negative}")
    return negative


def _spread(order: Sequence[int], targets: Sequence[tuple[int, ...]]) -> list[int]:
    """Reorder the candidate indices `order` (stably) so that each edited target is used once before any is used
    twice: the k-th candidate of each target, in order, for k = 0, 1, ..."""
    if len(order) < 2 or len(set(targets)) in (1, len(order)):  # one target, or each once: the order stands
        return list(order)
    seen: dict[tuple[int, ...], int] = {}
    rank: list[int] = []
    for i in order:
        target = targets[i]
        rank.append(seen.get(target, 0))
        seen[target] = rank[-1] + 1
    return [order[j] for j in sorted(range(len(order)), key=rank.__getitem__)]  # sorted is stable


def negatives_for(parsed: ParsedCaption, config: NegativesConfig, vocab: Vocabulary | None = None) -> list[Negative]:
    """Up to `config.n` valid negatives, taking kinds in turn; deterministic for (config.seed, caption)."""
    vocab = vocab or load_vocabulary()
    rng = random.Random(stable_seed(config.seed, parsed.text))
    queues: list[tuple[Pool, list[int]]] = []  # each kind's pool and its candidates' indices, the next one last
    hits = all_attributes(parsed, vocab) if config.open_vocabulary else find_attributes(parsed, vocab)
    for kind in config.kinds:
        pool = GENERATORS[kind](parsed, vocab, hits)
        order = list(range(len(pool)))
        rng.shuffle(order)
        queues.append((pool, _spread(order, pool.targets)[::-1]))
    chosen: list[Negative] = []
    while len(chosen) < config.n and any(order for _, order in queues):
        for pool, order in queues:
            while order and len(chosen) < config.n:
                candidate = pool.build(order.pop())
                reason, text = _verdict(parsed.text, candidate, (n.text for n in chosen), vocab)
                if reason is None:
                    chosen.append(to_negative(parsed.text, candidate, text))
                    break
    return chosen


def generate_negatives(caption: str, config: NegativesConfig) -> list[Negative]:
    """Hard negatives for one caption; [] when nothing can be swapped (reason `NO_ATTRIBUTE_TO_SWAP`)."""
    if not caption.strip():
        return []
    return negatives_for(parse_caption(caption, config.parse), config)


def generate_negatives_many(captions: Sequence[str], config: NegativesConfig) -> list[list[Negative]]:
    """`generate_negatives` over many captions, parsing them in batches (faster than one at a time)."""
    return [
        negatives_for(parsed, config) if parsed.text.strip() else []
        for parsed in parse_captions(captions, parse=config.parse)
    ]


def attribute_words(caption: str) -> list[AttributeWord]:
    """The attribute words of a caption (counts excluded) that replace-att and swap-att work on."""
    return all_attributes(parse_caption(caption), load_vocabulary()) if caption.strip() else []
