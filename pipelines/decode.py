"""Safe decode of untrusted image bytes: EXIF orientation, any mode to RGB, a pixel limit, and a reason for every failure."""

from __future__ import annotations

import io
import json
import struct
import warnings
import zlib
from dataclasses import dataclass
from functools import cached_property
from typing import Any, NamedTuple

import numpy as np
from PIL import Image, ImageFile, ImageOps, UnidentifiedImageError

from pipelines.schema import Failed, InputSample

ImageFile.LOAD_TRUNCATED_IMAGES = False  # a truncated file is a failure to record, never a half-grey image

IMAGE_EXTS = ("jpg", "jpeg", "png", "webp", "bmp", "tif", "tiff", "gif")

# Errors PIL's decoders raise on bad bytes (no I/O happens: the bytes are in memory). MemoryError is not here: it is raised.
_DECODE_ERRORS = (OSError, SyntaxError, ValueError, struct.error, EOFError, zlib.error, IndexError, TypeError)

_ORIENTATION = 0x0112
_TRANSPOSE = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}  # the EXIF orientations, as ImageOps.exif_transpose maps them


# the same turns for OpenCV: (flip code or None, then rotation or None); 0 flips top-bottom, 1 left-right
_CV2_TURNS = {
    2: (1, None),
    3: (None, 1),  # cv2.ROTATE_180
    4: (0, None),
    5: (1, 2),  # transpose: mirror left-right, then a quarter turn counter-clockwise
    6: (None, 0),  # cv2.ROTATE_90_CLOCKWISE
    7: (1, 0),  # transverse: mirror left-right, then a quarter turn clockwise
    8: (None, 2),  # cv2.ROTATE_90_COUNTERCLOCKWISE
}


class _Bad(NamedTuple):
    reason: str
    detail: str


@dataclass(frozen=True)
class DecodeConfig:
    max_pixels: int = 64_000_000  # width * height above this is a decompression bomb
    min_side: int = 8
    require_caption: bool = True
    # cap the long side while decoding (see ``fit_size``): a JPEG then decodes at a reduced DCT scale; None keeps full size
    max_side: int | None = None
    # libjpeg-turbo's fast integer IDCT on the reduced JPEG decode: a little less CPU for a lower PSNR (benchmarks/ingest.py
    # measures both; see its results), so off by default
    fast_dct: bool = False


@dataclass(frozen=True)
class _Opened:
    pixels: np.ndarray
    orig_size: tuple[int, int]
    upright_size: tuple[int, int]
    fmt: str
    as_is: bool


@dataclass(frozen=True, eq=False)
class Decoded:
    """A decoded sample. ``pixels`` is HWC uint8 RGB, EXIF-upright, its long side capped at ``DecodeConfig.max_side``;
    ``orig_size`` is (width, height) as stored in the source, ``upright_size`` the same after the EXIF orientation (the
    frame that source geometry is in). ``as_is``: the source's own image bytes decode to exactly ``pixels`` (an RGB JPEG
    without EXIF rotation, not resized), so they can be stored unchanged (see ``source_jpeg``)."""

    sample: InputSample
    pixels: np.ndarray
    caption: str
    meta: dict[str, Any]
    orig_size: tuple[int, int]
    orig_format: str
    upright_size: tuple[int, int]
    as_is: bool = False

    @property
    def key(self) -> str:
        return self.sample.key

    @cached_property
    def image(self) -> Image.Image:
        """``pixels`` as a PIL RGB image."""
        return Image.fromarray(self.pixels, "RGB")

    def array(self) -> np.ndarray:
        """The image as HWC uint8 RGB."""
        return self.pixels

    @property
    def source_jpeg(self) -> bytes | None:
        """The source's JPEG bytes when they decode to exactly ``pixels`` (``as_is``), else None."""
        return _image_file(self.sample)[1] if self.as_is else None


def fit_size(size: tuple[int, int], max_side: int | None) -> tuple[int, int]:
    """(width, height) with the long side scaled down to ``max_side`` (each side rounded, at least 1); never larger."""
    scale = max_side / max(size) if max_side else 1.0
    if scale >= 1:
        return size
    return max(1, round(size[0] * scale)), max(1, round(size[1] * scale))


def decode_sample(sample: InputSample, config: DecodeConfig = DecodeConfig()) -> Decoded | Failed:
    """Decode a source sample (once, at the size it is needed: see ``DecodeConfig.max_side``), or say exactly why not."""

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
    ext, data = _image_file(sample)
    if ext is None:
        return fail("missing_image", f"files: {sorted(sample.files)}")
    if not data:
        return fail("empty_file", f"{sample.key}.{ext} has 0 bytes")
    result = _open_image(data, config)
    if isinstance(result, _Bad):
        return fail(result.reason, result.detail)
    w, h = result.upright_size
    if min(w, h) < config.min_side:
        return fail("too_small", f"{w}x{h} < {config.min_side}px")
    return Decoded(
        sample, result.pixels, caption, meta, result.orig_size, result.fmt, result.upright_size, result.as_is
    )


def _image_file(sample: InputSample) -> tuple[str | None, bytes]:
    ext = next((e for e in IMAGE_EXTS if e in sample.files), None)
    return ext, sample.files[ext] if ext else b""


def _open_image(data: bytes, config: DecodeConfig) -> _Opened | _Bad:
    """The decompression-bomb check from the header, then the JPEG fast path where it applies, else PIL's full decode."""
    header = _jpeg_header(data) if config.max_side else None
    if header is not None and header.pixels <= config.max_pixels:
        fast = _jpeg_reduced_from(header, data, config.max_side, config.fast_dct)
        if fast is not None:
            return fast
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
        # a header read without PIL has had its reduced decode tried already (above): PIL decodes what it left
        fast = _jpeg_reduced(img, data, config.max_side, config.fast_dct) if header is None else None
        return fast if fast is not None else _pil_decode(img, config.max_side)


class _JpegHeader(NamedTuple):
    """What the reduced decode needs of a JPEG, read without PIL: size, one channel or three, EXIF orientation."""

    width: int
    height: int
    grey: bool
    orientation: int

    @property
    def pixels(self) -> int:
        return self.width * self.height


def _jpeg_header(data: bytes) -> _JpegHeader | None:
    """The header of a baseline or progressive YCbCr or greyscale JPEG (libjpeg-turbo's, through simplejpeg) and its
    EXIF orientation (the first APP1 ``Exif`` segment, read by PIL's ``Image.Exif``). None for anything else (other
    formats and colour spaces, unreadable headers or EXIF): PIL then opens the bytes and decides, as it always has."""
    if not data.startswith(b"\xff\xd8"):
        return None
    import simplejpeg

    try:
        height, width, colorspace, _ = simplejpeg.decode_jpeg_header(data)
    except ValueError:
        return None
    if colorspace not in ("YCbCr", "Gray"):
        return None
    orientation = 1
    exif = _exif_segment(data)
    if exif is False:
        return None
    if exif is not None:
        try:
            found = Image.Exif()
            found.load(exif)
            orientation = found.get(_ORIENTATION, 1)
        except _DECODE_ERRORS:
            return None
    return _JpegHeader(width, height, colorspace == "Gray", orientation)


def _exif_segment(data: bytes) -> bytes | None | bool:
    """The payload of a JPEG's first APP1 segment that starts ``Exif\\0\\0`` (markers walked up to the scan), None
    without one, or False where an XMP packet is there too (PIL's ``getexif`` may take the orientation from it)."""
    i, exif = 2, None
    while i + 4 <= len(data) and data[i] == 0xFF:
        marker = data[i + 1]
        if marker in (0xD9, 0xDA):  # end of image, start of scan: no more header segments
            break
        if marker == 0xFF or 0xD0 <= marker <= 0xD7 or marker == 0x01:  # fill byte, restart and TEM markers: no length
            i += 1 if marker == 0xFF else 2
            continue
        (length,) = struct.unpack_from(">H", data, i + 2)
        if marker == 0xE1:
            payload = data[i + 4 : i + 2 + length]
            if payload.startswith(b"http://ns.adobe.com/xap/1.0/"):
                return False
            if exif is None and payload.startswith(b"Exif\x00\x00"):
                exif = payload
        i += 2 + length
    return exif


def _jpeg_reduced(img: Image.Image, data: bytes, max_side: int | None, fast_dct: bool = False) -> _Opened | None:
    """``_jpeg_reduced_from`` for bytes PIL has opened (its mode and EXIF), where ``_jpeg_header`` gave none."""
    if img.format != "JPEG" or img.mode not in ("RGB", "L") or not max_side:
        return None
    try:
        orientation = img.getexif().get(_ORIENTATION, 1)
    except _DECODE_ERRORS:
        return None
    header = _JpegHeader(img.size[0], img.size[1], img.mode == "L", orientation)
    return _jpeg_reduced_from(header, data, max_side, fast_dct)


def _jpeg_reduced_from(
    header: _JpegHeader, data: bytes, max_side: int | None, fast_dct: bool = False
) -> _Opened | None:
    """A YCbCr or greyscale JPEG larger than the cap: decode once at the largest power-of-two DCT scale (1/2, 1/4, 1/8:
    libjpeg-turbo's SIMD paths) that still covers the stored size, shrink the rest of the way, then apply the EXIF
    orientation. None where this does not apply or the bytes do not decode cleanly: PIL then decodes them and names
    the failure as it always has."""
    if not max_side:
        return None
    w, h, grey, orientation = header
    turned = orientation in (5, 6, 7, 8)
    upright = (h, w) if turned else (w, h)
    target = fit_size(upright, max_side)
    if target == upright:
        return None
    tw, th = target[::-1] if turned else target
    k = next(k for k in (8, 4, 2, 1) if -(-w // k) >= tw and -(-h // k) >= th)
    import cv2
    import simplejpeg

    # a greyscale JPEG stays one channel through decode, shrink and turn; copied to RGB's three at the end (the same bytes)
    try:
        pixels = simplejpeg.decode_jpeg(
            data, "GRAY" if grey else "RGB", fastdct=fast_dct, min_width=-(-w // k), min_height=-(-h // k)
        )
    except ValueError:
        return None
    pixels = _upright(_shrink(pixels[..., 0] if grey else pixels, (tw, th)), orientation)
    return _Opened(cv2.cvtColor(pixels, cv2.COLOR_GRAY2RGB) if grey else pixels, (w, h), upright, "JPEG", as_is=False)


def _upright(pixels: np.ndarray, orientation: int) -> np.ndarray:
    """HWC pixels turned by an EXIF orientation (``_TRANSPOSE``'s turns, done by OpenCV: a C-contiguous result)."""
    import cv2

    flip, rotate = _CV2_TURNS.get(orientation, (None, None))
    if flip is not None:
        pixels = cv2.flip(pixels, flip)
    return cv2.rotate(pixels, rotate) if rotate is not None else pixels


def _shrink(pixels: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """HWC uint8 down to ``size`` (w, h): bilinear (OpenCV's fixed-point 8-bit path: the same bytes on every run) for the
    less than 2x that DCT scaling leaves, area averaging where more is left (beyond 1/8 scale)."""
    if (pixels.shape[1], pixels.shape[0]) == size:
        return pixels
    import cv2

    cv2.setNumThreads(1)  # one image is too small to share out: threads cost CPU time (a worker is a process per core)
    interpolation = cv2.INTER_LINEAR if pixels.shape[1] < 2 * size[0] else cv2.INTER_AREA
    return cv2.resize(pixels, size, interpolation=interpolation)


def _pil_decode(img: Image.Image, max_side: int | None) -> _Opened | _Bad:
    """PIL's full decode (every format and mode), EXIF orientation, RGB, then a Lanczos resize to the cap."""
    orig_size, fmt, mode = img.size, img.format or "", img.mode
    try:
        img.load()
    except _DECODE_ERRORS as e:
        return _classify(e)
    try:
        orientation = img.getexif().get(_ORIENTATION, 1)
        upright = ImageOps.exif_transpose(img)
    except _DECODE_ERRORS as e:
        return _Bad("bad_exif", f"{type(e).__name__}: {e}")
    rgb = to_rgb(upright)
    target = fit_size(rgb.size, max_side)
    resized = target != rgb.size
    if resized:
        rgb = rgb.resize(target, Image.Resampling.LANCZOS)
    as_is = fmt == "JPEG" and mode == "RGB" and orientation not in _TRANSPOSE and not resized
    return _Opened(np.asarray(rgb), orig_size, upright.size, fmt, as_is)


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
