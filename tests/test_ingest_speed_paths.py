"""ingest's fast path: a JPEG decoded once at a reduced DCT scale gives the stored picture, deterministically, with every
guarantee of the full decode; downstream datasets store ingest's jpg bytes unchanged where the pixels do not change."""

from __future__ import annotations

import hashlib
import io
import json
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from pipelines.datasets.ingest import Ingest, IngestConfig, normalise, stored_jpeg
from pipelines.decode import DecodeConfig, Decoded, decode_sample, fit_size
from pipelines.schema import Failed, InputSample, Rejected, Written


def _photo(size: tuple[int, int], seed: int = 0) -> Image.Image:
    """A smooth picture with fine grain: a photo's mix of structure and texture, different for every seed."""
    rng = np.random.default_rng(seed)
    w, h = size
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    base = np.stack([x / w * 255, y / h * 255, (x + y) / (w + h) * 255], axis=-1)
    base += 40 * np.sin(x[..., None] / (17 + seed)) + rng.normal(0, 4, (h, w, 1))
    return Image.fromarray(np.clip(base, 0, 255).astype(np.uint8))


def _jpeg(image: Image.Image, **kw) -> bytes:
    buf = io.BytesIO()
    image.save(buf, format="JPEG", quality=kw.pop("quality", 90), **kw)
    return buf.getvalue()


def _sample(data: bytes, key: str = "k", meta: dict | None = None) -> InputSample:
    files = {"jpg": data, "txt": b"a caption"}
    if meta is not None:
        files["json"] = json.dumps(meta).encode()
    return InputSample(key, files)


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return float(10 * np.log10(255.0**2 / mse)) if mse else float("inf")


def _reference(data: bytes, max_side: int) -> np.ndarray:
    """The full-resolution decode (PIL), upright, Lanczos-downscaled: what ingest stored before the fast path."""
    full = decode_sample(_sample(data))
    return np.asarray(normalise(full.image, max_side))


@pytest.mark.parametrize("size", [(1200, 900), (700, 525), (900, 1200), (5000, 300)])
def test_reduced_decode_is_the_stored_picture_at_the_capped_size(size):
    data = _jpeg(_photo(size))
    d = decode_sample(_sample(data), DecodeConfig(max_side=512))
    reference = _reference(data, 512)
    assert isinstance(d, Decoded) and d.pixels.shape == reference.shape == (*fit_size(size, 512)[::-1], 3)
    assert d.pixels.dtype == np.uint8 and d.upright_size == d.orig_size == size and not d.as_is
    assert _psnr(d.pixels, reference) > 35  # the same picture (a wrong scale, crop or turn falls far below)


def test_reduced_decode_is_deterministic_across_processes():
    data = _jpeg(_photo((1100, 800), seed=3))
    here = hashlib.sha256(decode_sample(_sample(data), DecodeConfig(max_side=512)).pixels.tobytes()).hexdigest()
    again = hashlib.sha256(decode_sample(_sample(data), DecodeConfig(max_side=512)).pixels.tobytes()).hexdigest()
    code = (
        "import sys, hashlib; from pipelines.decode import DecodeConfig, decode_sample; from pipelines.schema import "
        "InputSample; d = decode_sample(InputSample('k', {'jpg': sys.stdin.buffer.read(), 'txt': b'c'}), "
        "DecodeConfig(max_side=512)); print(hashlib.sha256(d.pixels.tobytes()).hexdigest())"
    )
    other = subprocess.run([sys.executable, "-c", code], input=data, capture_output=True, check=True).stdout.decode()
    assert here == again == other.strip()


def test_exif_orientation_applies_on_the_reduced_path():
    upright = _photo((1200, 600))
    upright.paste((255, 0, 0), (0, 0, 200, 600))  # red band on the left
    exif = Image.Exif()
    exif[0x0112] = 6  # stored turned: the viewer turns it 90 degrees clockwise
    data = _jpeg(upright.transpose(Image.Transpose.ROTATE_90), exif=exif.tobytes())
    d = decode_sample(_sample(data), DecodeConfig(max_side=400))
    assert isinstance(d, Decoded) and d.pixels.shape == (200, 400, 3)
    assert d.orig_size == (600, 1200) and d.upright_size == (1200, 600) and not d.as_is
    assert d.pixels[100, 20, 0] > 200 and d.pixels[100, 20, 1] < 60  # the band is on the left, as a viewer shows it
    assert _psnr(d.pixels, _reference(data, 400)) > 35


def test_failures_and_bomb_check_hold_on_the_reduced_path():
    data = _jpeg(_photo((1200, 900)))
    config = DecodeConfig(max_side=512)
    truncated = decode_sample(_sample(data[: len(data) // 2]), config)
    assert isinstance(truncated, Failed) and truncated.reason == "truncated"
    corrupt = data[:2000] + bytes(len(data) - 2000)  # the scan zeroed out after 2 kB
    assert isinstance(decode_sample(_sample(corrupt), config), Failed)
    bomb = decode_sample(_sample(data), DecodeConfig(max_pixels=1000 * 1000, max_side=512))
    assert isinstance(bomb, Failed) and bomb.reason == "too_large" and "1080000" in bomb.detail


def test_greyscale_and_cmyk_jpegs_become_rgb_at_the_cap():
    grey = _jpeg(_photo((1000, 800)).convert("L"))
    cmyk = _jpeg(_photo((1000, 800)).convert("CMYK"))
    for data in (grey, cmyk):
        d = decode_sample(_sample(data), DecodeConfig(max_side=500))
        assert isinstance(d, Decoded) and d.pixels.shape == (400, 500, 3) and d.image.mode == "RGB"
        assert _psnr(d.pixels, _reference(data, 500)) > 35


def test_ingest_hashes_the_stored_jpg_and_rejects_the_same_jpeg_rewrapped():
    picture = _photo((1200, 900), seed=1)
    first, rewrapped = _jpeg(picture, comment=b"first"), _jpeg(picture, comment=b"other metadata")
    other = _jpeg(_photo((1200, 900), seed=2))
    assert first != rewrapped
    samples = [_sample(first, "a"), _sample(rewrapped, "b"), _sample(other, "c")]
    outcomes = list(Ingest(IngestConfig(max_side=512)).process(samples))
    assert [type(o) for o in outcomes] == [Written, Rejected, Written]
    assert outcomes[1].reason == "exact_duplicate" and outcomes[1].fields["duplicate_of"] == "a"
    assert outcomes[0].fields["sha256"] == hashlib.sha256(outcomes[0].files["jpg"]).hexdigest()
    assert outcomes[0].fields["sha256"] != outcomes[2].fields["sha256"]
    assert json.loads(outcomes[0].files["json"])["width"] == 512


def test_ingest_rebuild_is_byte_identical_and_geometry_scales_with_the_reduced_decode():
    meta = {"caption": "c", "text_lines": [{"text": "x", "polygon": [[0, 0], [1200, 0], [1200, 900], [0, 900]]}]}
    samples = [_sample(_jpeg(_photo((1200, 900))), "a", meta)]
    one = list(Ingest(IngestConfig(max_side=600)).process(samples))
    two = list(Ingest(IngestConfig(max_side=600)).process(samples))
    assert one[0].files == two[0].files
    record = json.loads(one[0].files["json"])
    assert (record["width"], record["height"]) == (600, 450)
    assert record["source"]["text_lines"][0]["polygon"] == [[0, 0], [600, 0], [600, 450], [0, 450]]


def test_stored_jpeg_passes_ingest_bytes_through_only_where_the_pixels_are_theirs():
    ingest_jpg = list(Ingest(IngestConfig(max_side=512)).process([_sample(_jpeg(_photo((1200, 900))))]))[0].files["jpg"]
    d = decode_sample(_sample(ingest_jpg), DecodeConfig(max_side=1024))
    assert d.as_is and stored_jpeg(d, 95) == ingest_jpg  # the very bytes: no second generation loss
    assert np.array_equal(np.asarray(Image.open(io.BytesIO(ingest_jpg)).convert("RGB")), d.pixels)
    exif = Image.Exif()
    exif[0x0112] = 3
    turned = _jpeg(_photo((300, 200)), exif=exif.tobytes())
    png = io.BytesIO()
    _photo((300, 200)).save(png, format="PNG")
    cases = {
        "resized": decode_sample(_sample(ingest_jpg), DecodeConfig(max_side=256)),
        "exif_turned": decode_sample(_sample(turned)),
        "greyscale": decode_sample(_sample(_jpeg(_photo((300, 200)).convert("L")))),
        "png": decode_sample(InputSample("k", {"png": png.getvalue(), "txt": b"c"})),
    }
    for name, case in cases.items():
        assert isinstance(case, Decoded) and not case.as_is, name
        jpg = stored_jpeg(case, 95)
        assert jpg not in (ingest_jpg, turned, png.getvalue()), name
        assert Image.open(io.BytesIO(jpg)).size == (case.pixels.shape[1], case.pixels.shape[0]), name


@pytest.mark.slow
def test_retrieval_negatives_stores_ingest_jpg_bytes_unchanged(tmp_path):
    from pipelines.store import ShardReader
    from tests.conftest import build

    root = tmp_path / "photos"
    root.mkdir()
    captions = {"a": "a red car parked next to a blue truck", "b": "a small white dog on a green lawn"}
    for i, (name, caption) in enumerate(captions.items()):
        (root / f"{name}.jpg").write_bytes(_jpeg(_photo((900, 700), seed=i)))
        (root / f"{name}.txt").write_text(caption)
    build("ingest", root, tmp_path / "out", max_side=512)
    build("retrieval_negatives", tmp_path / "out" / "ingest", tmp_path / "out")
    ingested = {s.key: s.files["jpg"] for s in ShardReader(str(tmp_path / "out" / "ingest")).all_samples()}
    negatives = {
        s.key: s.files["jpg"] for s in ShardReader(str(tmp_path / "out" / "retrieval_negatives")).all_samples()
    }
    assert len(ingested) == 2 and negatives == ingested  # byte for byte: not decoded and encoded a second time
