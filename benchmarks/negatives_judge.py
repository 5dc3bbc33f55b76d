"""Judges hard negatives on hand-labelled captions with rules of its own (token diff, WordNet relations), not the generator's."""

from __future__ import annotations

import difflib
import functools
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipelines.negatives.wordnet import load_wordnet

EVAL_FILE = Path(__file__).parent / "data" / "negatives_eval_captions.txt"
_MARK = re.compile(r"\[([^|\]]+)\|([a-z]+)\|([^\]]+)\]")
_TOKEN = re.compile(r"[\w'-]+|[^\w\s]")
# Hand categories of adjectives, by the WordNet attribute nouns of their scales; the rest describe a quality.
_SCALE_ATTRIBUTES = {
    "size": {"size.n.01", "stature.n.02", "height.n.01", "length.n.01", "width.n.01", "depth.n.01", "weight.n.01"}
    | {"thickness.n.01", "body_weight.n.01", "volume.n.06"},
    "age": {"age.n.01", "maturity.n.02", "modernity.n.01"},
    "gender": {"sex.n.04"},
}
_QUALITIES = {"state", "texture", "shape", "pattern"}


@dataclass(frozen=True)
class Label:
    """A hand-labelled attribute word: its token index in the caption, its category and the noun it describes."""

    word: str
    token: int
    category: str
    noun: str


@dataclass(frozen=True)
class EvalCaption:
    text: str
    labels: tuple[Label, ...]

    @property
    def attributes(self) -> tuple[Label, ...]:
        """Labels that replace-att should change (not counts, not words marked `none`)."""
        return tuple(lb for lb in self.labels if lb.category not in {"count", "none"})

    @property
    def two_nouns(self) -> bool:
        return len({lb.noun for lb in self.attributes}) >= 2


def tokens(text: str) -> list[str]:
    """Lower-cased word and punctuation tokens; "an" is read as "a" so that article agreement is no edit."""
    return ["a" if t.lower() == "an" else t.lower() for t in _TOKEN.findall(text)]


def load_eval(path: Path = EVAL_FILE) -> list[EvalCaption]:
    """The labelled captions: markup `[word|category|noun]` removed, each label tied to its token index."""
    found = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        text, labels, cursor = "", [], 0
        for match in _MARK.finditer(line):
            text += line[cursor : match.start()]
            index = len(tokens(text))
            text += match.group(1)
            labels.append(Label(match.group(1).lower(), index, match.group(2), match.group(3).lower()))
            cursor = match.end()
        found.append(EvalCaption(text + line[cursor:], tuple(labels)))
    return found


def changes(positive: str, negative: str) -> list[tuple[int, list[str], list[str]]]:
    """Token edits from positive to negative as (first positive token, old tokens, new tokens); a/an swaps dropped."""
    old, new = tokens(positive), tokens(negative)
    ops = difflib.SequenceMatcher(a=old, b=new, autojunk=False).get_opcodes()
    return [(i1, old[i1:i2], new[j1:j2]) for tag, i1, i2, j1, j2 in ops if tag != "equal"]


def _wn() -> Any:
    return load_wordnet()


@functools.cache
def _synsets(word: str, pos: str | None = None) -> tuple[Any, ...]:
    return tuple(_wn().synsets(word.replace(" ", "_"), pos))


@functools.cache
def is_colour(word: str) -> bool:
    """A colour by WordNet: a noun sense under color.n.01, or an adjective whose attribute is a hue or colour."""
    colour = _wn().synset("color.n.01")
    if any(colour in s.closure(lambda x: x.hypernyms()) for s in _synsets(word, "n")[:4]):
        return True
    heads = [h for s in _synsets(word, "a") for h in [s, *s.similar_tos()]]
    return any(a.name() in {"hue.n.01", "color.n.01", "chromaticity.n.01"} for h in heads for a in h.attributes())


_STUFF = {"material.n.01", "building_material.n.01", "fabric.n.01", "metal.n.01", "plastic.n.01", "ceramic.n.01"}
_MADE_OF = re.compile(r"(?:made|consisting|composed|built|covered) (?:of|with) (?:\([^)]*\) )?(\w+)")


def _stuff(synset: Any) -> bool:
    if synset.lexname() == "noun.substance":
        return True
    names = {a.name() for a in synset.closure(lambda x: x.hypernyms())} | {synset.name()}
    return bool(names & _STUFF)


@functools.cache
def is_material(word: str) -> bool:
    """A material by WordNet: a substance or material noun, or an adjective derived from one ("wooden")."""
    if any(_stuff(s) for s in _synsets(word, "n")[:3]):
        return True
    forms = [d.synset() for s in _synsets(word, "a") for lm in s.lemmas() for d in lm.derivationally_related_forms()]
    pertains = [p.synset() for s in _synsets(word, "a") for lm in s.lemmas() for p in lm.pertainyms()]
    glossed = [n for s in _synsets(word, "a")[:2] for m in _MADE_OF.findall(s.definition()) for n in _synsets(m, "n")]
    return any(_stuff(s) for s in forms + pertains + glossed if s.pos() == "n")


@functools.cache
def is_food(word: str) -> bool:
    return any(s.lexname() in {"noun.food", "noun.plant"} for s in _synsets(word, "n")[:3])


@functools.cache
def _scale(word: str) -> frozenset[str]:
    """The adjective scales a word sits on: its cluster heads, their antonyms' heads, and their attribute nouns."""
    heads = {s if s.pos() == "a" else next(iter(s.similar_tos()), s) for s in _synsets(word, "a")}
    rivals = {a.synset() for h in heads for lm in h.lemmas() for a in lm.antonyms()}
    attributes = {a for h in heads | rivals for a in h.attributes()}
    return frozenset(s.name() for s in heads | rivals | attributes)


def adjective_kind(word: str) -> str | None:
    """size, age or gender by the attribute nouns of a word's scales; "quality" for another adjective; None for a
    word that is no adjective, a colour or a material."""
    adjectives = _synsets(word, "a")
    if not adjectives:
        return None
    if is_colour(word) and all(colour_sense(s) for s in adjectives):
        return "colour"
    scales = _scale(word)
    return next((k for k, names in _SCALE_ATTRIBUTES.items() if scales & names), "quality")


def colour_sense(synset: Any) -> bool:
    heads = [synset, *synset.similar_tos()]
    return any(a.name() in {"hue.n.01", "color.n.01", "chromaticity.n.01"} for h in heads for a in h.attributes())


def keeps_category(category: str, old: str, new: str) -> bool:
    """Whether `new` belongs to the hand-labelled category of `old`, judged on WordNet alone: a colour, material or
    food for those; for adjectives the same scale as `old`, or the same kind (size, age, gender, other quality)."""
    if category == "colour":
        return is_colour(new)
    if category == "material":
        return is_material(new)
    if category == "food":
        return is_food(new)
    if _scale(old) & _scale(new):
        return True
    kind = adjective_kind(new)
    return kind == "quality" if category in _QUALITIES else kind == category


def synonyms(a: str, b: str) -> bool:
    """Same synset in any part of speech; for colours also a kind of the other ("crimson" of "red"); for other
    adjectives the same cluster (satellite and head)."""
    a, b = a.lower(), b.lower()
    lemmas_a = {lm.name().lower() for s in _synsets(a) for lm in s.lemmas()}
    if a == b or b in lemmas_a:
        return True
    if is_colour(a) and is_colour(b):
        nouns_b = set(_synsets(b, "n")[:4])
        kinds = {k for s in _synsets(a, "n")[:4] for k in [s, *s.closure(lambda x: x.hypernyms())]}
        above = {k for s in _synsets(a, "n")[:4] for k in s.closure(lambda x: x.hyponyms())}
        basic = {"chromatic_color.n.01", "achromatic_color.n.01", "color.n.01"}
        return bool(nouns_b & {k for k in kinds | above if k.name() not in basic})
    if is_colour(a) or is_colour(b):
        return False
    heads_a = {s if s.pos() == "a" else next(iter(s.similar_tos()), s) for s in _synsets(a, "a")}
    heads_b = {s if s.pos() == "a" else next(iter(s.similar_tos()), s) for s in _synsets(b, "a")}
    return bool(heads_a & heads_b)
