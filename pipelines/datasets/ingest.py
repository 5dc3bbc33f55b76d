"""``ingest``: decode once at the stored size (long side cap), store RGB JPEG, hash it, mark exact duplicates."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator
from typing import Literal

import numpy as np
import pyarrow as pa
from PIL import Image

from pipelines.datasets.base import Dataset, DatasetConfig
from pipelines.datasets.registry import register
from pipelines.decode import DecodeConfig, Decoded, decode_sample, fit_size
from pipelines.geometry import scale_geometry
from pipelines.schema import Failed, InputSample, Outcome, Rejected, Written


class IngestConfig(DatasetConfig):
    max_side: int = 1024
    jpeg_quality: int = 95
    # chroma at half resolution, as img2dataset, cameras and web images store it (4:4:4 costs 1.6x the encode time and
    # the bytes; measured in benchmarks/ingest.py)
    jpeg_subsampling: Literal["4:2:0", "4:4:4"] = "4:2:0"
    max_pixels: int = 64_000_000
    min_side: int = 8
    require_caption: bool = True
    duplicates: Literal["reject", "mark"] = "reject"
    fast_dct: bool = False  # the reduced decode's fast integer IDCT (see DecodeConfig.fast_dct: faster, lower PSNR)


def stored_sha256(jpg: bytes) -> str:
    """sha256 of the stored ``<key>.jpg`` as written to the tar (``sha256sum`` of the member checks it).

    The stored JPEG is a deterministic encoding of the stored pixels (upright, capped), so the digest is equal for the
    same picture in another container or with other metadata, and for any two inputs whose stored images are identical;
    it changes with the encoder settings (``jpeg_quality``, ``jpeg_subsampling``). Hashing the ~9x smaller encoded bytes
    instead of the raw pixels is what benchmarks/ingest.py measures (``hash_stored_jpg_vs_pixels_cpu``)."""
    return hashlib.sha256(jpg).hexdigest()


def normalise(image: Image.Image, max_side: int) -> Image.Image:
    """Downscale so that the long side is at most ``max_side`` (Lanczos); never upscale."""
    size = fit_size(image.size, max_side)
    return image if size == image.size else image.resize(size, Image.Resampling.LANCZOS)


def encode_jpeg(image: Image.Image | np.ndarray, quality: int, subsampling: str | None = None) -> bytes:
    """RGB JPEG (libjpeg-turbo through simplejpeg) of a PIL image or HWC uint8 RGB pixels. ``subsampling`` is "4:2:0"
    or "4:4:4"; None: 4:4:4 from quality 90 up, else 4:2:0."""
    import simplejpeg

    pixels = np.ascontiguousarray(np.asarray(image.convert("RGB")) if isinstance(image, Image.Image) else image)
    chroma = (subsampling or ("4:4:4" if quality >= 90 else "4:2:0")).replace(":", "")
    return simplejpeg.encode_jpeg(pixels, quality, colorspace="RGB", colorsubsampling=chroma)


def stored_jpeg(d: Decoded, quality: int) -> bytes:
    """The jpg to store for ``d.pixels``: the source's own bytes where they decode to exactly these pixels (``as_is``:
    e.g. ingest's output read by a downstream dataset that keeps the pixels), so there is no second generation loss;
    else the pixels encoded at ``quality``."""
    return d.source_jpeg or encode_jpeg(d.pixels, quality)


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
        c = self.config
        decode_config = DecodeConfig(
            c.max_pixels, c.min_side, c.require_caption, max_side=c.max_side, fast_dct=c.fast_dct
        )
        seen: dict[str, str] = {}
        for sample in samples:
            decoded = decode_sample(sample, decode_config)
            if isinstance(decoded, Failed):
                yield decoded
                continue
            yield self._one(decoded, seen)

    def _one(self, d: Decoded, seen: dict[str, str]) -> Outcome:
        height, width = d.pixels.shape[:2]
        jpg = encode_jpeg(d.pixels, self.config.jpeg_quality, self.config.jpeg_subsampling)
        digest = stored_sha256(jpg)
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
                return Rejected(d.key, d.sample.source_key, "exact_duplicate", f"same stored jpg as {first}", fields)
        fields.update(width=width, height=height, jpg_bytes=len(jpg))
        record = {
            "key": d.key,
            "source_key": d.sample.source_key,
            "width": width,
            "height": height,
            "caption": d.caption,
            "sha256": digest,
            "duplicate_of": fields.get("duplicate_of"),
            "orig": {"width": d.orig_size[0], "height": d.orig_size[1], "format": d.orig_format},
            "source": _source_meta(d, (width, height)),
            "models": self.models(),
        }
        files = {
            "jpg": jpg,
            "txt": d.caption.encode("utf-8"),
            "json": json.dumps(record, sort_keys=True, ensure_ascii=False).encode(),
        }
        return Written(d.key, d.sample.source_key, files, fields)


def _source_meta(d: Decoded, stored: tuple[int, int]) -> dict:
    """The source's json, its geometry (e.g. ground-truth text polygons) scaled from the upright full-resolution frame
    to the stored image's pixels."""
    upright = d.upright_size
    if stored == upright:
        return d.meta
    return scale_geometry(d.meta, stored[0] / upright[0], stored[1] / upright[1])
