"""Open-vocabulary attributes from WordNet: the category of a modifier word, its ranked replacements, synonym control."""

from __future__ import annotations

import functools
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

from pipelines.negatives.wordnet import load_wordnet

WordClass = Literal["adj", "noun"]
OPEN = "open:"
COLOUR = OPEN + "colour"
_COLOUR_ROOTS = ("chromatic_color.n.01", "achromatic_color.n.01")
# Noun modifiers that are attributes: materials (lexicographer file noun.substance, or an artifact under one of
# these), foods and colours. Others ("tennis racket", "stop sign") name a kind of object, not an attribute.
_MATERIAL_ARTIFACTS = ("building_material.n.01", "fabric.n.01", "material.n.01")
_NOUN_FILES = {"noun.substance": "material", "noun.food": "food"}
# Adjectives that quantify or refer rather than describe (no visual attribute to contradict).
_NOT_ATTRIBUTES = frozenset(
    ("other", "same", "different", "many", "few", "several", "such", "own", "various", "whole", "entire", "only")
    + ("main", "next", "last", "first", "second", "third", "certain", "particular", "real", "actual", "usual")
    + ("typical", "similar", "individual", "single", "double", "multiple", "numerous", "top", "bottom", "side")
)
_MAX_REPLACEMENTS = 4  # the most plausible few: antonyms and the most used words of the category


@dataclass(frozen=True)
class OpenAttribute:
    """A modifier word's category (prefixed "open:") and replacements of that category, most plausible first."""

    key: str
    category: str
    replacements: tuple[str, ...]


def _wn() -> Any:
    return load_wordnet()


def _single(name: str) -> bool:
    return name.isalpha() and name.islower()


def _count(lemma: Any) -> int:
    return int(lemma.count())


def _use(lemma: Any) -> int:
    """How common a word is, by WordNet alone: its sense-tagged corpus count, then its number of senses."""
    return 10 * _count(lemma) + len(_wn().synsets(lemma.name()))


def _ranking(lemma: Any) -> tuple[int, str, str]:
    """Most used first; ties by synset and word, so that the order of a set of lemmas (hashed by name, which varies
    per process) never decides the result."""
    return -_use(lemma), lemma.synset().name(), lemma.name()


def _lemma(word: str, pos: str) -> str | None:
    return _wn().morphy(word.lower(), pos)


@functools.cache
def colour_family(word: str, senses: int = 4) -> str | None:
    """The basic colour term ("red", "blue", "white", ...) whose WordNet hyponym `word` is (itself included),
    judged on its `senses` most frequent noun senses."""
    roots = {_wn().synset(r) for r in _COLOUR_ROOTS}
    for synset in _wn().synsets(word.lower().replace(" ", "_"), "n")[:senses]:
        for path in synset.hypernym_paths():
            for i, node in enumerate(path[:-1]):
                if node in roots:
                    basic = path[i + 1]
                    return basic.lemmas()[0].name()
    return None


@functools.cache
def basic_colours() -> tuple[str, ...]:
    """Single-word basic colour terms (direct hyponyms of WordNet's chromatic and achromatic colour), by use."""
    lemmas = [s.lemmas()[0] for r in _COLOUR_ROOTS for s in _wn().synset(r).hyponyms()]
    ranked = sorted(
        (lm for lm in lemmas if _single(lm.name()) and _count(lm) > 0), key=lambda lm: (-_count(lm), lm.name())
    )
    return tuple(lm.name() for lm in ranked if _is_colour_adjective(lm.name()))


def _is_colour_adjective(word: str) -> bool:
    """A hue or an achromatic colour as an adjective too ("red", "white"), which "pastel" or "olive" is not."""
    heads = {"chromatic.a.03", "achromatic.a.01", "white.a.01", "black.a.01"}
    return any(_head(s).name() in heads or s.name() in heads for s in _wn().synsets(word, "a"))


def _colour(word: str, word_class: WordClass, colour_only: bool) -> OpenAttribute | None:
    """A colour word: as an adjective in any sense; as a noun modifier in its first sense, after "in" in any."""
    family = colour_family(word, 4 if word_class == "adj" or colour_only else 1)
    if family is None:
        return None
    return OpenAttribute(word.lower(), COLOUR, tuple(c for c in basic_colours() if c != family))


def _adjective_sense(word: str) -> Any | None:
    """The sense named after the word itself among its three most frequent adjective senses, else the first."""
    senses = _wn().synsets(word.lower(), "a")[:3]
    own = [s for s in senses if s.name().split(".")[0] == word.lower()]
    return (own or senses or [None])[0]


def _head(synset: Any) -> Any:
    """The head synset of an adjective cluster (a satellite's head; a head is its own)."""
    return synset if synset.pos() == "a" else next(iter(synset.similar_tos()), synset)


def _cluster(head: Any) -> list[Any]:
    return [head, *head.similar_tos()]


def _adjective(word: str) -> OpenAttribute | None:
    """Contrasts from the antonym cluster of the word's adjective cluster ("young" -> "old", "wet" -> "dry"),
    else from the other clusters that share its attribute noun; never a word of its own cluster."""
    sense = _adjective_sense(word)
    if sense is None:
        return None
    head = _head(sense)
    antonyms = [_head(a.synset()) for lm in head.lemmas() for a in lm.antonyms()]
    rivals = antonyms or [h for a in head.attributes() for h in a.attributes() if h != head]
    if not rivals:
        return None
    own = {lm.name() for s in _cluster(head) for lm in s.lemmas()} | _all_lemmas(word)
    direct = [a for lm in sense.lemmas() if lm.name() == word.lower() for a in lm.antonyms()]
    if direct:  # the word's own antonyms and their synonyms: the clearest contrast ("open" -> "shut", "closed")
        lemmas = sorted({lm for a in direct for lm in a.synset().lemmas()}, key=_ranking)
        names = _unique(lm.name() for lm in lemmas if _single(lm.name()) and lm.name() not in _all_lemmas(word))
        category = OPEN + "adj:" + "|".join(sorted({head.name(), *(_head(a.synset()).name() for a in direct)}))
        return OpenAttribute(word.lower(), category, names[:2]) if names else None
    ranked = sorted((lm for h in rivals for lm in h.lemmas()), key=_ranking)
    satellites = (lm for h in rivals for s in h.similar_tos() for lm in s.lemmas() if _count(lm) > 0)
    ranked += sorted(satellites, key=_ranking)
    names = _unique(lm.name() for lm in ranked if _single(lm.name()) and lm.name() not in own)
    category = OPEN + "adj:" + "|".join(sorted(h.name() for h in {head, *rivals}))
    return OpenAttribute(word.lower(), category, names[:_MAX_REPLACEMENTS]) if names else None


def _unique(names: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(names))


def _noun_sense(lemma: str) -> tuple[Any, str] | None:
    """The first of the three most frequent noun senses that is a material or a food, with that kind."""
    for synset in _wn().synsets(lemma, "n")[:3]:
        kind = _NOUN_FILES.get(synset.lexname())
        ancestors = {a.name() for a in synset.closure(lambda s: s.hypernyms())}
        if kind is None and synset.lexname() == "noun.artifact" and ancestors & set(_MATERIAL_ARTIFACTS):
            kind = "material"
        if kind is not None:
            return synset, kind
    return None


def _sisters(synset: Any, kind: str) -> tuple[Any, list[Any]]:
    """Words of the same kind: the hyponyms (two levels) of the sense's parent, climbing one level when there are
    none; never the sense's ancestors, nor for foods its descendants (cheddar is no contrast to cheese; clay is
    one to dirt)."""
    parent = next(iter(synset.hypernyms()), synset)
    related = set(synset.closure(lambda s: s.hypernyms())) | {synset}
    if kind == "food":
        related |= set(synset.closure(lambda s: s.hyponyms()))
    for _ in range(2):
        found = [s for s in parent.closure(lambda s: s.hyponyms(), depth=2) if s not in related]
        if any(_single(lm.name()) for s in found for lm in s.lemmas()) or not parent.hypernyms():
            return parent, found
        parent = parent.hypernyms()[0]
    return parent, found


def _noun(word: str) -> OpenAttribute | None:
    lemma = _lemma(word, "n") or word.lower()
    found = _noun_sense(lemma)
    if found is None:
        return None
    synset, kind = found
    parent, sisters = _sisters(synset, kind)
    own = _all_lemmas(lemma) | {lm.name() for s in synset.closure(lambda x: x.hypernyms()) for lm in s.lemmas()}
    lemmas = sorted((lm for s in sisters for lm in s.lemmas()), key=_ranking)
    names = _unique(lm.name() for lm in lemmas if _single(lm.name()) and lm.name() not in own)
    category = OPEN + f"{kind}:{parent.name()}"
    return OpenAttribute(lemma, category, names[:_MAX_REPLACEMENTS]) if names else None


@functools.lru_cache(maxsize=1 << 14)
def open_attribute(word: str, word_class: WordClass, colour_only: bool = False) -> OpenAttribute | None:
    """The open-vocabulary attribute of a modifier word: a colour, else (adjectives) an antonym contrast or
    (noun modifiers) a material or food; None for words that name no attribute."""
    low = word.lower()
    if not low.isalpha() or low in _NOT_ATTRIBUTES:
        return None
    colour = _colour(low, word_class, colour_only)
    if colour is not None or colour_only:
        return colour
    return _adjective(low) if word_class == "adj" else _noun(low)


@functools.cache
def _all_lemmas(word: str) -> frozenset[str]:
    """Every lemma that shares a synset (of any part of speech) with `word`: its synonyms in any sense."""
    return frozenset(lm.name().lower() for s in _wn().synsets(word.lower()) for lm in s.lemmas())


@functools.cache
def is_compound(modifier: str, head: str) -> bool:
    """Whether "modifier head" is a WordNet entry that is no kind of its head ("hot dog", "teddy bear"): a name,
    not an attribute on a noun ("young girl" is an entry too, but a kind of girl)."""
    lemma = _lemma(head, "n") or head.lower()
    entries = _wn().synsets(f"{modifier.lower()}_{lemma}", "n")
    if not entries:
        return False
    heads = set(_wn().synsets(lemma, "n"))
    if any(not heads & set(e.closure(lambda s: s.hypernyms())) for e in entries):
        return True
    # a kind of its head, and named by a modifier with no attribute scale of its own ("polar bear", not "young girl")
    sense = _adjective_sense(modifier)
    return sense is None or not _head(sense).attributes()


@functools.lru_cache(maxsize=1 << 16)
def synonymous(a: str, b: str) -> bool:
    """Whether `b` shares a synset or an adjective cluster with `a`, or is a kind of it (or it of `b`)."""
    a, b = a.lower(), b.lower()
    if a == b or b in _all_lemmas(a) or a in _all_lemmas(b):
        return True
    families = colour_family(a), colour_family(b)
    if families[0] is not None or families[1] is not None:  # colours share the "chromatic" cluster: judge by hue
        return families[0] == families[1]
    heads_a = {_head(s) for s in _wn().synsets(a, "a")}
    return any(_head(s) in heads_a for s in _wn().synsets(b, "a"))


@functools.lru_cache(maxsize=1 << 16)
def in_category(word: str, category: str) -> bool:
    """Whether some sense of `word` belongs to `category` (a name that `open_attribute` gives)."""
    if category == COLOUR:
        return colour_family(word) is not None
    kind, _, rest = category.removeprefix(OPEN).partition(":")
    if kind == "adj":
        heads = set(rest.split("|"))
        return any(_head(s).name() in heads for s in _wn().synsets(word.lower(), "a"))
    lemma = _lemma(word, "n") or word.lower()
    return any(rest in {a.name() for a in s.closure(lambda x: x.hypernyms())} for s in _wn().synsets(lemma, "n")[:3])


def fits_head(category: str, head: str, vocab: Any) -> bool:
    """Whether an open category can describe the noun `head`: a food only a food ("chocolate doughnut", not
    "chocolate plate"), a material only a thing; colours and adjective contrasts any noun."""
    kind = category.removeprefix(OPEN).split(":")[0]
    if kind == "food":
        lemma = _lemma(head, "n") or head.lower()
        return any(s.lexname() == "noun.food" for s in _wn().synsets(lemma, "n")[:3])
    return kind != "material" or vocab.target_of(head) == "thing"
