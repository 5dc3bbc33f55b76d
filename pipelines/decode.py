"""Safe decode of untrusted image bytes: EXIF orientation, any mode to RGB, a pixel limit, and a reason for every failure."""

from __future__ import annotations

import io
import json
import struct
import warnings
import zlib
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np
from PIL import Image, ImageFile, ImageOps, UnidentifiedImageError

from pipelines.schema import Failed, InputSample

ImageFile.LOAD_TRUNCATED_IMAGES = False  # a truncated file is a failure to record, never a half-grey image

IMAGE_EXTS = ("jpg", "jpeg", "png", "webp", "bmp", "tif", "tiff", "gif")

# Errors PIL's decoders raise on bad bytes (no I/O happens: the bytes are in memory). MemoryError is not here: it is raised.
_DECODE_ERRORS = (OSError, SyntaxError, ValueError, struct.error, EOFError, zlib.error, IndexError, TypeError)


class _Bad(NamedTuple):
    reason: str
    detail: str


@dataclass(frozen=True)
class DecodeConfig:
    max_pixels: int = 64_000_000  # width * height above this is a decompression bomb
    min_side: int = 8
    require_caption: bool = True


@dataclass(frozen=True)
class Decoded:
    """A decoded sample: ``image`` is RGB, EXIF-upright; ``orig_size`` is (width, height) as stored in the source."""

    sample: InputSample
    image: Image.Image
    caption: str
    meta: dict[str, Any]
    orig_size: tuple[int, int]
    orig_format: str

    @property
    def key(self) -> str:
        return self.sample.key

    def array(self) -> np.ndarray:
        """The image as HWC uint8 RGB."""
        return np.asarray(self.image, dtype=np.uint8)


def decode_sample(sample: InputSample, config: DecodeConfig = DecodeConfig()) -> Decoded | Failed:
    """Decode a source sample, or say exactly why not."""

    def fail(reason: str, detail: str = "") -> Failed:
        return Failed(sample.key, sample.source_key, reason, detail[:500])

    meta = _metadata(sample)
    if isinstance(meta, str):
        return fail("bad_metadata", meta)
    caption = _caption(sample, meta)
    if caption is None:
        return fail("bad_caption_encoding", "caption is not UTF-8")
    if config.require_caption and not caption:
        return fail("empty_caption")
    ext = next((e for e in IMAGE_EXTS if e in sample.files), None)
    if ext is None:
        return fail("missing_image", f"files: {sorted(sample.files)}")
    data = sample.files[ext]
    if not data:
        return fail("empty_file", f"{sample.key}.{ext} has 0 bytes")
    result = _open_image(data, config)
    if isinstance(result, _Bad):
        return fail(result.reason, result.detail)
    image, orig_size, fmt = result
    if min(image.size) < config.min_side:
        return fail("too_small", f"{image.size[0]}x{image.size[1]} < {config.min_side}px")
    return Decoded(sample, image, caption, meta, orig_size, fmt)


def _open_image(data: bytes, config: DecodeConfig) -> tuple[Image.Image, tuple[int, int], str] | _Bad:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        try:
            img = Image.open(io.BytesIO(data))
        except UnidentifiedImageError:
            return _Bad("not_an_image", f"no image format recognises the bytes (they start {data[:24]!r})")
        except Image.DecompressionBombError as e:
            return _Bad("too_large", str(e))
        except _DECODE_ERRORS as e:
            return _classify(e)
        w, h = img.size
        if w * h > config.max_pixels:
            return _Bad("too_large", f"{w}x{h} = {w * h} pixels > {config.max_pixels}")
        fmt = img.format or ""
        try:
            img.load()
        except _DECODE_ERRORS as e:
            return _classify(e)
        try:
            img = ImageOps.exif_transpose(img)
        except _DECODE_ERRORS as e:
            return _Bad("bad_exif", f"{type(e).__name__}: {e}")
    return to_rgb(img), (w, h), fmt


def _classify(e: Exception) -> _Bad:
    truncated = "truncated" in str(e).lower() or isinstance(e, EOFError)
    return _Bad("truncated" if truncated else "corrupt_image", f"{type(e).__name__}: {e}")


def to_rgb(img: Image.Image) -> Image.Image:
    """Any PIL mode to RGB; transparency is composited onto white, 16-bit and float images are scaled to 8 bits."""
    if img.mode == "RGB":
        return img
    if img.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        arr = np.asarray(img, dtype=np.float64)
        lo, hi = float(arr.min()), float(arr.max())
        scaled = (arr - lo) / (hi - lo) * 255.0 if hi > lo else np.zeros_like(arr)
        return Image.fromarray(scaled.round().astype(np.uint8), "L").convert("RGB")
    if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
        rgba = img.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return img.convert("RGB")


def _metadata(sample: InputSample) -> dict[str, Any] | str:
    raw = sample.files.get("json")
    if raw is None:
        return {}
    try:
        meta = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        return f"json does not parse: {e}"
    return meta if isinstance(meta, dict) else f"json is a {type(meta).__name__}, not an object"


def _caption(sample: InputSample, meta: dict[str, Any]) -> str | None:
    raw = sample.files.get("txt")
    if raw is not None:
        try:
            return raw.decode("utf-8").strip()
        except UnicodeDecodeError:
            return None
    caption = meta.get("caption")
    return caption.strip() if isinstance(caption, str) else ""
