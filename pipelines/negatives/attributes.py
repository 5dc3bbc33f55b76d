"""Finds attribute words and count words in a parsed caption, with the noun each one describes."""

from __future__ import annotations

from dataclasses import dataclass

from pipelines.negatives.inflect import pluralize
from pipelines.negatives.parse import ParsedCaption, Word
from pipelines.negatives.vocab import Vocabulary, normalise

_CLOSED_POS = {"ADP", "DET", "PRON", "AUX", "CCONJ", "SCONJ", "PART", "PUNCT", "INTJ", "ADV", "NUM", "SYM", "SPACE"}
_OUTSIDE_DEPS = {"amod", "acomp", "oprd", "conj", "attr", "xcomp", "appos", "npadvmod", "compound", "nmod", "ROOT"}
_PREDICATE_DEPS = {"acomp", "attr", "oprd", "xcomp"}
_MADE_VERBS = {"made", "built", "constructed", "carved", "covered", "wrapped", "painted", "dressed"}
_SUBJECT_DEPS = {"nsubj", "nsubjpass"}


@dataclass(frozen=True)
class AttributeWord:
    """An attribute found in a caption: `caption[start:end] == text`; `head` is the noun it describes, if known."""

    text: str
    category: str
    start: int
    end: int
    head: str | None = None
    head_span: tuple[int, int] | None = None
    replacements: tuple[str, ...] = ()  # open-vocabulary attributes carry theirs (vocabulary ones look them up)


@dataclass(frozen=True)
class CountWord:
    """A count ("two", "3", or the article "a"/"an" read as one) and the noun it counts."""

    word: Word
    value: int
    noun: Word
    is_article: bool


def _head_noun(word: Word, parsed: ParsedCaption) -> Word | None:
    """The noun an attribute word describes: its noun phrase's head, an amod head, or a predicate's subject."""
    phrase = parsed.phrase_of(word)
    if phrase is not None and phrase.head.index != word.index:
        return phrase.head
    node = word
    while node.dep == "conj" and node.head != node.index:
        node = parsed.words[node.head]
    governor = parsed.words[node.head]
    if node.dep in {"amod", "compound"} and governor.pos in {"NOUN", "PROPN"}:
        return governor
    if node.dep in _PREDICATE_DEPS:
        subject = next((w for w in parsed.children(governor) if w.dep in _SUBJECT_DEPS), None)
        if subject is not None and subject.pos == "PRON" and governor.dep == "relcl":
            subject = parsed.words[governor.head]
        return subject if subject is not None and subject.pos in {"NOUN", "PROPN"} else None
    if node is not word:
        return _head_noun(node, parsed)
    return None


def _bare_noun_attribute(word: Word, parsed: ParsedCaption) -> bool:
    """A one-word noun phrase after a preposition: "dressed in red", "made of wood"."""
    phrase = parsed.phrase_of(word)
    if word.dep != "pobj" or (phrase is not None and (phrase.start, phrase.end) != (word.start, word.end)):
        return False
    prep = parsed.words[word.head]
    if prep.lower == "in":
        return True
    return prep.lower in {"of", "from"} and parsed.words[prep.head].lower in _MADE_VERBS


def _in_position(word: Word, parsed: ParsedCaption, vocab: Vocabulary) -> bool:
    """Whether a vocabulary word stands where an attribute stands (modifier, predicate), judged on the parse."""
    if word.pos in _CLOSED_POS:
        return False
    if word.pos == "PROPN" and word.text[:1].isupper() and word.index > 0 and not parsed.case_normalised:
        return False
    noun_modifier = word.lower in vocab.noun_modifier_ok and word.dep in {"compound", "amod", "nmod"}
    if word.lower in vocab.adjective_only and word.pos != "ADJ" and not noun_modifier:
        return False
    phrase = parsed.phrase_of(word)
    if phrase is not None and phrase.head.index == word.index:
        return word.pos == "ADJ" or _bare_noun_attribute(word, parsed)
    if phrase is not None:
        return True
    if word.dep == "pobj":
        return _bare_noun_attribute(word, parsed)
    return word.dep in _OUTSIDE_DEPS and (word.pos == "ADJ" or word.dep in {"amod", "acomp", "compound"})


def _neighbour(parsed: ParsedCaption, index: int, step: int) -> Word | None:
    """The nearest word before (step=-1) or after (step=1) `index`, skipping hyphens."""
    index += step
    while 0 <= index < len(parsed.words) and parsed.words[index].text == "-":
        index += step
    return parsed.words[index] if 0 <= index < len(parsed.words) else None


def _blocked(first: Word, last: Word, parsed: ParsedCaption, vocab: Vocabulary) -> bool:
    """Collocations that are no attribute: "hot dog", "New York", "3 years old"."""
    before, after = _neighbour(parsed, first.index, -1), _neighbour(parsed, last.index, 1)
    if before is not None and before.lower in vocab.non_attribute_before:
        return True
    return after is not None and (last.lower, after.lower) in vocab.blocked_bigrams


def _make(words: list[Word], parsed: ParsedCaption, vocab: Vocabulary) -> AttributeWord | None:
    first, last = words[0], words[-1]
    if not _in_position(first, parsed, vocab) or _blocked(first, last, parsed, vocab):
        return None
    text = parsed.text[first.start : last.end]
    head = _head_noun(first, parsed)
    category = vocab.category_for(text, head.text if head else None)
    if category is None:
        return None
    span = (head.start, head.end) if head is not None else None
    return AttributeWord(text, category.name, first.start, last.end, head.text if head else None, span)


def find_attributes(parsed: ParsedCaption, vocab: Vocabulary) -> list[AttributeWord]:
    """Attribute words of `parsed` in text order; multi-word entries win over the single words inside them."""
    found: list[AttributeWord] = []
    covered: set[int] = set()
    for match in vocab.multiword.finditer(parsed.text):
        words = [w for w in parsed.words if match.start() <= w.start and w.end <= match.end()]
        if words and words[0].start == match.start() and words[-1].end == match.end():
            covered.update(w.index for w in words)
            hit = _make(words, parsed, vocab)
            found += [hit] if hit else []
    for word in parsed.words:
        if word.index not in covered and normalise(word.text) and vocab.is_attribute(word.text):
            hit = _make([word], parsed, vocab)
            found += [hit] if hit else []
    return sorted(found, key=lambda a: a.start)


def _count_noun(word: Word, parsed: ParsedCaption, vocab: Vocabulary) -> Word | None:
    noun = parsed.words[word.head]
    if noun.index <= word.index or noun.pos != "NOUN" or noun.lower in vocab.blocked_count_heads:
        return None
    if noun.dep in {"poss", "npadvmod", "compound"} or "-" in {w.text for w in parsed.words[word.index : noun.index]}:
        return None
    phrase = parsed.phrase_of(noun)
    if phrase is None or phrase.head.index != noun.index or not phrase.start <= word.start < phrase.end:
        return None
    return None if _suspect_parse(word, noun, parsed, vocab) else noun


def _suspect_parse(word: Word, noun: Word, parsed: ParsedCaption, vocab: Vocabulary) -> bool:
    """Signs that the noun is not the real head: a modifier after it ("fire hydrant" read as fire + ADV), or a
    coordination with unknown words before it ("a striped bedspread and round mirror")."""
    if any(w.dep in {"amod", "compound"} and w.index > noun.index for w in parsed.children(noun)):
        return True
    between = parsed.words[word.index + 1 : noun.index]
    if not any(w.pos == "CCONJ" for w in between):
        return False
    return any(w.pos in {"ADJ", "NOUN", "PROPN"} and not vocab.is_attribute(w.text) for w in between)


def _number_matches(value: int, noun: Word) -> bool:
    """The noun's grammatical number fits the count ("one dog", "two dogs", "two sheep")."""
    if value == 1:
        return noun.tag == "NN"
    return noun.is_plural or pluralize(noun.text) == noun.text


def find_counts(parsed: ParsedCaption, vocab: Vocabulary) -> list[CountWord]:
    """Count words with the noun they count; "a"/"an" counts only before a singular countable noun."""
    found: list[CountWord] = []
    for word in parsed.words:
        value = vocab.count_value(word.text)
        is_article = word.lower in vocab.articles
        if value is None or (is_article and word.dep != "det") or (not is_article and word.dep != "nummod"):
            continue
        noun = _count_noun(word, parsed, vocab)
        if noun is None or not _number_matches(value, noun):
            continue
        if is_article and any(w.pos == "NUM" for w in parsed.words[word.index + 1 : noun.index]):
            continue
        found.append(CountWord(word, value, noun, is_article))
    return found
