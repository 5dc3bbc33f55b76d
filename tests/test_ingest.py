"""ingest on the sample source: every broken input ends as the row it should, counts add up, decode handles odd images."""

from __future__ import annotations

import io
import json

import numpy as np
from PIL import Image

from pipelines.decode import DecodeConfig, Decoded, decode_sample
from pipelines.schema import Failed, InputSample
from pipelines.sources import open_source
from pipelines.store import ShardReader
from pipelines.validate import validate_dataset
from tests.conftest import build


def test_every_input_is_accounted_for_with_its_reason(sample_source, tmp_path):
    report = build("ingest", sample_source, tmp_path)
    source = open_source(str(sample_source))
    expected, inputs = {}, 0
    for shard in source.shards():
        for sample in source.samples(shard):
            inputs += 1
            try:
                meta = json.loads(sample.files["json"])
            except json.JSONDecodeError:
                meta = {"expect": {"status": "failed", "reason": "bad_metadata"}}
            expected[sample.key] = meta.get("expect") or {"status": "ok", "reason": None}
    rows = ShardReader(str(tmp_path / "ingest")).manifests().to_pylist()
    assert len(rows) == inputs == report["inputs"] == 40
    got = {r["key"]: {"status": r["status"], "reason": r["reason"]} for r in rows}
    assert got == expected
    c = report["counts"]
    assert c["ok"] + c["rejected"] + c["failed"] == inputs
    assert report["reasons"]["failed"] == {
        "truncated": 1,
        "not_an_image": 1,
        "too_large": 1,
        "empty_caption": 1,
        "empty_file": 1,
        "bad_metadata": 1,
        "missing_image": 1,
    }
    assert validate_dataset(str(tmp_path / "ingest")).ok


def test_stored_images_are_rgb_jpeg_with_capped_side(sample_source, tmp_path):
    build("ingest", sample_source, tmp_path, max_side=300)
    for sample in ShardReader(str(tmp_path / "ingest")).all_samples():
        image = Image.open(io.BytesIO(sample.files["jpg"]))
        assert image.format == "JPEG" and image.mode == "RGB"
        assert max(image.size) <= 300 and (image.width, image.height) == (
            sample.record["width"],
            sample.record["height"],
        )
        assert sample.files["txt"].decode() == sample.record["caption"] != ""


def _sample(data: bytes, caption: bytes = b"a caption") -> InputSample:
    return InputSample("k", {"jpg": data, "txt": caption})


def _encode(image: Image.Image, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    image.save(buf, format=fmt, **kw)
    return buf.getvalue()


def test_exif_orientation_is_applied():
    upright = Image.new("RGB", (40, 20), "white")
    upright.paste((255, 0, 0), (0, 0, 10, 20))  # red band on the left
    exif = Image.Exif()
    exif[0x0112] = 6  # stored rotated: viewer must rotate 90 degrees clockwise
    stored = upright.transpose(Image.Transpose.ROTATE_90)
    d = decode_sample(_sample(_encode(stored, "JPEG", exif=exif.tobytes(), quality=95)))
    assert isinstance(d, Decoded) and d.image.size == (40, 20)
    assert d.array()[10, 2, 0] > 200 and d.array()[10, 35, 1] > 200


def test_modes_become_rgb():
    rgba = Image.new("RGBA", (16, 16), (0, 0, 0, 0))
    cmyk = Image.new("CMYK", (16, 16), (0, 255, 255, 0))
    gray16 = Image.fromarray(np.full((16, 16), 40000, dtype=np.uint16))
    for data in (
        _encode(rgba, "PNG"),
        _encode(cmyk, "JPEG"),
        _encode(gray16, "PNG"),
        _encode(Image.new("P", (16, 16)), "GIF"),
    ):
        d = decode_sample(_sample(data))
        assert isinstance(d, Decoded) and d.image.mode == "RGB" and d.image.size == (16, 16)
    assert decode_sample(_sample(_encode(rgba, "PNG"))).array()[0, 0].tolist() == [
        255,
        255,
        255,
    ]  # transparent -> white


def test_failure_reasons():
    good = _encode(Image.new("RGB", (64, 64), "blue"), "JPEG")
    cases = {
        "truncated": _sample(good[: len(good) // 2]),
        "not_an_image": _sample(b"GIF89a-no"[:3] + b"\x00" * 20),
        "empty_file": _sample(b""),
        "empty_caption": _sample(good, b"  \n"),
        "bad_caption_encoding": _sample(good, b"\xff\xfe\xfa"),
        "too_large": _sample(_encode(Image.new("L", (200, 200)), "PNG")),
        "too_small": _sample(_encode(Image.new("RGB", (4, 64)), "PNG")),
        "missing_image": InputSample("k", {"txt": b"caption"}),
        "bad_metadata": InputSample("k", {"jpg": good, "txt": b"x", "json": b"[1, 2]"}),
    }
    config = DecodeConfig(max_pixels=100 * 100)
    for reason, sample in cases.items():
        result = decode_sample(sample, config)
        assert isinstance(result, Failed) and result.reason == reason, (reason, result)
