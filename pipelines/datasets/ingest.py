"""``ingest``: decode, normalise (long side cap, RGB JPEG), hash, and mark exact duplicates within the shard."""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Iterable, Iterator
from typing import Literal

import pyarrow as pa
from PIL import Image

from pipelines.datasets.base import Dataset, DatasetConfig
from pipelines.datasets.registry import register
from pipelines.decode import DecodeConfig, Decoded, decode_sample
from pipelines.geometry import scale_geometry
from pipelines.schema import Failed, InputSample, Outcome, Rejected, Written


class IngestConfig(DatasetConfig):
    max_side: int = 1024
    jpeg_quality: int = 95
    max_pixels: int = 64_000_000
    min_side: int = 8
    require_caption: bool = True
    duplicates: Literal["reject", "mark"] = "reject"


def pixel_sha256(image: Image.Image) -> str:
    """sha256 over the decoded RGB pixels and the size: equal for the same picture in another container or with other metadata."""
    h = hashlib.sha256(f"{image.width}x{image.height}:".encode())
    h.update(image.tobytes())
    return h.hexdigest()


def normalise(image: Image.Image, max_side: int) -> Image.Image:
    """Downscale so that the long side is at most ``max_side`` (Lanczos); never upscale."""
    scale = max_side / max(image.size)
    if scale >= 1:
        return image
    size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
    return image.resize(size, Image.Resampling.LANCZOS)


def encode_jpeg(image: Image.Image, quality: int) -> bytes:
    buf = io.BytesIO()
    image.save(buf, format="JPEG", quality=quality, subsampling=0 if quality >= 90 else 2, optimize=False)
    return buf.getvalue()


@register
class Ingest(Dataset):
    name = "ingest"
    Config = IngestConfig
    fields = pa.schema(
        [
            ("width", pa.int32()),
            ("height", pa.int32()),
            ("orig_width", pa.int32()),
            ("orig_height", pa.int32()),
            ("orig_format", pa.string()),
            ("caption", pa.string()),
            ("sha256", pa.string()),
            ("duplicate_of", pa.string()),
            ("jpg_bytes", pa.int64()),
            ("url", pa.string()),
        ]
    )
    config: IngestConfig

    def process(self, samples: Iterable[InputSample]) -> Iterator[Outcome]:
        decode_config = DecodeConfig(self.config.max_pixels, self.config.min_side, self.config.require_caption)
        seen: dict[str, str] = {}
        for sample in samples:
            decoded = decode_sample(sample, decode_config)
            if isinstance(decoded, Failed):
                yield decoded
                continue
            yield self._one(decoded, seen)

    def _one(self, d: Decoded, seen: dict[str, str]) -> Outcome:
        digest = pixel_sha256(d.image)
        first = seen.setdefault(digest, d.key)
        fields = {
            "orig_width": d.orig_size[0],
            "orig_height": d.orig_size[1],
            "orig_format": d.orig_format,
            "caption": d.caption,
            "sha256": digest,
            "url": d.meta.get("url") or d.sample.url or None,
        }
        if first != d.key:
            fields["duplicate_of"] = first
            if self.config.duplicates == "reject":
                return Rejected(d.key, d.sample.source_key, "exact_duplicate", f"same pixels as {first}", fields)
        image = normalise(d.image, self.config.max_side)
        jpg = encode_jpeg(image, self.config.jpeg_quality)
        fields.update(width=image.width, height=image.height, jpg_bytes=len(jpg))
        record = {
            "key": d.key,
            "source_key": d.sample.source_key,
            "width": image.width,
            "height": image.height,
            "caption": d.caption,
            "sha256": digest,
            "duplicate_of": fields.get("duplicate_of"),
            "orig": {"width": d.orig_size[0], "height": d.orig_size[1], "format": d.orig_format},
            "source": _source_meta(d, image),
            "models": self.models(),
        }
        files = {
            "jpg": jpg,
            "txt": d.caption.encode("utf-8"),
            "json": json.dumps(record, sort_keys=True, ensure_ascii=False).encode(),
        }
        return Written(d.key, d.sample.source_key, files, fields)


def _source_meta(d: Decoded, stored: Image.Image) -> dict:
    """The source's json, its geometry (e.g. ground-truth text polygons) scaled to the stored image's pixels."""
    upright = d.image.size
    if stored.size == upright:
        return d.meta
    return scale_geometry(d.meta, stored.width / upright[0], stored.height / upright[1])
