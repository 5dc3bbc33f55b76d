"""A caption's structure without the dependency parser: noun chunks, heads and dependency labels from POS tags."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

# The labels are spaCy's (ClearNLP) names for the relations the rules read: det, poss, case, nummod, amod, compound,
# advmod, cc, conj, punct inside a noun chunk; prep, pobj, nsubj, aux, dobj, attr, expl, acomp, acl, ROOT outside.
_NOMINAL = frozenset(("NOUN", "PROPN"))
_DETERMINERS = frozenset(("DT", "PDT", "WDT"))
_PARTICIPLES = frozenset(("VBN", "VBG"))
_FINITE = frozenset(("VBZ", "VBP", "VBD", "MD"))
_VERB_POS = frozenset(("VERB", "AUX"))
_AUX_WORDS = frozenset(
    ("is", "are", "was", "were", "am", "be", "been", "being", "'s", "'re", "'m", "has", "have", "had", "do", "does")
    + ("did", "will", "would", "can", "could", "may", "might", "shall", "should", "must", "'ll", "'d", "'ve")
)
_RELATIVES = frozenset(("WDT", "WP"))  # "that", "which", "who" opening a relative clause
_PARTICIPLE_STARTS = frozenset(("ADP", "CCONJ", "SCONJ", "PUNCT"))  # a participle after these modifies a noun


@dataclass(frozen=True)
class Structure:
    """Per token its dependency label and head index (its own index for a root), and the noun chunks as
    (first, end, head) token indices, in order: what `ParsedCaption` is built from."""

    deps: tuple[str, ...]
    heads: tuple[int, ...]
    chunks: tuple[tuple[int, int, int], ...]


@dataclass(slots=True)
class _Caption:
    """One caption's tokens while its structure is derived: the tags and words read, the labels and heads written,
    and per token the head of its noun chunk (-1 outside one), with each chunk's head by its first token."""

    pos: Sequence[str]
    tags: Sequence[str]
    lower: Sequence[str]
    deps: list[str]
    heads: list[int]
    chunk_of: list[int]
    starts: dict[int, int]


def _joins(pos: Sequence[str], tags: Sequence[str], run: list[int], i: int) -> bool:
    """Whether token `i` continues the pre-nominal run `run` (tokens so far; empty when `i` would start one)."""
    p, tag = pos[i], tags[i]
    prev = run[-1] if run else -1
    if p in _NOMINAL or p == "NUM" or p == "ADJ":
        return True
    if tag in _DETERMINERS or tag == "PRP$":
        return not run or all(tags[j] in _DETERMINERS for j in run)  # "all the dogs", "his dog"
    if tag in _PARTICIPLES:  # "glazed donuts", "a parked car"; not "a man riding", "is holding"
        if run:
            return pos[prev] not in _NOMINAL
        return i == 0 or pos[i - 1] in _PARTICIPLE_STARTS
    nxt = i + 1 if i + 1 < len(pos) else -1
    if nxt < 0 or not run:
        return p == "ADV" and nxt >= 0 and (pos[nxt] == "ADJ" or tags[nxt] in _PARTICIPLES)
    if p == "ADV":  # "a very large dog", "a brightly coloured kite"
        return pos[nxt] == "ADJ" or tags[nxt] == "VBN"
    if tag == "POS":  # "a man's hat"
        return pos[prev] in _NOMINAL
    if tag == "HYPH" or p == "CCONJ" or tag == ",":  # "red and white", "black-and-white", "a large, fluffy dog"
        hyphen = tag == "HYPH"
        left = pos[prev] in {"ADJ", "CCONJ"} or tags[prev] in {"HYPH", ","} or hyphen and pos[prev] in _NOMINAL
        right = pos[nxt] == "ADJ" or tags[nxt] == "HYPH" or hyphen and (pos[nxt] in _NOMINAL or pos[nxt] == "CCONJ")
        return left and right
    return False


def _runs(pos: Sequence[str], tags: Sequence[str]) -> list[tuple[int, int, int]]:
    """Noun chunks: maximal pre-nominal runs cut after their last noun (the head), and lone personal pronouns."""
    found: list[tuple[int, int, int]] = []
    i, n = 0, len(pos)
    while i < n:
        if tags[i] == "PRP":
            found.append((i, i + 1, i))
            i += 1
            continue
        run: list[int] = []
        j = i
        while j < n and _joins(pos, tags, run, j):
            run.append(j)
            j += 1
        nouns = [k for k in run if pos[k] in _NOMINAL]
        if not nouns:
            i = max(j, i + 1)
            continue
        found.append((i, nouns[-1] + 1, nouns[-1]))
        i = nouns[-1] + 1
    return found


def _inside(chunk: tuple[int, int, int], c: _Caption) -> None:
    """Labels inside one chunk: possessors ("a man's hat") head their own determiners and modifiers."""
    pos, tags, deps, heads = c.pos, c.tags, c.deps, c.heads
    first, end, head = chunk
    owner = head
    cuts = [k for k in range(first, end) if tags[k] == "POS"]
    segments = [(a, b) for a, b in zip([first] + [c + 1 for c in cuts], cuts + [end], strict=True)]
    for start, stop in segments:
        nouns = [k for k in range(start, stop) if pos[k] in _NOMINAL]
        local = nouns[-1] if nouns else owner
        if local != owner:
            deps[local], heads[local] = "poss", owner
            if stop < end:
                deps[stop], heads[stop] = "case", local
        coordinated: int | None = None
        for k in range(start, stop):
            if k == local:
                continue
            p, tag = pos[k], tags[k]
            label, to = "amod", local
            if tag in _DETERMINERS:
                label = "predet" if tag == "PDT" else "det"
            elif tag == "PRP$":
                label = "poss"
            elif p == "NUM":
                label = "nummod"
            elif p in _NOMINAL:
                label = "compound"
            elif p == "ADV":
                label, to = "advmod", k + 1
            elif tag == "HYPH" or tag == ",":
                label = "punct"
            elif p == "CCONJ":
                label, to = "cc", coordinated if coordinated is not None else local
            elif coordinated is not None and k > 0 and (pos[k - 1] == "CCONJ" or tags[k - 1] in {"HYPH", ","}):
                label, to = "conj", coordinated  # "red and white": white conj red
            if label == "amod" and coordinated is None:
                coordinated = k
            elif label not in {"amod", "conj", "cc", "punct", "advmod"}:
                coordinated = None
            deps[k], heads[k] = label, to


def _attach_left(i: int, c: _Caption) -> int:
    """The token a preposition or a post-nominal adjective at `i` attaches to: the word before it (adverbs and
    punctuation skipped), its chunk's head when it is in one; `i` itself when there is none."""
    pos, chunk_of = c.pos, c.chunk_of
    j = i - 1
    while j >= 0 and pos[j] in {"ADV", "PUNCT", "PART"}:
        j -= 1
    if j < 0:
        return i
    return chunk_of[j] if chunk_of[j] >= 0 else j


def derive(pos: Sequence[str], tags: Sequence[str], lower: Sequence[str]) -> Structure:
    """Deterministic structure from universal POS, fine tags and lower-cased words of one caption."""
    n = len(pos)
    c = _Caption(pos, tags, lower, ["dep"] * n, list(range(n)), [-1] * n, {})
    chunks = _runs(pos, tags)
    for chunk in chunks:
        first, end, head = chunk
        for k in range(first, end):
            c.chunk_of[k] = head
        c.starts[first] = head
        _inside(chunk, c)
    _outside(c)
    return Structure(tuple(c.deps), tuple(c.heads), tuple(chunks))


def _outside(c: _Caption) -> None:
    """Labels between chunks, left to right: prepositions and their objects, verb groups with their auxiliaries,
    subject, object or predicate, coordinations, post-nominal adjectives."""
    pos, tags, lower, deps, heads, chunk_of, starts = c.pos, c.tags, c.lower, c.deps, c.heads, c.chunk_of, c.starts
    n = len(pos)
    open_subjects: list[int] = []  # chunk heads since the last finite verb that are no object of anything
    verb: int | None = None  # the verb that a following chunk or adjective completes
    root: int | None = None
    relative: tuple[int, int] | None = None  # (pronoun, antecedent head) of "a bus that is blue", until its verb
    i = 0
    while i < n:
        if i in starts:
            head = starts[i]
            if deps[head] == "dep":
                _complete(head, i, c, verb, open_subjects)
            verb = None
            i = head + 1
            continue
        p, tag = pos[i], tags[i]
        if chunk_of[i] >= 0:
            i += 1
            continue
        if p == "ADP":
            deps[i], heads[i] = "prep", _attach_left(i, c)
            nxt = i + 1
            if nxt in starts:
                obj = starts[nxt]
                deps[obj], heads[obj] = "pobj", i
            elif nxt < n and pos[nxt] in {"ADJ", "NOUN", "PROPN"} and chunk_of[nxt] < 0:
                deps[nxt], heads[nxt] = "pobj", i  # "dressed in orange"
                i += 1
            verb = None
        elif tag in _RELATIVES and p == "PRON" and i > 0 and chunk_of[i - 1] >= 0:
            deps[i] = "nsubj"  # "a bus that is blue": the pronoun is the subject of a relative clause on the bus
            relative = (i, chunk_of[i - 1])
        elif tag == "EX":
            deps[i] = "expl"
            following = _verb_group(i + 1, c)
            if following is not None:
                heads[i] = following[-1]
        elif p in _VERB_POS or tag.startswith("VB") or tag == "MD":
            group = _verb_group(i, c) or [i]
            main = group[-1]
            for k in group[:-1]:
                deps[k], heads[k] = ("neg" if lower[k] in {"not", "n't"} else "aux"), main
            finite = any(tags[k] in _FINITE for k in group)
            if relative is not None:
                pronoun, antecedent = relative
                heads[pronoun] = main
                deps[main], heads[main] = "relcl", antecedent
                relative = None
            elif finite and open_subjects:
                subject = open_subjects[-1]
                deps[subject], heads[subject] = "nsubj", main
                open_subjects.clear()
            if deps[main] == "relcl":
                pass
            elif root is None and finite:
                deps[main], heads[main], root = "ROOT", main, main
            elif i > 0 and pos[i - 1] == "CCONJ":
                deps[main] = "conj"
                heads[main] = next((k for k in range(i - 2, -1, -1) if pos[k] in _VERB_POS), main)
            elif not finite and i > 0 and chunk_of[i - 1] >= 0:
                deps[main], heads[main] = "acl", chunk_of[i - 1]  # "a man riding a horse"
            elif root is not None:
                heads[main] = root
            verb = main
            i = main + 1
            continue
        elif p == "ADJ":
            _adjective(i, c, verb)
        elif p == "CCONJ":
            deps[i] = "cc"
            heads[i] = _attach_left(i, c)
        elif p == "PUNCT":
            deps[i], heads[i] = "punct", max(i - 1, 0)
        i += 1


def _verb_group(i: int, c: _Caption) -> list[int] | None:
    """Tokens from `i` of one verb group: auxiliaries (adverbs and "not" between) up to the main verb."""
    pos, tags, lower, chunk_of = c.pos, c.tags, c.lower, c.chunk_of
    group: list[int] = []
    j = i
    while j < len(pos) and chunk_of[j] < 0:
        is_verb = pos[j] in _VERB_POS or tags[j].startswith("VB") or tags[j] == "MD"
        if is_verb:
            group.append(j)
            if lower[j] not in _AUX_WORDS and tags[j] != "MD":
                break
        elif not (pos[j] in {"ADV", "PART"} and group):
            break
        j += 1
    return group or None


def _complete(head: int, first: int, c: _Caption, verb: int | None, open_subjects: list[int]) -> None:
    """The role of a chunk that no preposition took: conjunct, object or predicate of the verb before, else an
    open subject (or the caption's root noun when no verb follows)."""
    pos, lower, deps, heads, chunk_of = c.pos, c.lower, c.deps, c.heads, c.chunk_of
    before = first - 1
    if before >= 0 and pos[before] == "CCONJ":
        left = before - 1
        while left >= 0 and pos[left] == "PUNCT":
            left -= 1
        if left >= 0 and chunk_of[left] >= 0:
            anchor = chunk_of[left]
            deps[head], heads[head] = "conj", anchor
            deps[before], heads[before] = "cc", anchor
            return
    if verb is not None:
        copula = lower[verb] in _AUX_WORDS
        expletive = any(deps[k] == "expl" and heads[k] == verb for k in range(verb))
        deps[head], heads[head] = ("attr" if copula or expletive else "dobj"), verb
        return
    if any(deps[k] == "ROOT" for k in range(first)):
        deps[head], heads[head] = "dep", head
        open_subjects.append(head)
        return
    deps[head], heads[head] = "ROOT", head  # a caption without a verb names its object: "A dog on a couch."
    open_subjects.append(head)


def _adjective(i: int, c: _Caption, verb: int | None) -> None:
    """An adjective outside the chunks: a conjunct ("black and white"), a predicate of the verb before
    ("is black"), or a post-nominal modifier ("a box full of")."""
    pos, deps, heads = c.pos, c.deps, c.heads
    before = i - 1
    if before >= 1 and pos[before] == "CCONJ" and pos[before - 1] == "ADJ":
        deps[i], heads[i] = "conj", before - 1 if deps[before - 1] != "conj" else heads[before - 1]
        deps[before], heads[before] = "cc", heads[i]
        return
    if before >= 1 and pos[before] == "CCONJ" and c.chunk_of[before - 1] == before - 1 and deps[before - 1] == "attr":
        deps[i], heads[i] = "conj", before - 1  # "is silver and brown": a colour tagged as a noun, then an adjective
        deps[before], heads[before] = "cc", before - 1
        return
    if verb is not None:
        deps[i], heads[i] = "acomp", verb
        return
    left = _attach_left(i, c)
    if left != i and pos[left] in _NOMINAL:
        deps[i], heads[i] = "amod", left
