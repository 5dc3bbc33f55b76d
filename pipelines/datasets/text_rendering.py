"""``text_rendering``: images whose text lines PP-OCR read, with polygons, a caption quoting the text, and the glyph and
position images that AnyText/TextDiffuser-style training conditions on."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, fields
from typing import Any, Literal

import numpy as np
import pyarrow as pa

from pipelines.datasets.base import Dataset, DatasetConfig, model_stage
from pipelines.datasets.ingest import stored_jpeg
from pipelines.datasets.registry import register
from pipelines.decode import DecodeConfig, Decoded, decode_sample
from pipelines.schema import Failed, InputSample, Outcome, Rejected, Written

_WORDS_CLAUSE = re.compile(r',?\s*with the words\s+".*$', re.IGNORECASE | re.DOTALL)


class TextRenderingConfig(DatasetConfig):
    backend: Literal["paddle", "rapid"] = "paddle"
    device: str = "cpu"
    det_limit_side_len: int = 960
    min_score: float = 0.5
    max_chars: int = 20
    max_valid_lines: int = 5
    max_lines: int = 8
    min_text_height: float = 8.0
    min_area_ratio: float = 0.01
    max_area_ratio: float = 0.8
    reject_document_like: bool = False
    merge_words: bool = True  # join confident boxes PP-OCR split at wide word gaps back into lines (lines.merge_words)
    merge_max_gap: float = 1.0  # in line heights
    max_side: int = 1024
    jpeg_quality: int = 95
    max_pixels: int = 64_000_000
    batch_size: int = 8
    decode_threads: int = 2


@dataclass(frozen=True)
class _Ready:
    decoded: Decoded
    image: np.ndarray  # HWC uint8 RGB at the stored size; OCR and geometry use these pixels


def base_caption(caption: str) -> str:
    """The caption without a trailing 'with the words "..."' clause (the pipeline writes its own from what OCR read)."""
    return _WORDS_CLAUSE.sub("", caption).strip()


@register
class TextRendering(Dataset):
    name = "text_rendering"
    Config = TextRenderingConfig
    fields = pa.schema(
        [
            ("width", pa.int32()),
            ("height", pa.int32()),
            ("caption", pa.string()),
            ("n_lines", pa.int32()),
            ("n_valid", pa.int32()),
            ("texts", pa.list_(pa.string())),
            ("mean_score", pa.float32()),
        ]
    )
    config: TextRenderingConfig

    def setup(self) -> None:
        from models.ocr import OCRConfig, build_ocr
        from pipelines.text.lines import TextRules

        c = self.config
        self.ocr = build_ocr(OCRConfig(backend=c.backend, device=c.device, det_limit_side_len=c.det_limit_side_len))
        # the rule thresholds are the config fields of the same name; the others keep TextRules' defaults
        self.rules = TextRules(
            **{f.name: getattr(c, f.name) for f in fields(TextRules) if f.name in type(c).model_fields}
        )

    def models(self) -> dict[str, str]:
        if not hasattr(self, "ocr"):
            self.setup()
        return {"ocr": self.ocr.model_id}

    def process(self, samples: Iterable[InputSample]) -> Iterator[Outcome]:
        if not hasattr(self, "ocr"):
            self.setup()
        c = self.config
        yield from model_stage(samples, self._prepare, self._read, self._annotate, c.batch_size, c.decode_threads)

    def _read(self, work: list[_Ready]) -> list[list]:
        """OCR lines, with the confident boxes of a row joined (the confidence filter comes first: see merge_words)."""
        from pipelines.text.lines import merge_words, unmerged

        c = self.config
        read = self.ocr.read([r.image for r in work])
        if not c.merge_words:
            return [unmerged(lines) for lines in read]
        return [merge_words(lines, c.merge_max_gap, self.rules.min_score) for lines in read]

    def _prepare(self, sample: InputSample) -> _Ready | Failed:
        c = self.config
        d = decode_sample(sample, DecodeConfig(c.max_pixels, 8, require_caption=False, max_side=c.max_side))
        if isinstance(d, Failed):
            return d
        return _Ready(d, d.pixels)

    def _annotate(self, r: _Ready, lines: list) -> Outcome:
        from pipelines.text.caption import caption_with_text
        from pipelines.text.lines import clip_polygon, position_cell, reject_reason, text_script, valid_flags

        d, (h, w) = r.decoded, r.image.shape[:2]
        fields: dict[str, Any] = {
            "width": w,
            "height": h,
            "n_lines": len(lines),
            "texts": [x.text for x in lines],
            "mean_score": float(np.mean([x.score for x in lines])) if lines else None,
        }
        reason = reject_reason(lines, w, h, self.rules)
        if reason:
            return Rejected(d.key, d.sample.source_key, reason, f"{len(lines)} lines read", fields)
        valid = valid_flags(lines, self.rules)
        records = [
            {
                "text": x.text,
                "polygon": clip_polygon(x.polygon, w, h).round(2).tolist(),
                "score": round(float(x.score), 4),
                "script": text_script(x.text),
                "cell": position_cell(x.polygon, w, h),
                "valid": ok,
                "words": [{"text": word.text, "score": round(float(word.score), 4)} for word in x.words],
            }
            for x, ok in zip(lines, valid, strict=True)
        ]
        base = base_caption(d.caption)
        caption = caption_with_text(base, [x["text"] for x in records if x["valid"]])
        fields.update(caption=caption, n_valid=sum(valid))
        return Written(d.key, d.sample.source_key, self._files(r, records, base, caption, lines, valid), fields)

    def _files(
        self, r: _Ready, records: list[dict], base: str, caption: str, lines: list, valid: list[bool]
    ) -> dict[str, bytes]:
        from pipelines.text.glyphs import glyph_image, png_bytes, position_mask

        d, (h, w) = r.decoded, r.image.shape[:2]
        chosen = [x for x, ok in zip(lines, valid, strict=True) if ok]
        record = {
            "key": d.key,
            "source_key": d.sample.source_key,
            "width": w,
            "height": h,
            "caption": caption,
            "base_caption": base,
            "text_lines": records,
            "models": self.models(),
        }
        return {
            # ingest's bytes as they are where the pixels did not change (no second generation loss)
            "jpg": stored_jpeg(d, self.config.jpeg_quality),
            "txt": caption.encode(),
            "json": json.dumps(record, sort_keys=True, ensure_ascii=False).encode(),
            "glyph.png": png_bytes(glyph_image(chosen, w, h)),
            "position.png": png_bytes(position_mask([x.polygon for x in chosen], w, h)),
        }
