"""Caption parsing with spaCy into frozen, spaCy-free values: words, noun phrases and their modifiers."""

from __future__ import annotations

import bisect
import functools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from pipelines.negatives.structure import derive
from pipelines.nlp import load_nlp

Parse = Literal["pos", "dep"]
"""Where the structure comes from: "pos" derives it from POS tags by rules (pipelines/negatives/structure.py,
spaCy's parser not run), "dep" reads spaCy's dependency parse and its noun chunks."""
PARSES: tuple[Parse, ...] = ("pos", "dep")
DEFAULT_PARSE: Parse = "pos"

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
    lower: str = field(init=False, repr=False, compare=False)  # text.lower(), read many times per word

    def __post_init__(self) -> None:
        object.__setattr__(self, "lower", self.text.lower())

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
        if self._owns(word):
            return self._phrase_at[word.index]
        return next((p for p in self.phrases if p.start <= word.start and word.end <= p.end), None)

    def children(self, word: Word) -> tuple[Word, ...]:
        if self._owns(word):
            return self._children[word.index]
        return tuple(w for w in self.words if w.head == word.index and w.index != word.index)

    def index_at(self, start: int) -> int | None:
        """The index of the word that starts at character `start`, if any."""
        return self._starts.get(start)

    @functools.cached_property
    def _starts(self) -> dict[int, int]:
        found: dict[int, int] = {}
        for w in self.words:
            found.setdefault(w.start, w.index)  # the first word at a position, as a scan in order finds
        return found

    def _owns(self, word: Word) -> bool:
        return word.index < len(self.words) and self.words[word.index] is word

    @functools.cached_property
    def _phrase_at(self) -> tuple[NounPhrase | None, ...]:
        """Per word index, the first phrase whose span contains it (asked about every word, many times); each phrase
        visits only the words from its start (the words are in text order)."""
        found: list[NounPhrase | None] = [None] * len(self.words)
        starts = [w.start for w in self.words]
        for p in self.phrases:
            for i in range(bisect.bisect_left(starts, p.start), len(self.words)):
                w = self.words[i]
                if w.start >= p.end:
                    break
                if found[i] is None and w.end <= p.end:
                    found[i] = p
        return tuple(found)

    @functools.cached_property
    def _children(self) -> tuple[tuple[Word, ...], ...]:
        found: list[list[Word]] = [[] for _ in self.words]
        for w in self.words:
            if w.head != w.index:
                found[w.head].append(w)
        return tuple(map(tuple, found))


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


_NP_DEPS = frozenset(("oprd", "nsubj", "dobj", "nsubjpass", "pcomp", "pobj", "dative", "appos", "attr", "ROOT"))
_NP_POS = frozenset(("NOUN", "PROPN", "PRON"))


@functools.cache
def _name(strings: Any, key: int) -> str:
    return strings[key]


def _words(doc: Any, caption: str) -> tuple[Word, ...]:
    """The doc's tokens read through one `to_array` (token objects cost more than the rest of the parse)."""
    from spacy.attrs import DEP, HEAD, IDX, LENGTH, POS, TAG

    rows = doc.to_array([IDX, LENGTH, POS, TAG, DEP]).tolist()
    heads = doc.to_array([HEAD]).astype("int64").tolist()  # relative offsets, stored as uint64
    strings = doc.vocab.strings
    return tuple(
        _word(i, caption[s : s + n], s, s + n, _name(strings, p), _name(strings, t), _name(strings, d), i + h)
        for i, ((s, n, p, t, d), h) in enumerate(zip(rows, heads, strict=True))
    )


def _word(index: int, text: str, start: int, end: int, pos: str, tag: str, dep: str, head: int) -> Word:
    """`Word(index, text, ...)` without the frozen dataclass's per-field `object.__setattr__` (a parse makes one
    per token); the same value (tests/test_negatives_chunks.py)."""
    word = object.__new__(Word)
    word.__dict__.update(
        index=index, text=text, start=start, end=end, pos=pos, tag=tag, dep=dep, head=head, lower=text.lower()
    )
    return word


def _left_edges(words: Sequence[Word]) -> list[int]:
    """The first token of each token's subtree (spaCy's `left_edge`)."""
    edges = list(range(len(words)))
    for word in words:
        node, seen = word, 0
        while node.head != node.index and seen < len(words):
            node, seen = words[node.head], seen + 1
            edges[node.index] = min(edges[node.index], word.index)
    return edges


def _depth(words: Sequence[Word], index: int) -> int:
    n = 0
    while words[index].head != index:
        index, n = words[index].head, n + 1
    return n


def _root(words: Sequence[Word], start: int, end: int) -> int:
    """spaCy's `Span.root` of `words[start:end]`: a sentence root inside, else the word nearest the root."""
    inside = range(start, end)
    sentence_root = next((i for i in inside if words[i].head == i), None)
    if sentence_root is not None:
        return sentence_root
    outside = [i for i in inside if not start <= words[i].head < end]
    return min(outside, key=lambda i: _depth(words, i)) if outside else start


def noun_chunks(words: Sequence[Word]) -> list[tuple[int, int, int]]:
    """spaCy's English noun chunks (`spacy/lang/en/syntax_iterators.py`) on `Word`s: (start, end, root) token
    indices (tests/test_negatives_parse.py compares them with spaCy's own)."""
    edges = _left_edges(words)
    found: list[tuple[int, int, int]] = []
    prev_end = -1
    for word in words:
        if word.pos not in _NP_POS or edges[word.index] <= prev_end:
            continue
        head = word
        if word.dep == "conj":
            while head.dep == "conj" and head.head < head.index:
                head = words[head.head]
        if word.dep in _NP_DEPS or (word.dep == "conj" and head.dep in _NP_DEPS):
            prev_end = word.index
            found.append((edges[word.index], word.index + 1, _root(words, edges[word.index], word.index + 1)))
    return found


def _phrase(chunk: tuple[int, int, int], words: Sequence[Word], caption: str) -> NounPhrase:
    first, end, root = chunk
    inner = [w for w in words[first:end] if w.index != root]
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
    start, stop = words[first].start, words[end - 1].end
    return NounPhrase(caption[start:stop], start, stop, words[root], determiner, modifiers, numerals)


def _from_doc(doc: Any, caption: str, case_normalised: bool) -> ParsedCaption:
    words = _words(doc, caption)
    phrases = tuple(_phrase(chunk, words, caption) for chunk in noun_chunks(words))
    return ParsedCaption(caption, words, phrases, case_normalised)


class _Names(dict):
    """A string store's names by hash, looked up in the store once each (a dict read after that)."""

    def __init__(self, strings: Any) -> None:
        super().__init__()
        self.strings = strings

    def __missing__(self, key: int) -> str:
        value = self[key] = self.strings[key]
        return value


@functools.cache
def _names(strings: Any) -> _Names:
    return _Names(strings)


@functools.cache
def _tag_attrs() -> list[int]:
    from spacy.attrs import IDX, LENGTH, POS, TAG

    return [IDX, LENGTH, POS, TAG]


def _from_tags(doc: Any, caption: str, case_normalised: bool) -> ParsedCaption:
    """The "pos" structure: labels, heads and chunks derived from the tags (`structure.derive`)."""
    rows = doc.to_array(_tag_attrs()).tolist()
    if not rows:
        return ParsedCaption(caption, (), (), case_normalised)
    starts, lengths, pos_ids, tag_ids = zip(*rows, strict=True)
    names = _names(doc.vocab.strings).__getitem__
    texts = [caption[s : s + n] for s, n in zip(starts, lengths, strict=True)]
    lower = [t.lower() for t in texts]
    pos, tags = list(map(names, pos_ids)), list(map(names, tag_ids))
    found = derive(pos, tags, lower)
    deps, heads = found.deps, found.heads
    new = object.__new__
    words = []
    for i, text in enumerate(texts):
        word = new(Word)
        start = starts[i]
        word.__dict__.update(
            index=i,
            text=text,
            start=start,
            end=start + lengths[i],
            pos=pos[i],
            tag=tags[i],
            dep=deps[i],
            head=heads[i],
            lower=lower[i],
        )
        words.append(word)
    words_ = tuple(words)
    phrases = tuple(_phrase(chunk, words_, caption) for chunk in found.chunks)
    return ParsedCaption(caption, words_, phrases, case_normalised)


_READERS = {"pos": _from_tags, "dep": _from_doc}
_SKIPPED: dict[str, list[str]] = {"pos": ["parser"], "dep": []}  # components not run for each structure


def check_parse(parse: str) -> None:
    """ValueError unless `parse` names a structure (`PARSES`): the one check, for the config and the parse calls."""
    if parse not in _READERS:
        raise ValueError(f"parse must be one of {PARSES}, got {parse!r}")


@functools.lru_cache(maxsize=4096)
def parse_caption(caption: str, parse: Parse = DEFAULT_PARSE) -> ParsedCaption:
    """Parse one caption; cached, so asking twice about one caption parses once."""
    check_parse(parse)
    text = _normalise_case(caption)
    return _READERS[parse](load_nlp()(text, disable=_SKIPPED[parse]), caption, text != caption)


def parse_captions(
    captions: Iterable[str], batch_size: int = 1024, parse: Parse = DEFAULT_PARSE
) -> list[ParsedCaption]:
    """Parse many captions through `nlp.pipe` (about twice the throughput of one call per caption)."""
    check_parse(parse)
    texts = list(captions)
    normalised = [_normalise_case(c) for c in texts]
    docs = load_nlp().pipe(normalised, batch_size=batch_size, disable=_SKIPPED[parse])
    read = _READERS[parse]
    return [read(d, c, n != c) for d, c, n in zip(docs, texts, normalised, strict=True)]
