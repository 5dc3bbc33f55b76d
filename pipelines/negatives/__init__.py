"""Attribute-swapped hard-negative captions for fine-grained image-text retrieval (pure logic, no I/O)."""

from __future__ import annotations

from pipelines.negatives.attributes import AttributeWord
from pipelines.negatives.core import (
    DEFAULT_KINDS,
    NO_ATTRIBUTE_TO_SWAP,
    Negative,
    NegativesConfig,
    attribute_words,
    generate_negatives,
    generate_negatives_many,
    stable_seed,
)
from pipelines.negatives.generate import KINDS, Kind
from pipelines.negatives.vocab import load_vocabulary

VOCAB_VERSION: str = load_vocabulary().version

__all__ = [
    "DEFAULT_KINDS",
    "KINDS",
    "NO_ATTRIBUTE_TO_SWAP",
    "VOCAB_VERSION",
    "AttributeWord",
    "Kind",
    "Negative",
    "NegativesConfig",
    "attribute_words",
    "generate_negatives",
    "generate_negatives_many",
    "stable_seed",
]
