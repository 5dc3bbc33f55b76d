"""Candidate edits for each negative kind: replace-att, swap-att, replace-count and replace-obj."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from itertools import combinations
from typing import Literal

from pipelines.negatives.attributes import AttributeWord, CountWord, find_counts
from pipelines.negatives.inflect import agree_verb, indefinite_article, match_case, pluralize, singularize
from pipelines.negatives.open_vocab import OPEN, fits_head, synonymous
from pipelines.negatives.parse import ParsedCaption, Word
from pipelines.negatives.vocab import Vocabulary, normalise

Kind = Literal["replace-att", "swap-att", "replace-count", "replace-obj"]
KINDS: tuple[Kind, ...] = ("replace-att", "swap-att", "replace-count", "replace-obj")
Role = Literal["attribute", "article", "count", "noun", "verb", "object"]
_BE_HAVE = {"is", "are", "was", "were", "has", "have"}
_SINGULAR_PRONOUNS = {"he", "she", "it", "his", "her", "hers", "its", "him", "himself", "herself", "itself"}
_PLURAL_PRONOUNS = {"they", "their", "theirs", "them", "themselves"}


@dataclass(frozen=True)
class Edit:
    """Replace `positive[start:end]` by `new`.

    `category`, `old_key` and `new_key` describe an attribute edit in vocabulary terms ("dark brown" -> "white"
    has old_key "brown"); `count` is the new count of a count or noun edit.
    """

    start: int
    end: int
    new: str
    role: Role
    category: str | None = None
    count: int | None = None
    old_key: str | None = None
    new_key: str | None = None


@dataclass(frozen=True)
class Candidate:
    """One possible negative: a kind and its non-overlapping edits, sorted by position."""

    kind: Kind
    edits: tuple[Edit, ...]

    @property
    def target(self) -> tuple[int, ...]:
        """The positions edited for content (not articles or agreement), to spread picks over targets."""
        return tuple(e.start for e in self.edits if e.role in {"attribute", "count", "object"})


@dataclass(frozen=True)
class Pool:
    """A kind's candidates for one caption, each built only when it is drawn (`build(i)`): a caption has many
    replace-att candidates and keeps a few. `targets[i]` is candidate i's target, known without building it
    (tests/test_negatives_pending.py checks that they agree)."""

    kind: Kind
    targets: Sequence[tuple[int, ...]]
    build: Callable[[int], Candidate]

    @classmethod
    def of(cls, kind: Kind, candidates: Sequence[Candidate]) -> Pool:
        """A pool of candidates built already."""
        return cls(kind, [c.target for c in candidates], candidates.__getitem__)

    def __len__(self) -> int:
        return len(self.targets)


def _candidate(kind: Kind, edits: Sequence[Edit | None]) -> Candidate:
    return Candidate(kind, tuple(sorted((e for e in edits if e is not None), key=lambda e: e.start)))


def article_fix(parsed: ParsedCaption, word_start: int, new_word: str) -> Edit | None:
    """An edit of the "a"/"an" right before the word at `word_start`, when `new_word` needs the other form."""
    index = parsed.index_at(word_start)
    if index is None or index == 0:
        return None
    article = parsed.words[index - 1]
    if article.lower not in {"a", "an"} or parsed.text[article.end : word_start].strip():
        return None
    wanted = indefinite_article(new_word)
    return (
        None
        if article.lower == wanted
        else Edit(article.start, article.end, match_case(article.text, wanted), "article")
    )


def _word_after(parsed: ParsedCaption, end: int) -> str | None:
    """The lower-cased word after `end`, hyphens skipped."""
    return next((w.lower for w in parsed.words if w.start >= end and w.text != "-"), None)


def _blocked_before(after: str | None, new_word: str, vocab: Vocabulary) -> bool:
    """Whether `new_word` placed before the word `after` forms a collocation ("cold dog" -> "hot dog")."""
    return after is not None and (normalise(new_word).split()[-1], after) in vocab.blocked_bigrams


def _attribute_edit(hit: AttributeWord, key: str, new_key: str, new: str, parsed: ParsedCaption) -> list[Edit | None]:
    new = match_case(hit.text, new)
    edit = Edit(hit.start, hit.end, new, "attribute", hit.category, old_key=key, new_key=new_key)
    return [edit, article_fix(parsed, hit.start, new)]


def absorb_tones(
    hits: Sequence[AttributeWord], parsed: ParsedCaption, vocab: Vocabulary
) -> list[tuple[AttributeWord, str]]:
    """Colour hits widened over a tone or same-hue word right before them ("dark brown", "navy blue"), each with
    the colour key that decides its category and replacements; a same-hue prefix is no target of its own."""
    if not any(h.category == "colour" for h in hits[1:]):  # no colour after another attribute: nothing to absorb
        return [(h, h.text) for h in hits]
    found: list[tuple[AttributeWord, str]] = []
    colour = vocab.category("colour")
    for hit in hits:
        hues = colour.synonyms(hit.text) if hit.category == "colour" else frozenset()
        prefix = next((h for h in hits if _modifies_colour(h, hit, parsed, hues)), None)
        if hit.category == "colour" and prefix is not None:
            text = parsed.text[prefix.start : hit.end]
            found.append((AttributeWord(text, hit.category, prefix.start, hit.end, hit.head, hit.head_span), hit.text))
        else:
            found.append((hit, hit.text))
    merged = [h for h, _ in found if h.category == "colour"]
    return [(h, k) for h, k in found if h.category != "colour" or not any(m.start < h.end < m.end for m in merged)]


def _modifies_colour(prefix: AttributeWord, hit: AttributeWord, parsed: ParsedCaption, hues: frozenset[str]) -> bool:
    if (
        prefix.head_span != hit.head_span
        or prefix.end >= hit.start
        or parsed.text[prefix.end : hit.start] not in {" ", "-"}
    ):
        return False
    return prefix.category == "tone" or normalise(prefix.text) in hues


def is_open(category: str) -> bool:
    """Whether a category comes from the open-vocabulary lexicon (WordNet) rather than the curated vocabulary."""
    return category.startswith(OPEN)


def family(category: str) -> str:
    """The category with the source prefix dropped, so that "open:colour" pairs with the vocabulary's "colour"."""
    return category.removeprefix(OPEN)


def _mates(hit: AttributeWord, hits: Sequence[AttributeWord]) -> list[AttributeWord]:
    """The other attributes of the same noun."""
    return [
        h
        for h in hits
        if h.head_span is not None and h.head_span == hit.head_span and (h.end <= hit.start or h.start >= hit.end)
    ]


def _clashes(hit: AttributeWord, new_key: str, mates: Sequence[AttributeWord], vocab: Vocabulary) -> bool:
    """The new word would repeat (or be a synonym of) another attribute of the same noun (`mates`)."""
    if not mates:
        return False
    texts = tuple(h.text for h in mates)
    return vocab.remembered(
        ("clashes", hit.category, new_key, texts), lambda: _find_clash(hit.category, new_key, texts, vocab)
    )


def _find_clash(category_name: str, new_key: str, mates: Sequence[str], vocab: Vocabulary) -> bool:
    words = set(new_key.split())
    if is_open(category_name):
        return any(words & set(normalise(h).split()) or synonymous(h, new_key) for h in mates)
    category = vocab.category(category_name)
    for mate in (normalise(h) for h in mates):
        if mate in category.synonyms(new_key) or words & set(mate.split()):
            return True
        if category.exclusive and category.contains(mate) and category.rivals(mate, new_key):
            return True
    return False


def replace_att(parsed: ParsedCaption, vocab: Vocabulary, hits: Sequence[AttributeWord]) -> Pool:
    """One attribute word replaced by a confusable, non-synonym word of its category."""
    segments: list[tuple[int, AttributeWord, str, tuple[tuple[str, str], ...]]] = []  # (first index, hit, key, allowed)
    targets: list[tuple[int, ...]] = []
    for hit, key in absorb_tones(hits, parsed, vocab):
        allowed = _allowed(hit, key, _mates(hit, hits), _word_after(parsed, hit.end), vocab)
        if allowed:
            segments.append((len(targets), hit, key, allowed))
            targets += [(hit.start,)] * len(allowed)

    def build(i: int) -> Candidate:
        first, hit, key, allowed = next(s for s in reversed(segments) if s[0] <= i)
        new_key, display = allowed[i - first]
        return _candidate("replace-att", _attribute_edit(hit, key, new_key, display, parsed))

    return Pool("replace-att", targets, build)


def _allowed(
    hit: AttributeWord, key: str, mates: Sequence[AttributeWord], after: str | None, vocab: Vocabulary
) -> tuple[tuple[str, str], ...]:
    """The replacements of `hit` that clash with no mate and form no blocked bigram with the word `after`;
    memoised on everything they depend on (many captions share an attribute, its noun and its neighbours)."""
    memo_key = ("allowed", hit.category, key, hit.head, hit.replacements, tuple(h.text for h in mates), after)
    return vocab.remembered(
        memo_key,
        lambda: tuple(
            (new_key, display)
            for new_key, display in _replacements(hit, key, vocab)
            if not _clashes(hit, new_key, mates, vocab) and not _blocked_before(after, new_key, vocab)
        ),
    )


def _replacements(hit: AttributeWord, key: str, vocab: Vocabulary) -> list[tuple[str, str]]:
    """(key, spelling) of each replacement: the lexicon's ranked list for open attributes, else the vocabulary's."""
    if is_open(hit.category):
        return [(r, r) for r in hit.replacements]
    category = vocab.category(hit.category)
    return [(r, vocab.display(r)) for r in category.replacements(key, vocab.target_of(hit.head), hit.head)]


def _swappable(first: tuple[AttributeWord, str], second: tuple[AttributeWord, str], vocab: Vocabulary) -> bool:
    """Two attributes of different nouns, with different (non-synonym) values that fit each other's noun."""
    (a, key_a), (b, key_b) = first, second
    if a.head is None or b.head is None or a.head_span == b.head_span:
        return False
    if not (_prenominal(a) and _prenominal(b)) and (is_open(a.category) or is_open(b.category)):
        return False  # "a box full of glazed donuts" -> "a box glazed of full donuts": a predicate is no slot
    if singularize(a.head.lower()) == singularize(b.head.lower()):
        return False
    key_a, key_b = normalise(key_a), normalise(key_b)
    if key_a == key_b or synonymous(key_a, key_b):
        return False
    if not is_open(a.category) and key_b in vocab.category(a.category).synonyms(key_a):
        return False
    return _fits_head(a, key_a, b.head, vocab) and _fits_head(b, key_b, a.head, vocab)


def _prenominal(hit: AttributeWord) -> bool:
    """The attribute stands before the noun it describes ("glazed donuts"), not after it ("a box full of")."""
    return hit.head_span is not None and hit.end <= hit.head_span[0]


def _fits_head(hit: AttributeWord, key: str, head: str, vocab: Vocabulary) -> bool:
    """Whether attribute `key` can describe the noun `head`: the vocabulary's rule, or for open attributes no
    material or food on a person or an animal."""
    if not is_open(hit.category):
        return vocab.category_for(key, head) is not None
    return fits_head(hit.category, head, vocab)


def swap_att(parsed: ParsedCaption, vocab: Vocabulary, hits: Sequence[AttributeWord]) -> Pool:
    """Attributes of two different nouns exchanged; same-category pairs only, unless there are none."""
    if len({h.head_span for h in hits if h.head is not None}) < 2:  # no two nouns with attributes: no swap
        return Pool.of("swap-att", [])
    merged = absorb_tones(hits, parsed, vocab)
    targets = [t for t in merged if not any(o.start < t[0].start < o.end for o, _ in merged)]
    pairs = [(a, b) for a, b in combinations(targets, 2) if _swappable(a, b, vocab)]
    same = [(a, b) for a, b in pairs if family(a[0].category) == family(b[0].category)]
    found: list[Candidate] = []
    for a, b in same or pairs:
        edits: list[Edit | None] = []
        for (this, key), (other, other_key) in ((a, b), (b, a)):
            edits += _attribute_edit(this, key, normalise(other_key), other.text.lower(), parsed)
        found.append(_candidate("swap-att", edits))
    return Pool.of("swap-att", found)


def _verb_edits(parsed: ParsedCaption, noun: Word, plural: bool) -> list[Edit] | None:
    """Agreement edits for the verb whose subject is `noun`; None when agreement cannot be kept."""
    if any(w.dep == "conj" for w in parsed.children(noun)):
        return []
    governor = parsed.words[noun.head]
    if noun.dep in {"nsubj", "nsubjpass"}:
        verbs = [w for w in parsed.children(governor) if w.dep in {"aux", "auxpass"} and w.index < governor.index]
        verbs = verbs[:1] or [governor]
    elif noun.dep == "attr" and any(w.dep == "expl" for w in parsed.children(governor)):
        verbs = [governor]
    else:
        return []
    verb = verbs[0]
    if verb.lower in {"'s", "'re"}:
        return None
    old_tag = "VBP" if not plural else "VBZ"
    if verb.lower not in _BE_HAVE and verb.tag != old_tag:
        return []
    return [Edit(verb.start, verb.end, agree_verb(verb.text, plural), "verb")]


def _pronoun_follows(parsed: ParsedCaption, noun: Word, plural: bool) -> bool:
    """A pronoun after `noun` that agrees with its old number ("a man ... his phone"): changing it would clash."""
    pronouns = _PLURAL_PRONOUNS if plural else _SINGULAR_PRONOUNS
    return any(w.lower in pronouns for w in parsed.words[noun.index + 1 :])


def _count_edits(parsed: ParsedCaption, hit: CountWord, value: int, vocab: Vocabulary) -> list[Edit] | None:
    like = "one" if hit.is_article else hit.word.text
    template = hit.noun.text if hit.is_article and len(hit.noun.text) > 1 and hit.noun.text.isupper() else hit.word.text
    new = vocab.count_text(value, match_case(template, like))
    edits = [Edit(hit.word.start, hit.word.end, new, "count", count=value)]
    if (hit.value == 1) == (value == 1):
        return edits
    if _pronoun_follows(parsed, hit.noun, hit.value > 1):
        return None
    inflect = pluralize if value > 1 else singularize
    edits.append(Edit(hit.noun.start, hit.noun.end, inflect(hit.noun.text), "noun", count=value))
    verbs = _verb_edits(parsed, hit.noun, value > 1)
    return None if verbs is None else edits + verbs


def _count_possible(parsed: ParsedCaption, hit: CountWord, value: int) -> bool:
    """Whether `_count_edits` gives edits for `value` (not None), without building them."""
    if (hit.value == 1) == (value == 1):
        return True
    if _pronoun_follows(parsed, hit.noun, hit.value > 1):
        return False
    return _verb_edits(parsed, hit.noun, value > 1) is not None


def replace_count(parsed: ParsedCaption, vocab: Vocabulary, hits: Sequence[AttributeWord]) -> Pool:
    """A count changed ("two dogs" -> "three dogs", "a dog" -> "two dogs"), the noun and verb made to agree."""
    found: list[tuple[CountWord, int]] = []
    for hit in find_counts(parsed, vocab):
        for value in (hit.value + 1, hit.value - 1, hit.value + 2):
            if value >= 1 and not (hit.is_article and value == 1) and _count_possible(parsed, hit, value):
                found.append((hit, value))

    def build(i: int) -> Candidate:
        hit, value = found[i]
        edits = _count_edits(parsed, hit, value, vocab)
        if edits is None:
            raise AssertionError(f"_count_possible and _count_edits disagree on {parsed.text!r}, count {value}")
        return _candidate("replace-count", edits)

    return Pool("replace-count", [(hit.word.start,) for hit, _ in found], build)


def replace_obj(parsed: ParsedCaption, vocab: Vocabulary, hits: Sequence[AttributeWord]) -> Pool:
    """A head noun replaced by a confusable object of its group ("dog" -> "cat"), number and article kept."""
    present = {singularize(w.lower) for w in parsed.words}
    found: list[Candidate] = []
    for phrase in parsed.phrases:
        noun = phrase.head
        if noun.pos != "NOUN" or any(w.dep == "compound" for w in parsed.children(noun)):
            continue
        before = parsed.words[noun.index - 1].lower if noun.index else ""
        if (before, noun.lower) in vocab.blocked_bigrams:
            continue
        for key in vocab.objects.replacements(noun.text):
            if key in present:
                continue
            new = match_case(noun.text, pluralize(key) if noun.is_plural else key)
            edits = [Edit(noun.start, noun.end, new, "object"), article_fix(parsed, noun.start, new)]
            found.append(_candidate("replace-obj", edits))
    return Pool.of("replace-obj", found)


Generator = Callable[[ParsedCaption, Vocabulary, Sequence[AttributeWord]], Pool]
"""A kind's generator: the pool of every candidate for a parsed caption, given its attribute words (found once per
caption)."""

GENERATORS: dict[Kind, Generator] = {
    "replace-att": replace_att,
    "swap-att": swap_att,
    "replace-count": replace_count,
    "replace-obj": replace_obj,
}
