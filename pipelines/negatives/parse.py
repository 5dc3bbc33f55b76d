"""Caption parsing with spaCy into frozen, spaCy-free values: words, noun phrases and their modifiers."""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from pipelines.nlp import load_nlp

_MODIFIER_DEPS = {"amod", "compound", "nmod", "advmod", "npadvmod", "conj", "cc", "punct", "poss", "case"}


@dataclass(frozen=True)
class Word:
    """One token: `start`/`end` are character offsets into the caption; `head` is the index of its syntactic head."""

    index: int
    text: str
    start: int
    end: int
    pos: str
    tag: str
    dep: str
    head: int

    @property
    def lower(self) -> str:
        return self.text.lower()

    @property
    def is_plural(self) -> bool:
        return self.tag in {"NNS", "NNPS"}


@dataclass(frozen=True)
class NounPhrase:
    """A noun chunk `caption[start:end]`: its head noun, determiner, adjective/compound modifiers and numerals."""

    text: str
    start: int
    end: int
    head: Word
    determiner: Word | None
    modifiers: tuple[Word, ...]
    numerals: tuple[Word, ...]


@dataclass(frozen=True)
class ParsedCaption:
    """A caption with its words (in order) and noun phrases; every span indexes `text`.

    `case_normalised` is true when a Title Case or ALL CAPS caption was lower-cased for the tagger.
    """

    text: str
    words: tuple[Word, ...]
    phrases: tuple[NounPhrase, ...]
    case_normalised: bool = False

    def phrase_of(self, word: Word) -> NounPhrase | None:
        """The noun phrase whose span contains `word`, if any."""
        for phrase in self.phrases:
            if phrase.start <= word.start and word.end <= phrase.end:
                return phrase
        return None

    def children(self, word: Word) -> tuple[Word, ...]:
        return tuple(w for w in self.words if w.head == word.index and w.index != word.index)


def _normalise_case(caption: str) -> str:
    """A Title Case or ALL CAPS caption lower-cased (same length) so that the tagger does not see proper nouns."""
    words = [w for w in caption.split() if w[:1].isalpha()]
    if len(words) < 3:
        return caption
    capitalised = sum(w[:1].isupper() for w in words[1:]) / (len(words) - 1)
    if capitalised < 0.6:
        return caption
    lowered = caption[:1] + caption[1:].lower()
    return lowered if len(lowered) == len(caption) else caption


def _word(token: Any, caption: str) -> Word:
    start, end = token.idx, token.idx + len(token.text)
    return Word(token.i, caption[start:end], start, end, token.pos_, token.tag_, token.dep_, token.head.i)


def _phrase(chunk: Any, words: Sequence[Word], caption: str) -> NounPhrase:
    inner = [words[t.i] for t in chunk if t.i != chunk.root.i]
    determiner = next((w for w in inner if w.dep in {"det", "predet"} and w.pos == "DET"), None)
    numerals = tuple(w for w in inner if w.pos == "NUM" or w.dep in {"nummod", "quantmod"})
    modifiers = tuple(
        w
        for w in inner
        if w not in numerals
        and w is not determiner
        and w.dep in _MODIFIER_DEPS
        and w.pos not in {"PUNCT", "CCONJ", "PART"}
    )
    start, end = chunk.start_char, chunk.end_char
    return NounPhrase(caption[start:end], start, end, words[chunk.root.i], determiner, modifiers, numerals)


def _from_doc(doc: Any, caption: str) -> ParsedCaption:
    words = tuple(_word(t, caption) for t in doc)
    phrases = tuple(_phrase(chunk, words, caption) for chunk in doc.noun_chunks)
    return ParsedCaption(caption, words, phrases, doc.text != caption)


@functools.lru_cache(maxsize=4096)
def parse_caption(caption: str) -> ParsedCaption:
    """Parse one caption; cached, so asking twice about one caption parses once."""
    return _from_doc(load_nlp()(_normalise_case(caption)), caption)


def parse_captions(captions: Iterable[str], batch_size: int = 256) -> list[ParsedCaption]:
    """Parse many captions through `nlp.pipe` (about twice the throughput of one call per caption)."""
    texts = list(captions)
    docs = load_nlp().pipe((_normalise_case(c) for c in texts), batch_size=batch_size)
    return [_from_doc(doc, caption) for doc, caption in zip(docs, texts, strict=True)]
