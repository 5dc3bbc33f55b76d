"""``personalization``: caption entities (spaCy), their boxes (Grounding DINO) and per-instance masks (SAM), as in SDD."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pyarrow as pa

from pipelines.datasets.base import Dataset, model_stage
from pipelines.datasets.ingest import encode_jpeg, normalise
from pipelines.datasets.registry import register
from pipelines.decode import DecodeConfig, Decoded, decode_sample
from pipelines.personalization.entities import Entity, count_nouns, extract_entities, grounding_prompt, match_phrase
from pipelines.personalization.filters import FilterConfig, count_reason, filter_boxes, image_reason, mask_fill
from pipelines.schema import Failed, InputSample, Outcome, Rejected, Written


class PersonalizationConfig(FilterConfig):
    max_side: int = 1024
    jpeg_quality: int = 95
    max_pixels: int = 64_000_000
    box_threshold: float = 0.25
    text_threshold: float = 0.2
    # images per Grounding DINO forward; None: 8 on CUDA (fills the GPU), 1 on CPU, where a batch runs serially and
    # padding only adds work (benchmarks/annotate.py: 0.68x the demo loop's rate at 8, results/annotate_tiny_cpu.json)
    batch_size: int | None = None
    decode_threads: int = 2
    device: Literal["cpu", "cuda"] = "cpu"
    dtype: Literal["float32", "bfloat16", "float16"] = "float32"
    sam_boxes_per_call: int = 256
    count_words: bool = False  # rewrite "a dog" as "two dogs" when two boxes share a label (SDD does this)


@dataclass(frozen=True)
class _Prepared:
    """A decoded sample that passed the image filters: the stored-size image and its caption entities."""

    decoded: Decoded
    image: np.ndarray  # HWC uint8 RGB at the stored size; models and geometry use these pixels
    entities: list[Entity]
    prompt: str
    n_nouns: int


@register
class Personalization(Dataset):
    name = "personalization"
    Config = PersonalizationConfig
    fields = pa.schema(
        [
            ("width", pa.int32()),
            ("height", pa.int32()),
            ("caption", pa.string()),
            ("n_nouns", pa.int32()),
            ("n_detections", pa.int32()),
            ("n_entities", pa.int32()),
            ("labels", pa.list_(pa.string())),
            ("dropped", pa.string()),
        ]
    )
    config: PersonalizationConfig

    @property
    def batch_size(self) -> int:
        return self.config.batch_size or (8 if self.config.device == "cuda" else 1)

    def setup(self) -> None:
        from models import build, spec_for

        c = self.config
        self.detector = build(
            "grounding_dino",
            spec_for(
                "grounding_dino",
                self.profile,
                device=c.device,
                dtype=c.dtype,
                batch_size=self.batch_size,
                box_threshold=c.box_threshold,
                text_threshold=c.text_threshold,
            ),
        )
        # one image embedding per image, and every box of it in one mask-decoder call
        self.segmenter = build(
            "sam", spec_for("sam", self.profile, device=c.device, dtype=c.dtype, batch_size=c.sam_boxes_per_call)
        )

    def models(self) -> dict[str, str]:
        from pipelines.nlp import parser_id

        if not hasattr(self, "detector"):
            self.setup()
        return {"parser": parser_id(), "detector": self.detector.model_id, "segmenter": self.segmenter.model_id}

    def process(self, samples: Iterable[InputSample]) -> Iterator[Outcome]:
        if not hasattr(self, "detector"):
            self.setup()
        c = self.config
        yield from model_stage(samples, self._prepare, self._detect, self._annotate, self.batch_size, c.decode_threads)

    def _detect(self, work: list[_Prepared]) -> list[Any]:
        return self.detector.detect([p.image for p in work], [p.prompt for p in work])

    def _prepare(self, sample: InputSample) -> _Prepared | Failed | Rejected:
        """CPU work ahead of the models: decode, normalise, image filters, caption entities."""
        c = self.config
        d = decode_sample(sample, DecodeConfig(c.max_pixels, 8, True))
        if isinstance(d, Failed):
            return d
        image = np.asarray(normalise(d.image, c.max_side).convert("RGB"))
        n_nouns = count_nouns(d.caption)
        reason = image_reason(image, n_nouns, c)
        if reason:
            return Rejected(d.key, sample.source_key, reason, "", {"caption": d.caption, "n_nouns": n_nouns})
        entities = extract_entities(d.caption)
        return _Prepared(d, image, entities, grounding_prompt(entities), n_nouns)

    def _annotate(self, p: _Prepared, det: Any) -> Outcome:
        c, d = self.config, p.decoded
        h, w = p.image.shape[:2]
        fields: dict[str, Any] = {
            "caption": d.caption,
            "n_nouns": p.n_nouns,
            "n_detections": len(det),
            "width": w,
            "height": h,
        }
        verdicts = filter_boxes(det.boxes, det.scores, w, h, c)
        kept = [i for i in verdicts.kept if match_phrase(det.phrases[i], p.entities) is not None]
        dropped = [r for r in verdicts.reasons if r is not None]
        entities: list[dict[str, Any]] = []
        if kept:
            masks = self.segmenter.segment(p.image, det.boxes[kept])
            entities, mask_drops = self._entities(p, det, kept, masks)
            dropped += mask_drops
        fields.update(
            n_entities=len(entities),
            labels=[e["label"] for e in entities],
            dropped=json.dumps(_tally(dropped), sort_keys=True),
        )
        reason = count_reason(len(entities), dropped, c)
        if reason:
            return Rejected(
                d.key,
                d.sample.source_key,
                reason,
                f"{len(entities)} boxes kept of {len(det)}; dropped {_tally(dropped)}",
                fields,
            )
        return self._written(p, entities, _tally(dropped), fields)

    def _entities(self, p: _Prepared, det: Any, kept: list[int], masks: Any) -> tuple[list[dict[str, Any]], list[str]]:
        from models.rle import masks_to_rle

        out, drops = [], []
        rles = masks_to_rle(masks.masks)
        h, w = p.image.shape[:2]
        for j, i in enumerate(kept):
            box = det.boxes[i]
            fill = mask_fill(masks.masks[j], box)
            if fill < self.config.min_mask_fill:
                drops.append("mask_fill")
                continue
            entity = match_phrase(det.phrases[i], p.entities)
            out.append(
                {
                    "label": entity.label,
                    "phrase": entity.phrase,
                    "span": list(entity.span),
                    "detected_phrase": det.phrases[i],
                    "box": [round(float(v), 2) for v in box],
                    "score": round(float(det.scores[i]), 4),
                    "mask": rles[j],
                    "mask_iou": round(float(masks.iou_scores[j]), 4),
                    "mask_fill": round(fill, 4),
                    "area_ratio": round(float((box[2] - box[0]) * (box[3] - box[1]) / (w * h)), 4),
                }
            )
        return out, drops

    def _written(
        self, p: _Prepared, entities: list[dict[str, Any]], dropped: dict[str, int], fields: dict[str, Any]
    ) -> Written:
        from PIL import Image

        d = p.decoded
        h, w = p.image.shape[:2]
        caption = counted_caption(d.caption, entities) if self.config.count_words else d.caption
        record = {
            "key": d.key,
            "source_key": d.sample.source_key,
            "width": w,
            "height": h,
            "caption": caption,
            "original_caption": d.caption,
            "prompt": p.prompt,
            "n_nouns": p.n_nouns,
            "entities": entities,
            "dropped_boxes": dropped,
            "models": self.models(),
        }
        jpg = encode_jpeg(Image.fromarray(p.image), self.config.jpeg_quality)
        files = {
            "jpg": jpg,
            "txt": caption.encode(),
            "json": json.dumps(record, sort_keys=True, ensure_ascii=False).encode(),
        }
        return Written(d.key, d.sample.source_key, files, fields)


def _tally(reasons: list[str]) -> dict[str, int]:
    return {r: reasons.count(r) for r in sorted(set(reasons))}


_COUNT_WORDS = {2: "two", 3: "three", 4: "four", 5: "five", 6: "six", 7: "seven", 8: "eight"}


def counted_caption(caption: str, entities: list[dict[str, Any]]) -> str:
    """SDD's count rewrite: where k >= 2 boxes share a label, the first mention of that phrase becomes "k <plural phrase>"
    (with its article), e.g. "a dog on a sofa" with two dog boxes -> "two dogs on a sofa"."""
    from pipelines.negatives.inflect import pluralize

    counts: dict[str, int] = {}
    for e in entities:
        counts[e["label"]] = counts.get(e["label"], 0) + 1
    spans = {}
    for e in entities:
        if counts[e["label"]] >= 2 and e["label"] not in spans:
            spans[e["label"]] = (tuple(e["span"]), e["phrase"])
    out = caption
    for label, ((start, end), phrase) in sorted(spans.items(), key=lambda kv: -kv[1][0][0]):
        before = out[:start].rstrip()
        for article in ("a", "an", "the", "one"):
            if before.lower().endswith(" " + article) or before.lower() == article:
                start = len(before) - len(article)
                break
        plural = phrase[: len(phrase) - len(label)] + pluralize(label) if phrase.endswith(label) else phrase
        out = out[:start] + f"{_COUNT_WORDS.get(counts[label], str(counts[label]))} {plural}" + out[end:]
    return out
