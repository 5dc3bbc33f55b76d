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


@dataclass(frozen=True)
class _Lookup:
    """One attribute's values that any rule tests, sorted: a token's value becomes its position + 1 there, or 0 when
    no rule names it, so that each test is a boolean table indexed by that id (one indexing per test and batch,
    instead of an `np.isin` that costs far more on a small batch)."""

    known: np.ndarray

    def ids(self, column: np.ndarray) -> np.ndarray:
        if not len(self.known):
            return np.zeros(len(column), dtype=np.intp)
        at = np.searchsorted(self.known, column)
        found = self.known[np.minimum(at, len(self.known) - 1)] == column
        return np.where(found, at + 1, 0)

    def table(self, values: np.ndarray) -> np.ndarray:
        table = np.zeros(len(self.known) + 1, dtype=bool)
        table[np.searchsorted(self.known, values) + 1] = True
        return table


def _lookups(rules: Sequence[Rule]) -> dict[str, _Lookup]:
    return {
        key: _Lookup(
            np.unique(
                np.concatenate(
                    [v for r in rules for t in r.tests for k, v, _ in t if k == key] or [np.zeros(0, dtype="uint64")]
                )
            )
        )
        for key in _KEYS
    }


def _tables(rule: Rule, lookups: dict[str, _Lookup]) -> tuple[tuple[tuple[str, np.ndarray, bool], ...], ...]:
    """`rule.tests` with each set of allowed values as a boolean table over the attribute's ids."""
    return tuple(tuple((k, lookups[k].table(v), negated) for k, v, negated in tests) for tests in rule.tests)


def _matches(
    rule: Rule,
    tables: tuple[tuple[tuple[str, np.ndarray, bool], ...], ...],
    ids: dict[str, np.ndarray],
    doc_of: np.ndarray,
) -> np.ndarray:
    """Positions (in the concatenated batch) of the token each match of `rule` sets; `ids` are the batch's attribute
    ids (`_Lookup.ids`), `tables` the rule's tests over them (`_tables`)."""
    n, width = len(doc_of), len(rule.tests)
    hit = np.ones(max(n - width + 1, 0), dtype=bool)
    for offset, tests in enumerate(tables):
        for key, table, negated in tests:
            found = table[ids[key][offset : offset + len(hit)]]
            hit &= ~found if negated else found
    if width > 1:
        hit &= doc_of[: len(hit)] == doc_of[width - 1 : width - 1 + len(hit)]
    index = rule.index if rule.index >= 0 else width + rule.index
    return np.flatnonzero(hit) + index


class _OneTokenRules:
    """A run of consecutive one-token rules as one table over the tokens' attribute ids: per combination of the ids
    of the attributes the run reads, the value each set attribute ends with after the run's rules in order (later
    winning), and whether any rule set it. One indexing per batch instead of one match per rule."""

    def __init__(self, rules: Sequence[Rule], lookups: dict[str, _Lookup]) -> None:
        self.keys = tuple(k for k in _KEYS if any(key == k for r in rules for key, _, _ in r.tests[0]))
        sizes = [len(lookups[k].known) + 1 for k in self.keys]
        self.strides = [int(np.prod(sizes[i + 1 :], dtype=np.int64)) for i in range(len(sizes))]
        grid = dict(zip(self.keys, (a.reshape(-1) for a in np.indices(sizes)), strict=True)) if sizes else {}
        cells = int(np.prod(sizes, dtype=np.int64))
        self.value = {key: np.zeros(cells, dtype="uint64") for key in _SET}
        self.is_set = {key: np.zeros(cells, dtype=bool) for key in _SET}
        for rule in rules:
            hit = np.ones(cells, dtype=bool)
            for key, values, negated in rule.tests[0]:
                found = lookups[key].table(values)[grid[key]]
                hit &= ~found if negated else found
            for key, value in rule.sets:
                self.value[key][hit] = value
                self.is_set[key][hit] = True

    def apply(self, ids: dict[str, np.ndarray], values: dict[str, np.ndarray]) -> None:
        n = len(values["POS"])
        cell = np.zeros(n, dtype=np.intp)
        for key, stride in zip(self.keys, self.strides, strict=True):
            cell += ids[key] * stride
        for key in _SET:
            chosen = self.is_set[key][cell]
            values[key][chosen] = self.value[key][cell[chosen]]


class PosRules:
    """A pipeline component that sets POS (and TAG) as the attribute ruler would, on a batch at a time: the
    ruler's tag map and its exceptions as numpy masks, later rules winning (tests/test_nlp_fast_pos.py)."""

    def __init__(self, rules: Sequence[Rule], batch_size: int = 1024) -> None:
        self.rules = tuple(rules)
        self.batch_size = batch_size
        self._lookups = _lookups(self.rules)
        # in the rules' order: runs of one-token rules as one table each, longer rules matched one by one
        self._steps: list[_OneTokenRules | tuple[Rule, Any]] = []
        run: list[Rule] = []
        for rule in (*self.rules, None):
            if rule is not None and len(rule.tests) == 1:
                run.append(rule)
                continue
            if run:
                self._steps.append(_OneTokenRules(run, self._lookups))
                run = []
            if rule is not None:
                self._steps.append((rule, _tables(rule, self._lookups)))

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
        ids = {key: self._lookups[key].ids(column) for key, column in zip(_KEYS, table[:, :4].T, strict=True)}
        values = {"TAG": table[:, 0].copy(), "POS": table[:, 4].copy()}
        doc_of = np.repeat(np.arange(len(docs)), [len(a) for a in arrays])
        for step in self._steps:
            if isinstance(step, _OneTokenRules):
                step.apply(ids, values)
                continue
            rule, tables = step
            at = _matches(rule, tables, ids, doc_of)
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
