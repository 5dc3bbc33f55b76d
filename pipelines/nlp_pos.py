"""spaCy's attribute ruler (its POS and TAG rules) compiled to numpy masks over a whole batch of docs."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from itertools import islice
from typing import Any

import numpy as np

_KEYS = ("TAG", "LOWER", "DEP", "IS_SPACE")  # the token attributes the ruler's patterns read
_SET = ("POS", "TAG")  # the attributes its rules set that callers read (never MORPH or LEMMA)


@dataclass(frozen=True)
class Rule:
    """One ruler pattern: per pattern token, (attribute, allowed values, negated) tests; `sets` applies to the
    token at `index` of a match."""

    tests: tuple[tuple[tuple[str, np.ndarray, bool], ...], ...]
    index: int
    sets: tuple[tuple[str, int], ...]


def _test(key: str, value: Any, strings: Any) -> tuple[str, np.ndarray, bool]:
    if key not in _KEYS:
        raise ValueError(f"attribute ruler pattern reads {key}, which the compiled rules do not support")
    if isinstance(value, dict):
        (op, values), negated = next(iter(value.items())), "NOT_IN" in value
        if set(value) - {"IN", "NOT_IN"} or len(value) != 1:
            raise ValueError(f"unsupported attribute ruler predicate {value}")
    else:
        op, values, negated = "IN", [value], False
    ids = [int(v) if key == "IS_SPACE" else strings.add(v) if v else 0 for v in values]
    return key, np.array(ids, dtype="uint64"), negated and op == "NOT_IN"


def compile_rules(patterns: Sequence[dict[str, Any]], strings: Any) -> tuple[Rule, ...]:
    """The ruler's patterns (in its order: later rules win) as `Rule`s, keeping only the POS and TAG they set."""
    rules: list[Rule] = []
    for pattern in patterns:
        sets = tuple((k, strings.add(v)) for k, v in pattern["attrs"].items() if k in _SET)
        for tokens in pattern["patterns"] if sets else ():
            tests = tuple(tuple(_test(k, v, strings) for k, v in spec.items()) for spec in tokens)
            rules.append(Rule(tests, int(pattern.get("index", 0)), sets))
    return tuple(rules)


def _matches(rule: Rule, columns: dict[str, np.ndarray], doc_of: np.ndarray) -> np.ndarray:
    """Positions (in the concatenated batch) of the token each match of `rule` sets."""
    n, width = len(doc_of), len(rule.tests)
    hit = np.ones(max(n - width + 1, 0), dtype=bool)
    for offset, tests in enumerate(rule.tests):
        for key, values, negated in tests:
            found = np.isin(columns[key][offset : offset + len(hit)], values)
            hit &= ~found if negated else found
    if width > 1:
        hit &= doc_of[: len(hit)] == doc_of[width - 1 : width - 1 + len(hit)]
    index = rule.index if rule.index >= 0 else width + rule.index
    return np.flatnonzero(hit) + index


class PosRules:
    """A pipeline component that sets POS (and TAG) as the attribute ruler would, on a batch at a time: the
    ruler's tag map and its exceptions as numpy masks, later rules winning (tests/test_nlp_fast_pos.py)."""

    def __init__(self, rules: Sequence[Rule], batch_size: int = 1024) -> None:
        self.rules = tuple(rules)
        self.batch_size = batch_size

    def __call__(self, doc: Any) -> Any:
        self._apply([doc])
        return doc

    def pipe(self, docs: Iterable[Any], batch_size: int | None = None) -> Iterator[Any]:
        stream = iter(docs)
        while batch := list(islice(stream, batch_size or self.batch_size)):
            self._apply(batch)
            yield from batch

    def _apply(self, docs: Sequence[Any]) -> None:
        from spacy.attrs import DEP, IS_SPACE, LOWER, POS, TAG

        arrays = [doc.to_array([TAG, LOWER, DEP, IS_SPACE, POS]) for doc in docs]
        table = np.concatenate(arrays) if arrays else np.zeros((0, 5), dtype="uint64")
        columns = dict(zip(_KEYS, table[:, :4].T, strict=True))
        values = {"TAG": table[:, 0].copy(), "POS": table[:, 4].copy()}
        doc_of = np.repeat(np.arange(len(docs)), [len(a) for a in arrays])
        for rule in self.rules:
            at = _matches(rule, columns, doc_of)
            for key, value in rule.sets:
                values[key][at] = value
        tag_changed = values["TAG"] != table[:, 0]
        start = 0
        for doc, array in zip(docs, arrays, strict=True):
            end = start + len(array)
            if tag_changed[start:end].any():
                doc.from_array([POS, TAG], np.stack([values["POS"][start:end], values["TAG"][start:end]], axis=1))
            else:
                doc.from_array([POS], values["POS"][start:end])
            start = end
