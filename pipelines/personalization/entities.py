"""Caption entities with spaCy: noun phrases with character spans, the Grounding DINO prompt, and detected phrase -> entity."""

from __future__ import annotations

from dataclasses import dataclass

from pipelines.nlp import load_nlp

_SKIP_POS = {"DET", "NUM", "PRON", "PUNCT"}


@dataclass(frozen=True)
class Entity:
    """An open-vocabulary entity of a caption: ``phrase`` is its noun phrase without determiners or numbers ("red car"),
    ``label`` its head noun ("car"); ``span`` is ``phrase``'s [start, end) character span in the caption."""

    label: str
    phrase: str
    span: tuple[int, int]


def extract_entities(caption: str) -> list[Entity]:
    """One entity per noun phrase whose head is a noun, in caption order; pronouns and bare determiners are skipped."""
    doc = load_nlp()(caption)
    entities = []
    for chunk in doc.noun_chunks:
        if chunk.root.pos_ not in ("NOUN", "PROPN"):
            continue
        tokens = [t for t in chunk if not (t.pos_ in _SKIP_POS and t.i < chunk.root.i)]
        tokens = tokens[next((i for i, t in enumerate(tokens) if t.pos_ not in _SKIP_POS), 0) :]
        if not tokens:
            continue
        start, end = tokens[0].idx, tokens[-1].idx + len(tokens[-1].text)
        entities.append(Entity(chunk.root.text.lower(), caption[start:end].lower(), (start, end)))
    return entities


def count_nouns(caption: str) -> int:
    """Nouns and proper nouns in the caption (SDD keeps captions with 3 to 8)."""
    return sum(t.pos_ in ("NOUN", "PROPN") for t in load_nlp()(caption))


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
