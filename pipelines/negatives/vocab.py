"""Versioned attribute and object vocabularies: categories, synonym groups, confusable sets, count words."""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pipelines.negatives.inflect import INFLECTIONS_VERSION, match_case, singularize

DATA_DIR = Path(__file__).parent / "data"
MEMO_LIMIT = 1 << 18  # entries of a vocabulary's memo of derived answers (a few tens of MB at most)
_MISSING = object()
Target = Literal["person", "animal", "thing"]
_APPLIES: dict[str, frozenset[str]] = {
    "any": frozenset({"person", "animal", "thing"}),
    "animate": frozenset({"person", "animal"}),
    "inanimate": frozenset({"thing"}),
    "non_person": frozenset({"animal", "thing"}),
}


@functools.lru_cache(maxsize=1 << 16)
def normalise(word: str) -> str:
    """Lower case with hyphens and runs of spaces folded to one space: the key every vocabulary lookup uses."""
    return re.sub(r"[\s\-]+", " ", word.strip().lower())


@dataclass(frozen=True)
class Confusable:
    """Canonical words that may replace each other, on heads of the given kinds, except the `not_heads` nouns."""

    words: tuple[str, ...]
    applies_to: frozenset[str]
    not_heads: frozenset[str] = frozenset()

    def fits(self, target: str, head: str | None) -> bool:
        return target in self.applies_to and (head is None or singularize(head.lower()) not in self.not_heads)


@dataclass(frozen=True)
class Category:
    """An attribute category: synonym groups (first word canonical) and confusable sets of canonical words."""

    name: str
    applies_to: frozenset[str]
    groups: tuple[tuple[str, ...], ...]
    confusable: tuple[Confusable, ...]
    replacement_only: frozenset[str]
    skip_young_heads: bool = False
    exclusive: bool = False
    never_replacement: frozenset[str] = frozenset()

    def detects(self, word: str, target: str) -> bool:
        key = normalise(word)
        return target in self.applies_to and key not in self.replacement_only and bool(self.synonyms(key))

    def synonyms(self, word: str) -> frozenset[str]:
        """Every word that shares a synonym group with `word` (itself included); empty if unknown."""
        return self._synonym_map.get(normalise(word), frozenset())

    def contains(self, word: str) -> bool:
        return normalise(word) in self._synonym_map

    @functools.cached_property
    def _synonym_map(self) -> dict[str, frozenset[str]]:
        words = {w for group in self.groups for w in group}
        return {key: frozenset(w for group in self.groups if key in group for w in group) for key in words}

    def rivals(self, a: str, b: str) -> bool:
        """Whether `a` and `b` sit in one confusable set (so that one noun cannot be both, if exclusive)."""
        own_a = {g[0] for g in self.groups if normalise(a) in g}
        own_b = {g[0] for g in self.groups if normalise(b) in g}
        return any(own_a & set(c.words) and own_b & set(c.words) for c in self.confusable)

    def replacements(self, word: str, target: str, head: str | None = None) -> tuple[str, ...]:
        """Canonical words that may replace `word` on the noun `head` of kind `target`; never a synonym (memoised
        per category: the answer depends only on the arguments and the frozen data)."""
        args = (word, target, head)
        found = self._replacements_memo.get(args)
        if found is None:
            found = self._replacements_memo[args] = self._find_replacements(word, target, head)
        return found

    @functools.cached_property
    def _replacements_memo(self) -> dict[tuple[str, str, str | None], tuple[str, ...]]:
        return {}

    def _find_replacements(self, word: str, target: str, head: str | None) -> tuple[str, ...]:
        key = normalise(word)
        forbidden = self.synonyms(key) | self.never_replacement
        own = {group[0] for group in self.groups if key in group}
        found: list[str] = []
        for confusable in self.confusable:
            if not confusable.fits(target, head) or not own & set(confusable.words):
                continue
            found += [w for w in confusable.words if w not in forbidden and w not in found and not _shares_word(key, w)]
        return tuple(found)


def _shares_word(a: str, b: str) -> bool:
    """True when a multi-word entry contains the other ("black and white" vs "black")."""
    wa, wb = set(a.split()), set(b.split())
    return (len(wa) > 1 or len(wb) > 1) and bool(wa & wb)


@dataclass(frozen=True)
class Objects:
    """Object nouns: confusable groups for replace-obj; which heads are people, animals, or young by definition."""

    version: str
    groups: tuple[tuple[tuple[str, ...], tuple[frozenset[str], ...]], ...]
    person: frozenset[str]
    animal: frozenset[str]
    young: frozenset[str]

    def replacements(self, noun: str) -> tuple[str, ...]:
        key = singularize(noun.lower())
        found: list[str] = []
        for words, synonyms in self.groups:
            forbidden = {key}.union(*[s for s in synonyms if key in s])
            if key in words or any(key in s for s in synonyms):
                found += [w for w in words if w not in forbidden and w not in found]
        return tuple(found)


@dataclass(frozen=True)
class Vocabulary:
    """Everything the negatives generator looks up; built from the versioned JSON files in `data/`."""

    version: str
    categories: tuple[Category, ...]
    objects: Objects
    adjective_only: frozenset[str]
    noun_modifier_ok: frozenset[str]
    blocked_bigrams: frozenset[tuple[str, str]]
    non_attribute_before: frozenset[str]
    count_words: dict[str, int]
    articles: frozenset[str]
    max_numeral: int
    blocked_count_heads: frozenset[str]
    display_forms: dict[str, str]

    @functools.cached_property
    def multiword(self) -> re.Pattern[str]:
        """A regex that finds multi-word or hyphenated entries ("black-and-white", "heart shaped")."""
        keys = {w for c in self.categories for g in c.groups for w in g if " " in w} - self.replacement_only
        alts = sorted((r"[\s\-]+".join(map(re.escape, k.split())) for k in keys), key=len, reverse=True)
        return re.compile(r"(?<![\w-])(?:" + "|".join(alts) + r")(?![\w-])", re.IGNORECASE)

    @functools.cached_property
    def replacement_only(self) -> frozenset[str]:
        return frozenset().union(*[c.replacement_only for c in self.categories])

    def display(self, key: str) -> str:
        """The spelling a vocabulary key is written with ("heart shaped" -> "heart-shaped")."""
        return self.display_forms.get(key, key)

    def category(self, name: str) -> Category:
        return self._by_name[name]

    @functools.cached_property
    def _by_name(self) -> dict[str, Category]:
        return {c.name: c for c in reversed(self.categories)}  # the first of a name wins, as a search in order

    def category_for(self, word: str, head: str | None) -> Category | None:
        """The first category that detects `word` on the noun `head` (data order decides ties); memoised, as the
        answer depends only on the arguments and the frozen data."""
        return self.remembered(("category_for", word, head), lambda: self._find_category(word, head))

    def remembered(self, key: tuple[Any, ...], compute: Callable[[], Any]) -> Any:
        """`compute()`, memoised under `key` (which starts with the caller's name): for answers that depend only on
        the key and this frozen vocabulary. The memo is emptied when it reaches `MEMO_LIMIT` entries."""
        found = self._memo.get(key, _MISSING)
        if found is _MISSING:
            if len(self._memo) >= MEMO_LIMIT:
                self._memo.clear()
            found = self._memo[key] = compute()
        return found

    @functools.cached_property
    def _memo(self) -> dict[tuple[Any, ...], Any]:
        return {}

    def _find_category(self, word: str, head: str | None) -> Category | None:
        target = self.target_of(head)
        young = head is not None and singularize(head.lower()) in self.objects.young
        return next(
            (c for c in self.categories if c.detects(word, target) and not (young and c.skip_young_heads)), None
        )

    def is_attribute(self, word: str) -> bool:
        """Whether any category would detect `word` for some head (used for quick screening)."""
        return normalise(word) in self._detectable

    @functools.cached_property
    def _detectable(self) -> frozenset[str]:
        return frozenset(w for c in self.categories for g in c.groups for w in g if w not in c.replacement_only)

    def target_of(self, noun: str | None) -> Target:
        key = singularize(noun.lower()) if noun else ""
        if key in self.objects.person or (noun or "").lower() in self.objects.person:
            return "person"
        return "animal" if key in self.objects.animal else "thing"

    def count_value(self, word: str) -> int | None:
        low = word.lower()
        if low.isdigit():
            return int(low) if 0 < int(low) <= self.max_numeral else None
        return 1 if low in self.articles else self.count_words.get(low)

    def count_text(self, value: int, like: str) -> str:
        """`value` written the way `like` was: digits stay digits, words stay words, case is kept."""
        if like.isdigit():
            return str(value)
        word = next((w for w, v in self.count_words.items() if v == value), str(value))
        return match_case(like, word)


def _category(name: str, raw: dict[str, Any]) -> Category:
    groups = tuple(tuple(normalise(w) for w in g) for g in raw["groups"])
    default = [{"words": [g[0] for g in groups]}]
    applies = _APPLIES[raw["applies_to"]]
    confusable = tuple(
        Confusable(
            tuple(normalise(w) for w in c["words"]),
            _APPLIES[c.get("applies_to", "any")] & applies,
            frozenset(c.get("not_heads", [])),
        )
        for c in raw.get("confusable", default)
    )
    only = frozenset(normalise(w) for w in raw.get("replacement_only", []))
    flags = bool(raw.get("skip_young_heads", False)), bool(raw.get("exclusive", False))
    never = frozenset(normalise(w) for w in raw.get("never_replacement", []))
    return Category(name, applies, groups, confusable, only, *flags, never)


def _objects(raw: dict[str, Any]) -> Objects:
    groups = tuple((tuple(g["words"]), tuple(frozenset(s) for s in g.get("synonyms", []))) for g in raw["groups"])
    return Objects(raw["version"], groups, *(frozenset(raw[k]) for k in ("person", "animal", "young")))


@functools.cache
def load_vocabulary(attributes: str = "attributes_v1.json", objects: str = "objects_v1.json") -> Vocabulary:
    """Load (once per process) the attribute and object vocabularies from `data/`."""
    raw = json.loads((DATA_DIR / attributes).read_text(encoding="utf-8"))
    obj = _objects(json.loads((DATA_DIR / objects).read_text(encoding="utf-8")))
    count = raw["count"]
    return Vocabulary(
        version=f"{raw['version']}+{obj.version}+{INFLECTIONS_VERSION}",
        categories=tuple(_category(name, c) for name, c in raw["categories"].items()),
        objects=obj,
        adjective_only=frozenset(raw["adjective_only"]),
        noun_modifier_ok=frozenset(raw["noun_modifier_ok"]),
        blocked_bigrams=frozenset((a, b) for a, b in raw["blocked_bigrams"]),
        non_attribute_before=frozenset(raw["non_attribute_before"]),
        count_words=dict(count["words"]),
        articles=frozenset(count["articles"]),
        max_numeral=int(count["max_numeral"]),
        blocked_count_heads=frozenset(count["blocked_heads"]),
        display_forms={normalise(w): w for c in raw["categories"].values() for g in c["groups"] for w in g},
    )
