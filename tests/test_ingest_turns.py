"""ingest's fast path turns pixels by the EXIF orientation exactly as PIL's transpose does; the fast IDCT is an option."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from pipelines.datasets.ingest import Ingest, IngestConfig
from pipelines.decode import _TRANSPOSE, DecodeConfig, Decoded, _upright, decode_sample, fit_size
from pipelines.schema import InputSample, Written


@pytest.mark.parametrize("shape", [(5, 7, 3), (5, 7)])
@pytest.mark.parametrize("orientation", range(1, 9))
def test_opencv_turns_match_pil_transpose(orientation, shape):
    pixels = np.random.default_rng(orientation).integers(0, 256, shape, dtype=np.uint8)
    pil = Image.fromarray(pixels, "RGB" if len(shape) == 3 else "L")
    expected = np.asarray(pil.transpose(_TRANSPOSE[orientation]) if orientation in _TRANSPOSE else pil)
    turned = _upright(pixels, orientation)
    assert turned.flags.c_contiguous and np.array_equal(turned, expected)


def _grey_jpeg(size: tuple[int, int], orientation: int) -> bytes:
    rng = np.random.default_rng(2)
    grey = np.clip(np.add.outer(np.arange(size[1]), np.arange(size[0])) % 256 + rng.normal(0, 8, size[::-1]), 0, 255)
    exif = Image.Exif()
    exif[0x0112] = orientation
    buf = io.BytesIO()
    Image.fromarray(grey.astype(np.uint8), "L").save(buf, format="JPEG", quality=90, exif=exif.tobytes())
    return buf.getvalue()


@pytest.mark.parametrize("orientation", [1, 6, 7])
def test_grey_jpeg_decodes_to_the_same_rgb_pixels_as_an_rgb_decode(orientation):
    data = _grey_jpeg((900, 600), orientation)
    d = decode_sample(InputSample("g", {"jpg": data, "txt": b"c"}), DecodeConfig(max_side=512))
    full = Image.open(io.BytesIO(data))
    upright = np.asarray(
        full.convert("RGB").transpose(_TRANSPOSE[orientation]) if orientation > 1 else full.convert("RGB")
    )
    assert isinstance(d, Decoded) and d.pixels.shape == (*fit_size(upright.shape[1::-1], 512)[::-1], 3)
    assert d.pixels.flags.c_contiguous and (d.pixels[..., 0] == d.pixels[..., 2]).all()
    assert np.abs(d.pixels.astype(int) - _resized(upright, d.pixels.shape[1::-1])).mean() < 3


def _resized(pixels: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    return np.asarray(Image.fromarray(pixels, "RGB").resize(size, Image.Resampling.LANCZOS)).astype(int)


def _sample(size: tuple[int, int], quality: int = 95) -> InputSample:
    rng = np.random.default_rng(1)
    w, h = size
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    base = np.stack([x / w * 255, y / h * 255, (x + y) / (w + h) * 255], axis=-1) + rng.normal(0, 6, (h, w, 1))
    buf = io.BytesIO()
    Image.fromarray(np.clip(base, 0, 255).astype(np.uint8)).save(buf, format="JPEG", quality=quality)
    return InputSample("k", {"jpg": buf.getvalue(), "txt": b"a caption"})


def test_fast_dct_is_off_by_default_and_changes_only_the_idct():
    sample = _sample((900, 675))
    exact = decode_sample(sample, DecodeConfig(max_side=512))
    fast = decode_sample(sample, DecodeConfig(max_side=512, fast_dct=True))
    again = decode_sample(sample, DecodeConfig(max_side=512, fast_dct=True))
    assert isinstance(exact, Decoded) and isinstance(fast, Decoded)
    assert exact.pixels.shape == fast.pixels.shape and not np.array_equal(exact.pixels, fast.pixels)
    assert np.array_equal(fast.pixels, again.pixels)
    assert np.abs(exact.pixels.astype(int) - fast.pixels.astype(int)).mean() < 2
    default, opted = (next(Ingest(IngestConfig(max_side=512, fast_dct=f)).process([sample])) for f in (False, True))
    assert isinstance(default, Written) and default.fields["sha256"] != opted.fields["sha256"]
