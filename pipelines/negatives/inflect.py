"""English inflection through maintained libraries: noun number, verb agreement, indefinite articles, letter case.

Lemmas (singular nouns, verb bases) and verb forms come from lemminflect's dictionary (with its out-of-vocabulary
rules); plurals of singular nouns and "a"/"an" from inflect. Both only see single words; nothing here parses.
"""

from __future__ import annotations

import functools
import re
from functools import cache
from importlib.metadata import version

import inflect as _inflect
import lemminflect

INFLECTIONS_VERSION: str = f"inflect-{version('inflect')}+lemminflect-{version('lemminflect')}"
_ENGINE = _inflect.engine()

# Nouns with no singular in everyday use (pluralia tantum): invariant, and plural for agreement. A fact about the
# words, not a rule: lemminflect reads "pants" as the plural of "pant", inflect pluralises "jeans" to "jeanss".
PLURAL_ONLY = frozenset(
    [
        "binoculars",
        "cattle",
        "clothes",
        "glasses",
        "goggles",
        "jeans",
        "leggings",
        "pajamas",
        "pants",
        "pliers",
        "police",
        "pyjamas",
        "scissors",
        "shorts",
        "sunglasses",
        "tights",
        "tongs",
        "trousers",
    ]
)
_CONTRACTIONS = {"'s": "'re", "'re": "'s"}
_DIGITS = re.compile(r"\d+")


def pluralize(noun: str) -> str:
    """The plural of an English noun, keeping its case pattern; a noun that is plural already comes back unchanged
    ("dogs" stays "dogs", never "dogses"), as does an invariant one ("sheep")."""
    return match_case(noun, _plural_lower(noun.lower()))


@cache
def _plural_lower(low: str) -> str:
    return low if not low.strip() or is_plural_noun(low) else _ENGINE.plural_noun(low)


def singularize(noun: str) -> str:
    """The singular of a plural English noun, keeping its case pattern; singular and plural-only nouns come back
    unchanged."""
    return match_case(noun, _singular_lower(noun.lower()))


@cache
def _singular_lower(low: str) -> str:
    if low in PLURAL_ONLY or not low.strip():
        return low
    lemmas = lemminflect.getLemma(low, upos="NOUN")
    lemma = lemmas[0] if lemmas else low
    if lemma != low:
        return lemma
    # lemminflect lists some irregular plurals as lemmas of their own ("people"); take inflect's singular when it is a
    # known noun whose plural is this word (inflect alone would make "bus" "bu")
    single = _ENGINE.singular_noun(low)
    if single and lemminflect.getAllLemmas(single, upos="NOUN") and _ENGINE.plural_noun(single) == low:
        return single
    return low


def is_plural_noun(noun: str) -> bool:
    """Whether ``noun`` reads as plural by form alone: it has a different singular, or is plural-only ("jeans")."""
    low = noun.lower()
    return low in PLURAL_ONLY or _singular_lower(low) != low


def agree_verb(verb: str, plural: bool) -> str:
    """A present-tense verb or auxiliary made to agree with a subject's number ("is" <-> "are", "sits" <-> "sit",
    "was" <-> "were"); other past forms ("had", "sat") agree with both and come back unchanged."""
    return match_case(verb, _agreed_lower(verb.lower(), plural))


@cache
def _agreed_lower(low: str, plural: bool) -> str:
    if low in _CONTRACTIONS:
        return "'re" if plural else "'s"
    lemmas = lemminflect.getLemma(low, upos="VERB")
    if not lemmas:
        return low
    lemma = lemmas[0]
    present = {lemma, *lemminflect.getInflection(lemma, tag="VBZ"), *lemminflect.getInflection(lemma, tag="VBP")}
    if low not in present:
        return ("were" if plural else "was") if lemma == "be" and low in ("was", "were") else low
    if lemma == "be":
        return "are" if plural else "is"
    return lemminflect.getInflection(lemma, tag="VBP" if plural else "VBZ")[0]


@cache
def indefinite_article(next_word: str) -> str:
    """'a' or 'an' for the word that follows the article, by its first sound (inflect's rules: "an hour", "a unicorn",
    "an FBI agent"); a number is read as words ("an 8", "an 18", "a 100")."""
    word = next_word.lstrip("\"'(")
    if not word:
        return "a"
    digits = _DIGITS.match(word)
    if digits:
        word = _ENGINE.number_to_words(digits.group(0))
    return _ENGINE.a(word).split(" ", 1)[0]


def number_word(n: int) -> str:
    """A count in words: 2 -> "two", 21 -> "twenty-one"."""
    return _ENGINE.number_to_words(n)


@functools.lru_cache(maxsize=1 << 16)
def match_case(template: str, word: str) -> str:
    """`word` with the letter case of `template`: UPPER, Capitalised or as given."""
    letters = [c for c in template if c.isalpha()]
    if len(letters) > 1 and all(c.isupper() for c in letters):
        return word.upper()
    if letters and template[:1].isupper():
        return word[:1].upper() + word[1:]
    return word
