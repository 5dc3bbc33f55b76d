"""SDD's count rewrite of a caption ("a dog" seen twice -> "two dogs"), with the entity spans moved to the new text."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, replace

from pipelines.personalization.entities import Entity

# determiners a count can replace ("a dog" -> "two dogs") or follow ("the dog" -> "the two dogs"); any other one
# ("my", "this", "every") makes the rewrite ungrammatical or changes the meaning, so the mention stays as written
_REPLACED = frozenset({"", "a", "an", "one"})
_FOLLOWED = frozenset({"the"})


@dataclass(frozen=True)
class Counted:
    """The rewritten caption and the caption's entities, in the same order, with phrase and span into it."""

    caption: str
    entities: list[Entity]


def countable(entity: Entity, boxes: int, mentions: int) -> bool:
    """Whether a mention is rewritten with a count: at least two boxes matched its phrase, the caption names that
    phrase (same words, same modifiers) once, the mention gives no number yet, its determiner takes one, and its head
    noun ends the phrase."""
    return (
        boxes >= 2
        and mentions == 1
        and not entity.quantified
        and entity.determiner in _REPLACED | _FOLLOWED
        and entity.phrase.endswith(entity.label)
    )


def counted_caption(caption: str, entities: Sequence[Entity], matched: Sequence[Entity]) -> Counted:
    """Rewrite every countable mention (see ``countable``) as "<count> <plural phrase>" ("the" stays in front of the
    count); ``entities`` are the caption's in caption order (as the parse gives them), ``matched`` the entity of each
    kept box. "a black dog and a white dog" with one box each stays as it is; "a dog on a sofa" with two dog boxes
    becomes "two dogs on a sofa"; "two dogs" is never counted again."""
    from pipelines.negatives.inflect import number_word, pluralize

    boxes = Counter(e.phrase for e in matched)
    mentions = Counter(e.phrase for e in entities)
    parts, moved, cursor, shift = [], [], 0, 0
    for e in entities:
        k = boxes[e.phrase]
        if not countable(e, k, mentions[e.phrase]):
            moved.append(replace(e, span=(e.span[0] + shift, e.span[1] + shift), det_start=e.det_start + shift))
            continue
        start, end = e.span
        head = end - len(e.label)
        plural = caption[start:head] + pluralize(caption[head:end])
        prefix = f"the {number_word(k)} " if e.determiner in _FOLLOWED else f"{number_word(k)} "
        text = prefix + plural
        if caption[e.det_start : e.det_start + 1].isupper():
            text = text[0].upper() + text[1:]
        parts.append(caption[cursor : e.det_start] + text)
        new_start = e.det_start + shift + len(prefix)
        moved.append(
            replace(
                e,
                phrase=plural.lower(),
                span=(new_start, new_start + len(plural)),
                determiner=prefix.strip(),
                det_start=e.det_start + shift,
                plural=True,
                quantified=True,
            )
        )
        shift += len(text) - (end - e.det_start)
        cursor = end
    parts.append(caption[cursor:])
    return Counted("".join(parts), moved)
