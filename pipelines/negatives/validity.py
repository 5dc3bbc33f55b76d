"""Validity rules for a hard negative, each a pure function of strings and spans."""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable

from pipelines.negatives.inflect import indefinite_article, is_plural_noun, pluralize
from pipelines.negatives.vocab import Category, normalise

_ARTICLE_BEFORE = re.compile(r"(?:^|[^\w'])(an?)\s+$", re.IGNORECASE)
_WORD_AT = re.compile(r"[\w'-]+")


def differs_only_in(positive: str, negative: str, span: tuple[int, int], replacement: str) -> bool:
    """`negative` is `positive` with `positive[span]` replaced by `replacement`, and nothing else changed."""
    start, end = span
    if not 0 <= start <= end <= len(positive):
        return False
    return negative == positive[:start] + replacement + positive[end:] and replacement != positive[start:end]


def article_agrees(text: str, word_start: int) -> bool:
    """An "a"/"an" right before the word at `word_start` has the right form (true when there is no article)."""
    found = _ARTICLE_BEFORE.search(text[:word_start])
    word = _WORD_AT.match(text, word_start)
    if found is None or word is None:
        return True
    return found.group(1).lower() == indefinite_article(word.group(0))


def count_agrees(count: int, noun: str) -> bool:
    """A noun's form fits its count: singular for one, plural above one (invariant nouns fit both)."""
    plural = is_plural_noun(noun)
    if count == 1:
        return not plural
    return plural or pluralize(noun) == noun


@functools.lru_cache(maxsize=1 << 14)
def normalised_text(text: str) -> str:
    """A caption reduced for duplicate detection: case folded, spaces collapsed, end punctuation dropped."""
    return " ".join(text.casefold().split()).rstrip(".!?;, ")  # split(): runs of whitespace, as re's \s+


def is_novel(negative: str, positive: str, others: Iterable[str] = ()) -> bool:
    """The negative repeats neither the positive nor any earlier negative (after normalisation)."""
    found = normalised_text(negative)
    return found != normalised_text(positive) and all(found != normalised_text(o) for o in others)


def stays_in_category(original: str, replacement: str, category: Category) -> bool:
    """Both the replaced and the replacing word belong to `category`."""
    return category.contains(original) and category.contains(replacement)


def not_synonym(original: str, replacement: str, category: Category) -> bool:
    """The replacement shares no synonym group with the original ("grey" never replaces "gray")."""
    return normalise(replacement) not in category.synonyms(original) and normalise(original) not in category.synonyms(
        replacement
    )
