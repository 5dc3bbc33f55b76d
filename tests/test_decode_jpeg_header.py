"""The JPEG header read without PIL (size, channels, EXIF orientation) agrees with PIL's, and decoding through it gives
the same pixels as decoding through PIL's opened image; anything it does not cover falls back to PIL."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from pipelines.decode import DecodeConfig, _jpeg_header, _jpeg_reduced, _open_image


def _jpeg(mode: str, orientation: int | None = None, progressive: bool = False, xmp: bytes | None = None) -> bytes:
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 255, (300, 420, 3), dtype=np.uint8)
    image = Image.fromarray(pixels).convert(mode)
    kwargs: dict = {"quality": 90, "progressive": progressive}
    if orientation is not None:
        exif = Image.Exif()
        exif[0x0112] = orientation
        exif[0x010F] = "camera"
        kwargs["exif"] = exif.tobytes()
    if xmp is not None:
        kwargs["xmp"] = xmp
    buf = io.BytesIO()
    image.save(buf, "JPEG", **kwargs)
    return buf.getvalue()


CASES = {
    "rgb": _jpeg("RGB"),
    "grey": _jpeg("L"),
    "progressive": _jpeg("RGB", progressive=True),
    **{f"turned_{o}": _jpeg("RGB", orientation=o) for o in range(1, 9)},
    "grey_turned_6": _jpeg("L", orientation=6),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_header_matches_pil_and_the_decode_is_the_same(name):
    data = CASES[name]
    header = _jpeg_header(data)
    img = Image.open(io.BytesIO(data))
    assert header is not None
    assert (header.width, header.height) == img.size
    assert header.grey == (img.mode == "L")
    assert header.orientation == img.getexif().get(0x0112, 1)
    fast = _open_image(data, DecodeConfig(max_side=128))
    via_pil = _jpeg_reduced(Image.open(io.BytesIO(data)), data, 128)
    assert (
        fast.upright_size == via_pil.upright_size
        and fast.orig_size == via_pil.orig_size
        and np.array_equal(fast.pixels, via_pil.pixels)
    )


def test_what_the_header_does_not_cover_goes_to_pil():
    png = io.BytesIO()
    Image.new("RGB", (8, 8)).save(png, "PNG")
    cmyk = io.BytesIO()
    Image.new("CMYK", (64, 64)).save(cmyk, "JPEG")
    xmp = _jpeg("RGB", xmp=b'<x:xmpmeta xmlns:x="adobe:ns:meta/"></x:xmpmeta>')
    assert _jpeg_header(png.getvalue()) is None
    assert _jpeg_header(cmyk.getvalue()) is None
    assert _jpeg_header(xmp) is None  # PIL's getexif may read an XMP orientation: PIL decides
    assert _jpeg_header(CASES["rgb"][:40]) is None  # an unreadable header
