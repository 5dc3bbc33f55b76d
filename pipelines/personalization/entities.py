"""Caption entities with spaCy: noun phrases with character spans, the Grounding DINO prompt, and detected phrase -> entity."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pipelines.nlp import load_nlp

_SKIP_POS = {"DET", "NUM", "PRON", "PUNCT"}
# words that already give a phrase a number ("several dogs", "a pair of dogs"): such a phrase is never re-counted
QUANTITY_WORDS = frozenset(
    "all both couple dozen dozens few many multiple numerous pair several some various".split()  # noqa: SIM905
)
QUANTITY_NOUNS = frozenset(
    "bunch couple crowd dozen flock group herd lot lots number pack pair pile row set stack team".split()  # noqa: SIM905
)


@dataclass(frozen=True)
class Entity:
    """An open-vocabulary entity of a caption: ``phrase`` is its noun phrase without determiners or numbers ("red car"),
    ``label`` its head noun ("car"); ``span`` is ``phrase``'s [start, end) character span in the caption.

    ``determiner``: the lower-cased words the noun chunk opens with before ``phrase`` ("a", "the", "two", "my", "");
    ``det_start``: where they start (== ``span[0]`` when there are none); ``plural``: the head is tagged plural;
    ``quantified``: the mention already says how many (a numeral, "several", "both", "a pair of")."""

    label: str
    phrase: str
    span: tuple[int, int]
    determiner: str = ""
    det_start: int = -1
    plural: bool = False
    quantified: bool = False


@dataclass(frozen=True)
class ParsedCaption:
    """What the personalization corpus needs from one parse of a caption."""

    entities: list[Entity]
    n_nouns: int


def parse_caption(caption: str) -> ParsedCaption:
    """Entities and noun count of a caption from a single spaCy parse."""
    doc = load_nlp()(caption)
    return ParsedCaption(_entities(doc, caption), sum(t.pos_ in ("NOUN", "PROPN") for t in doc))


def extract_entities(caption: str) -> list[Entity]:
    """One entity per noun phrase whose head is a noun, in caption order; pronouns and bare determiners are skipped."""
    return parse_caption(caption).entities


def count_nouns(caption: str) -> int:
    """Nouns and proper nouns in the caption (SDD keeps captions with 3 to 8)."""
    return parse_caption(caption).n_nouns


def _entities(doc: Any, caption: str) -> list[Entity]:
    entities = []
    for chunk in doc.noun_chunks:
        if chunk.root.pos_ not in ("NOUN", "PROPN"):
            continue
        tokens = [t for t in chunk if not (t.pos_ in _SKIP_POS and t.i < chunk.root.i)]
        tokens = tokens[next((i for i, t in enumerate(tokens) if t.pos_ not in _SKIP_POS), 0) :]
        if not tokens:
            continue
        start, end = tokens[0].idx, tokens[-1].idx + len(tokens[-1].text)
        entities.append(
            Entity(
                chunk.root.text.lower(),
                caption[start:end].lower(),
                (start, end),
                determiner=caption[chunk.start_char : start].strip().lower(),
                det_start=chunk.start_char,
                plural=chunk.root.tag_ in ("NNS", "NNPS"),
                quantified=_quantified(chunk),
            )
        )
    return entities


def _quantified(chunk: Any) -> bool:
    """The chunk carries a count: a numeral or quantity word in it, or it follows "<quantity noun> of"."""
    if any(t.pos_ == "NUM" or t.like_num or t.lower_ in QUANTITY_WORDS for t in chunk if t.i != chunk.root.i):
        return True
    doc, i = chunk.doc, chunk.start
    return i >= 2 and doc[i - 1].lower_ == "of" and doc[i - 2].lower_ in QUANTITY_NOUNS


def grounding_prompt(entities: list[Entity]) -> str:
    """Grounding DINO's text prompt: the distinct phrases, lower case, each ended by " ." ("red car . tall tree .")."""
    seen: list[str] = []
    for e in entities:
        if e.phrase not in seen:
            seen.append(e.phrase)
    return " . ".join(seen) + " ." if seen else ""


def match_phrase(detected: str, entities: list[Entity]) -> Entity | None:
    """The entity a detected phrase (a run of prompt tokens) belongs to: most shared words, the head noun weighing most;
    ties go to the earlier entity. None when no word is shared."""
    words = set(detected.lower().replace(".", " ").split())
    best, best_score = None, 0.0
    for e in entities:
        phrase_words = set(e.phrase.split())
        score = len(words & phrase_words) + (1.5 if e.label in words else 0.0)
        if score > best_score:
            best, best_score = e, score
    return best
