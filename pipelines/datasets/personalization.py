"""``personalization``: caption entities (spaCy), their boxes (Grounding DINO) and per-instance masks (SAM), as in SDD."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pyarrow as pa

from pipelines.datasets.base import Dataset, model_stage
from pipelines.datasets.ingest import stored_jpeg
from pipelines.datasets.registry import register
from pipelines.decode import DecodeConfig, Decoded, decode_sample
from pipelines.personalization.counting import counted_caption
from pipelines.personalization.entities import Entity, grounding_prompt, match_phrase, parse_caption
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
    count_words: bool = False  # rewrite "a dog" as "two dogs" when two boxes match it (SDD does; see counting.py)


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
        d = decode_sample(sample, DecodeConfig(c.max_pixels, 8, True, max_side=c.max_side))
        if isinstance(d, Failed):
            return d
        image = d.pixels
        parsed = parse_caption(d.caption)  # one parse gives the noun count and the entities
        reason = image_reason(image, parsed.n_nouns, c)
        if reason:
            return Rejected(d.key, sample.source_key, reason, "", {"caption": d.caption, "n_nouns": parsed.n_nouns})
        return _Prepared(d, image, parsed.entities, grounding_prompt(parsed.entities), parsed.n_nouns)

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
        # a box whose phrase names no caption entity is dropped (and tallied) before NMS, so it suppresses nothing
        matches = [match_phrase(phrase, p.entities) for phrase in det.phrases]
        verdicts = filter_boxes(det.boxes, det.scores, w, h, c, [m is not None for m in matches])
        kept = verdicts.kept
        dropped = [r for r in verdicts.reasons if r is not None]
        entities: list[dict[str, Any]] = []
        matched: list[Entity] = []
        if kept:
            masks = self.segmenter.segment(p.image, det.boxes[kept])
            entities, matched, mask_drops = self._entities(p, det, kept, [matches[i] for i in kept], masks)
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
        return self._written(p, entities, matched, _tally(dropped), fields)

    def _entities(
        self, p: _Prepared, det: Any, kept: list[int], matches: list[Entity], masks: Any
    ) -> tuple[list[dict[str, Any]], list[Entity], list[str]]:
        """The record of each kept box whose mask fills enough of it, the entity each matched, and the mask drops."""
        from models.rle import masks_to_rle

        out, matched, drops = [], [], []
        rles = masks_to_rle(masks.masks)
        h, w = p.image.shape[:2]
        for j, i in enumerate(kept):
            box = det.boxes[i]
            fill = mask_fill(masks.masks[j], box)
            if fill < self.config.min_mask_fill:
                drops.append("mask_fill")
                continue
            entity = matches[j]
            matched.append(entity)
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
        return out, matched, drops

    def _written(
        self,
        p: _Prepared,
        entities: list[dict[str, Any]],
        matched: list[Entity],
        dropped: dict[str, int],
        fields: dict[str, Any],
    ) -> Written:
        d = p.decoded
        h, w = p.image.shape[:2]
        caption = d.caption
        if self.config.count_words:
            caption, entities = _counted(d.caption, p.entities, entities, matched)
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
        jpg = stored_jpeg(d, self.config.jpeg_quality)  # ingest's bytes as they are: the pixels did not change
        files = {
            "jpg": jpg,
            "txt": caption.encode(),
            "json": json.dumps(record, sort_keys=True, ensure_ascii=False).encode(),
        }
        return Written(d.key, d.sample.source_key, files, fields)


def _tally(reasons: list[str]) -> dict[str, int]:
    return {r: reasons.count(r) for r in sorted(set(reasons))}


def _counted(
    caption: str, parsed: list[Entity], records: list[dict[str, Any]], matched: list[Entity]
) -> tuple[str, list[dict[str, Any]]]:
    """The count-rewritten caption, and the entity records with phrase and span moved into it."""
    counted = counted_caption(caption, parsed, matched)
    moved = [counted.entities[parsed.index(m)] for m in matched]
    return counted.caption, [
        r | {"phrase": e.phrase, "span": list(e.span)} for r, e in zip(records, moved, strict=True)
    ]
