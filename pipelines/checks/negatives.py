"""The ``validity`` check of hard negatives, by a second implementation: the texts diffed token by token (difflib), with
no use of the generator's spans, vocabularies or parse; each kind's edit must be what the diff shows."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from difflib import SequenceMatcher
from itertools import groupby
from typing import Any

from pipelines.checks.base import CheckOutcome, outcome
from pipelines.store.reader import ShardReader

_TOKEN = re.compile(r"\w+(?:['-]\w+)*|[^\w\s]")
_ARTICLES = frozenset({"a", "an"})
_NUMBER_WORDS = [
    "zero",
    "one",
    "two",
    "three",
    "four",
    "five",
    "six",
    "seven",
    "eight",
    "nine",
    "ten",
    "eleven",
    "twelve",
    "thirteen",
    "fourteen",
    "fifteen",
    "sixteen",
    "seventeen",
    "eighteen",
    "nineteen",
    "twenty",
]
_COUNTS = {w: i for i, w in enumerate(_NUMBER_WORDS)} | {"a": 1, "an": 1, "single": 1, "dozen": 12}
# Verb forms that agree with a changed count ("a dog is" -> "two dogs are").
_AGREEMENT = {frozenset(p) for p in (("is", "are"), ("was", "were"), ("has", "have"), ("does", "do"))}
MAX_CHANGED_TOKENS = 6  # a hard negative is a minimal edit: more new words than this is a rewrite


@dataclass(frozen=True)
class Token:
    text: str
    start: int
    end: int

    @property
    def fold(self) -> str:
        return self.text.casefold()


@dataclass(frozen=True)
class Change:
    """One differing region of the diff: the positive's tokens ``old`` became ``new``."""

    old: tuple[Token, ...]
    new: tuple[Token, ...]

    @property
    def is_article(self) -> bool:
        """Only "a" <-> "an" (agreement with the next word), no content."""
        return len(self.old) == len(self.new) == 1 and {self.old[0].fold, self.new[0].fold} <= _ARTICLES


def tokens(text: str) -> list[Token]:
    return [Token(m.group(0), m.start(), m.end()) for m in _TOKEN.finditer(text)]


def changes(positive: str, negative: str) -> list[Change]:
    """The regions where the negative's tokens differ from the positive's (case counts), in order. Texts of as many
    tokens are compared position by position (a swap stays two regions); others are aligned by ``difflib``."""
    old, new = tokens(positive), tokens(negative)
    if len(old) == len(new):
        differ = [i for i, (a, b) in enumerate(zip(old, new, strict=True)) if a.text != b.text]
        runs = [[i for _, i in g] for _, g in groupby(enumerate(differ), key=lambda p: p[1] - p[0])]
        return [Change(tuple(old[r[0] : r[-1] + 1]), tuple(new[r[0] : r[-1] + 1])) for r in runs]
    matcher = SequenceMatcher(None, [t.text for t in old], [t.text for t in new], autojunk=False)
    return [
        Change(tuple(old[i1:i2]), tuple(new[j1:j2])) for op, i1, i2, j1, j2 in matcher.get_opcodes() if op != "equal"
    ]


def _words(ts: Iterable[Token]) -> list[str]:
    return [t.fold for t in ts]


def count_of(token: Token) -> int | None:
    return int(token.text) if token.text.isdigit() else _COUNTS.get(token.fold)


def _replace_att(content: list[Change]) -> str | None:
    if len(content) != 1:
        return f"replace-att changes {len(content)} places, not one"
    change = content[0]
    if not change.old or not change.new or len(change.old) > 3 or len(change.new) > 3:
        return "replace-att must replace 1-3 words by 1-3 words"
    if not all(t.text.replace("-", "").replace("'", "").isalpha() for t in change.old + change.new):
        return "replace-att replaces or inserts something that is not a word"
    return None


def _swap_att(content: list[Change], positive: str, negative: str) -> str | None:
    if len(content) < 2 and not (len(content) == 1 and len(content[0].old) >= 3):
        return "swap-att changes fewer than two places"
    # "a red apple and an orange" -> "an orange apple and a red": the articles follow their new words
    moved_out = Counter(w for c in content for w in _words(c.old) if w not in _ARTICLES)
    moved_in = Counter(w for c in content for w in _words(c.new) if w not in _ARTICLES)
    if moved_out != moved_in:
        return f"swap-att brings in words the positive does not have: {sorted((moved_in - moved_out).elements())}"
    kept = Counter(w for w in _words(tokens(positive)) if w not in _ARTICLES)
    if kept != Counter(w for w in _words(tokens(negative)) if w not in _ARTICLES):
        return "swap-att is not a permutation of the positive's words"
    return None


def _inflection(change: Change) -> bool:
    """A single word turned into another form of itself: the noun's number or the verb's agreement."""
    if len(change.old) != 1 or len(change.new) != 1:
        return False
    old, new = change.old[0].fold, change.new[0].fold
    return frozenset((old, new)) in _AGREEMENT or (old[:1] == new[:1] and old != new)


def _pairs(content: list[Change]) -> list[Change]:
    """Regions of as many new as old tokens split into one change per token ("a dog is" -> "two dogs are": three)."""
    out = []
    for c in content:
        if len(c.old) == len(c.new) > 1:
            out += [Change((o,), (n,)) for o, n in zip(c.old, c.new, strict=True) if o.text != n.text]
        else:
            out.append(c)
    return out


def _replace_count(content: list[Change]) -> str | None:
    content = _pairs(content)
    counted = [c for c in content if len(c.old) == len(c.new) == 1 and count_of(c.old[0]) is not None]
    changed = [c for c in counted if count_of(c.new[0]) not in (None, count_of(c.old[0]))]
    if len(changed) != 1:
        return f"replace-count changes {len(changed)} counts, not one"
    if not all(_inflection(c) for c in content if c is not changed[0]):
        return "replace-count changes more than the count and its agreement"
    return None


def _replace_obj(content: list[Change]) -> str | None:
    if len(content) != 1 or not (1 <= len(content[0].old) <= 2 and 1 <= len(content[0].new) <= 2):
        return "replace-obj must replace one noun"
    return None


def kind_problem(kind: str, positive: str, negative: str, content: list[Change]) -> str | None:
    """What about the diff does not fit ``kind``; None when it fits."""
    if kind == "replace-att":
        return _replace_att(content)
    if kind == "swap-att":
        return _swap_att(content, positive, negative)
    if kind == "replace-count":
        return _replace_count(content)
    if kind == "replace-obj":
        return _replace_obj(content)
    return f"unknown kind {kind!r}"


def _outside_span(change: Change, span: Any) -> list[str]:
    try:
        start, end = int(span[0]), int(span[1])
    except (TypeError, ValueError, IndexError):
        return [f"span {span!r} is not [start, end]"]
    return [
        f"{t.text!r} at {t.start} changed outside the recorded span {start}:{end}"
        for t in change.old
        if not (start <= t.start and t.end <= end)
    ]


def audit_negative(positive: str, negative: dict[str, Any], seen: set[tuple[str, ...]]) -> list[str]:
    """What is wrong with one negative of ``positive``; ``seen`` (token sequences, case folded) grows by its text."""
    text = str(negative.get("text", ""))
    diff = changes(positive, text)
    if not diff:
        return ["identical to the positive (same tokens)"]
    problems = []
    folded = tuple(t.fold for t in tokens(text))
    if folded in seen:
        problems.append("repeats the positive or an earlier negative (ignoring case)")
    seen.add(folded)
    content = [c for c in diff if not c.is_article]
    if not content:
        return [*problems, "only an article changed"]
    changed = sum(max(len(c.old), len(c.new)) for c in content)
    if changed > MAX_CHANGED_TOKENS and negative.get("kind") != "swap-att":  # a swap only moves words (checked below)
        problems.append(f"{changed} words changed: not a minimal edit")
    kind = kind_problem(str(negative.get("kind")), positive, text, content)
    problems += [kind] if kind else []
    quoted = [t.text for c in diff for t in c.old if _quoted(positive, t.start)]
    problems += [f"changes quoted text {quoted}: the words the image shows"] if quoted else []
    return problems + [p for c in diff for p in _outside_span(c, negative.get("span"))]


def _quoted(text: str, at: int) -> bool:
    """Whether position ``at`` lies between an odd number of double quotes (straight or curly) and the next."""
    return sum(text[:at].count(q) for q in ('"', "\u201c", "\u201d")) % 2 == 1


def audit_record(record: dict[str, Any]) -> list[str]:
    """Every problem of a record's negatives, each prefixed by its index."""
    positive = str(record.get("caption", ""))
    seen = {tuple(t.fold for t in tokens(positive))}
    return [
        f"negatives[{i}] ({n.get('kind')}): {p}"
        for i, n in enumerate(record.get("negatives", []))
        for p in audit_negative(positive, n, seen)
    ]


def validity(dataset_url: str, shards: list[str]) -> CheckOutcome:
    """Every negative of every ok sample of ``shards`` audited; the mix of kinds as metadata."""
    reader, kinds, problems, records = ShardReader(dataset_url), Counter(), [], 0
    for shard in shards:
        for sample in reader.samples(shard):
            record, records = sample.record, records + 1
            kinds.update(str(n.get("kind")) for n in record.get("negatives", []))
            problems += [f"{shard}/{sample.key}: {p}" for p in audit_record(record)]
    return outcome(
        "validity", problems, records=records, negatives=sum(kinds.values()), kinds=dict(sorted(kinds.items()))
    )
