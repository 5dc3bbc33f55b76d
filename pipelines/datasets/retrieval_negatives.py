"""``retrieval_negatives``: image, caption and attribute-swapped hard-negative captions (SVLC swaps, SugarCrepe kinds)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import asdict
from typing import Any, Literal

import pyarrow as pa

from pipelines.datasets.base import Dataset, DatasetConfig
from pipelines.datasets.ingest import stored_jpeg
from pipelines.datasets.registry import register
from pipelines.decode import DecodeConfig, Decoded, decode_sample
from pipelines.negatives import (
    NO_ATTRIBUTE_TO_SWAP,
    VOCAB_VERSION,
    Negative,
    NegativesConfig,
    generate_negatives_many,
)
from pipelines.parallel import batched
from pipelines.schema import Failed, InputSample, Outcome, Rejected, Written

Kind = Literal["replace-att", "swap-att", "replace-count", "replace-obj"]
Structure = Literal["pos", "dep"]  # pipelines/negatives/parse.py: rules on the tags, or spaCy's dependency parse


class RetrievalNegativesConfig(DatasetConfig):
    n: int = 3
    kinds: tuple[Kind, ...] = ("replace-att", "swap-att", "replace-count")
    seed: int = 0
    open_vocabulary: bool = True  # attribute words outside the curated vocabulary, replaced through WordNet
    parse: Structure = "pos"  # where a caption's structure comes from ("dep" also runs spaCy's parser)
    max_side: int = 1024
    jpeg_quality: int = 95
    max_pixels: int = 64_000_000
    batch_size: int = 64  # captions parsed together (spaCy's nlp.pipe)


def negative_record(n: Negative) -> dict[str, Any]:
    record = asdict(n)
    record["span"] = list(n.span)
    return record


@register
class RetrievalNegatives(Dataset):
    name = "retrieval_negatives"
    Config = RetrievalNegativesConfig
    fields = pa.schema(
        [
            ("width", pa.int32()),
            ("height", pa.int32()),
            ("caption", pa.string()),
            ("n_negatives", pa.int32()),
            ("kinds", pa.list_(pa.string())),
        ]
    )
    config: RetrievalNegativesConfig

    def models(self) -> dict[str, str]:
        from pipelines.negatives.wordnet import WORDNET_VERSION
        from pipelines.nlp import parser_id

        lexicon = f"+{WORDNET_VERSION}" if self.config.open_vocabulary else ""
        # the spaCy pipeline and the structure read from it: "+pos" its tags through structure.py's rules (the
        # parser not run), "+dep" its dependency parse
        return {"parser": f"{parser_id()}+{self.config.parse}", "negatives": f"rules-{VOCAB_VERSION}{lexicon}"}

    def process(self, samples: Iterable[InputSample]) -> Iterator[Outcome]:
        c = self.config
        rules = NegativesConfig(n=c.n, kinds=c.kinds, seed=c.seed, open_vocabulary=c.open_vocabulary, parse=c.parse)
        decode_config = DecodeConfig(c.max_pixels, 8, True, max_side=c.max_side)
        for batch in batched((decode_sample(s, decode_config) for s in samples), c.batch_size):
            decoded = [d for d in batch if isinstance(d, Decoded)]
            negatives = iter(generate_negatives_many([d.caption for d in decoded], rules))
            for d in batch:
                yield d if isinstance(d, Failed) else self._one(d, next(negatives))

    def _one(self, d: Decoded, negatives: list[Negative]) -> Outcome:
        fields: dict[str, Any] = {
            "caption": d.caption,
            "n_negatives": len(negatives),
            "kinds": [n.kind for n in negatives],
        }
        if not negatives:
            return Rejected(d.key, d.sample.source_key, NO_ATTRIBUTE_TO_SWAP, "", fields)
        height, width = d.pixels.shape[:2]
        fields.update(width=width, height=height)
        record = {
            "key": d.key,
            "source_key": d.sample.source_key,
            "width": width,
            "height": height,
            "caption": d.caption,
            "negatives": [negative_record(n) for n in negatives],
            "models": self.models(),
        }
        files = {
            # ingest's bytes as they are where the pixels did not change (no second generation loss)
            "jpg": stored_jpeg(d, self.config.jpeg_quality),
            "txt": d.caption.encode(),
            "json": json.dumps(record, sort_keys=True, ensure_ascii=False).encode(),
        }
        return Written(d.key, d.sample.source_key, files, fields)
