"""Small English inflection helpers: noun number, 3rd-person verbs, indefinite articles and letter case."""

from __future__ import annotations

import json
import re
from pathlib import Path

_DATA = json.loads((Path(__file__).parent / "data" / "inflections_v1.json").read_text(encoding="utf-8"))
INFLECTIONS_VERSION: str = _DATA["version"]
_IRREGULAR_PLURALS: dict[str, str] = _DATA["irregular_plurals"]
_INVARIANT = frozenset(_DATA["invariant"])
_PLURAL_ONLY = frozenset(_DATA["plural_only"])
_IRREGULAR_SINGULARS = {plural: singular for singular, plural in _IRREGULAR_PLURALS.items()}
_MAN_EXCEPTIONS = {"human", "german", "shaman", "caiman", "roman", "talisman", "ottoman"}
_SIBILANT = re.compile(r"(s|x|z|ch|sh)$")
_CONSONANT_Y = re.compile(r"[^aeiou]y$")
_AN_EXCEPTIONS = ("uni", "use", "usu", "uti", "ura", "ure", "uro", "eu", "ewe", "one", "once", "ufo", "u-", "ubiq")
_A_EXCEPTIONS = ("hour", "honest", "honor", "honour", "heir", "herb")
_VERB_SG_TO_PL = {"is": "are", "was": "were", "has": "have", "does": "do", "'s": "'re"}
_VERB_PL_TO_SG = {plural: singular for singular, plural in _VERB_SG_TO_PL.items()}


def pluralize(noun: str) -> str:
    """The plural of a singular English noun, keeping the case pattern of `noun`."""
    return match_case(noun, _plural_lower(noun.lower()))


def _plural_lower(low: str) -> str:
    if low in _INVARIANT:
        return low
    if low in _IRREGULAR_PLURALS:
        return _IRREGULAR_PLURALS[low]
    if low.endswith("man") and low not in _MAN_EXCEPTIONS:
        return low[:-2] + "en"
    if _SIBILANT.search(low):
        return low + "es"
    if _CONSONANT_Y.search(low):
        return low[:-1] + "ies"
    return low + "s"


def singularize(noun: str) -> str:
    """The singular of a plural English noun (best effort; singular input comes back unchanged)."""
    return match_case(noun, _singular_lower(noun.lower()))


def _singular_lower(low: str) -> str:
    if low in _INVARIANT:
        return low
    if low in _IRREGULAR_SINGULARS:
        return _IRREGULAR_SINGULARS[low]
    if low.endswith("men") and len(low) > 3 and low[:-3] + "man" not in _MAN_EXCEPTIONS:
        return low[:-2] + "an"
    if low.endswith("ies") and len(low) > 4:
        return low[:-3] + "y"
    if re.search(r"(ss|x|z|ch|sh)es$", low):
        return low[:-2]
    if low.endswith("s") and not re.search(r"(ss|us|is)$", low):
        return low[:-1]
    return low


def is_plural_noun(noun: str) -> bool:
    """Whether `noun` reads as plural by form alone (used by validity checks, not by generation)."""
    low = noun.lower()
    if low in _INVARIANT:
        return low in _PLURAL_ONLY
    return singularize(low) != low or low in _IRREGULAR_SINGULARS


def agree_verb(verb: str, plural: bool) -> str:
    """A present/past auxiliary or 3rd-person present verb made to agree with a subject's number."""
    low = verb.lower()
    if plural:
        if low in _VERB_SG_TO_PL:
            return match_case(verb, _VERB_SG_TO_PL[low])
        return verb if low.endswith("ss") else match_case(verb, _verb_base(low))
    if low in _VERB_PL_TO_SG:
        return match_case(verb, _VERB_PL_TO_SG[low])
    if low in _VERB_SG_TO_PL or low in {"had", "did"}:
        return verb
    return match_case(verb, low + ("es" if _SIBILANT.search(low) or low.endswith("o") else "s"))


def _verb_base(low: str) -> str:
    if low.endswith("ies") and len(low) > 4:
        return low[:-3] + "y"
    if re.search(r"(ss|x|z|ch|sh|o)es$", low):
        return low[:-2]
    return low[:-1] if low.endswith("s") else low


def indefinite_article(next_word: str) -> str:
    """'a' or 'an' for the word that follows the article, by its (approximate) first sound."""
    low = next_word.lower().lstrip("\"'(")
    if not low:
        return "a"
    if low.startswith(_A_EXCEPTIONS):
        return "an"
    if low[0].isdigit():
        return "an" if re.match(r"(8|11|18)(\D|$)|8\d", low) else "a"
    if low.startswith(_AN_EXCEPTIONS):
        return "a"
    return "an" if low[0] in "aeiou" else "a"


def match_case(template: str, word: str) -> str:
    """`word` with the letter case of `template`: UPPER, Capitalised or as given."""
    letters = [c for c in template if c.isalpha()]
    if len(letters) > 1 and all(c.isupper() for c in letters):
        return word.upper()
    if letters and template[:1].isupper():
        return word[:1].upper() + word[1:]
    return word
