"""Attribute words that the vocabulary does not know, found on the parse and classified through WordNet."""

from __future__ import annotations

from collections.abc import Sequence

from pipelines.negatives.attributes import AttributeWord, _blocked, _head_noun, find_attributes
from pipelines.negatives.inflect import singularize
from pipelines.negatives.open_vocab import COLOUR, OpenAttribute, WordClass, fits_head, is_compound, open_attribute
from pipelines.negatives.parse import ParsedCaption, Word
from pipelines.negatives.vocab import Vocabulary

_ADJ_DEPS = {"amod", "acomp", "oprd", "conj", "attr", "xcomp", "ROOT", "appos"}
_NOUN_MODIFIER_DEPS = {"compound", "nmod", "amod"}
_PARTICIPLES = {"VBN", "VBG"}
_MADE = {"made", "built", "constructed", "carved"}
_OPEN_POS = {"ADJ", "NOUN", "PROPN"}  # the word classes `_position` places (participles aside)


def _position(word: Word, parsed: ParsedCaption) -> tuple[WordClass, bool] | None:
    """Where a word stands as an attribute, judged on the parse: (word class, colour only) or None.

    Adjectives (and participles) that modify or predicate; nouns that modify a later noun ("dirt trail"); a bare
    noun after "in" (colour only: "the goalkeeper in orange") or after "made of" (a material).
    """
    governor = parsed.words[word.head]
    if word.dep == "pobj" and governor.lower == "in" and word.text.islower() and word.pos in {"ADJ", "NOUN", "PROPN"}:
        alone = parsed.phrase_of(word)
        if alone is None or (alone.start, alone.end) == (word.start, word.end):
            return "noun", True
    if word.pos == "ADJ" or (word.tag in _PARTICIPLES and word.dep == "amod"):
        return ("adj", False) if word.dep in _ADJ_DEPS else None
    if word.pos != "NOUN" or word.is_plural:
        return None
    if word.dep in _NOUN_MODIFIER_DEPS and governor.pos in {"NOUN", "PROPN"} and governor.index > word.index:
        return "noun", False
    phrase = parsed.phrase_of(word)
    alone = phrase is None or (phrase.start, phrase.end) == (word.start, word.end)
    if word.dep != "pobj" or not alone:
        return None
    made = governor.lower in {"of", "from"} and parsed.words[governor.head].lower in _MADE
    return ("noun", False) if made else None


def _described(word: Word, parsed: ParsedCaption) -> Word | None:
    """The noun an open attribute describes: as for vocabulary words, or the noun before "in"/"of"."""
    head = _head_noun(word, parsed)
    if head is not None or word.dep != "pobj":
        return head
    holder = parsed.words[parsed.words[word.head].head]
    return holder if holder.pos in {"NOUN", "PROPN"} and holder.index < word.index else None


def _fits(attribute: OpenAttribute, head: Word | None, vocab: Vocabulary, worn: bool) -> bool:
    """Plausibility of the category on its noun: a food only on a food, a material not on a person or animal, a
    colour on a person only when worn ("in orange"; "a black man" names no attribute to swap)."""
    if head is None:
        return True
    if attribute.category == COLOUR and not worn and vocab.target_of(head.text) == "person":
        return False
    return fits_head(attribute.category, head.text, vocab)


def _vocabulary_declined(word: Word, parsed: ParsedCaption, vocab: Vocabulary) -> bool:
    """An adjective the vocabulary knows and did not take stays out ("a black man"), unless only because its noun
    is young by definition (it skips "young girls"; the lexicon contrasts it with "old"). Nouns ("chocolate
    doughnut", "in orange") are the lexicon's to judge."""
    if not vocab.is_attribute(word.text) or _position(word, parsed) != ("adj", False):
        return False
    head = _head_noun(word, parsed)
    young = head is not None and vocab.objects.young >= {singularize(head.lower)}
    return not (young and any(c.skip_young_heads and c.contains(word.text) for c in vocab.categories))


def _open_hit(word: Word, parsed: ParsedCaption, vocab: Vocabulary) -> AttributeWord | None:
    position = _position(word, parsed)
    if position is None or _blocked(word, word, parsed, vocab):
        return None
    head = _described(word, parsed)
    after = parsed.words[word.index + 1] if word.index + 1 < len(parsed.words) else None
    nouns = [w for w in (head, after) if w is not None and w.index > word.index and w.pos in {"NOUN", "PROPN"}]
    if any(is_compound(word.text, noun.text) for noun in nouns):
        return None  # "hot dog", "polar bear": one WordNet entry (the parse may attach it elsewhere), no attribute
    attribute = open_attribute(word.text, *position)
    if attribute is None or not attribute.replacements or not _fits(attribute, head, vocab, position[1]):
        return None
    span = (head.start, head.end) if head is not None else None
    text = head.text if head is not None else None
    return AttributeWord(word.text, attribute.category, word.start, word.end, text, span, attribute.replacements)


def open_attributes(parsed: ParsedCaption, vocab: Vocabulary, known: Sequence[AttributeWord]) -> list[AttributeWord]:
    """Attribute words outside the vocabulary, on words that no vocabulary hit covers."""
    taken = [(h.start, h.end) for h in known]
    found: list[AttributeWord] = []
    for word in parsed.words:
        if word.pos not in _OPEN_POS and word.tag not in _PARTICIPLES:
            continue  # `_position` places no other word, so neither branch below would take it
        if (taken and any(s < word.end and word.start < e for s, e in taken)) or _vocabulary_declined(
            word, parsed, vocab
        ):
            continue
        hit = _open_hit(word, parsed, vocab)
        found += [hit] if hit is not None else []
    return found


def all_attributes(parsed: ParsedCaption, vocab: Vocabulary) -> list[AttributeWord]:
    """Vocabulary attributes first (curated categories), then open-vocabulary ones, in text order."""
    known = find_attributes(parsed, vocab)
    return sorted(known + open_attributes(parsed, vocab, known), key=lambda a: a.start)
