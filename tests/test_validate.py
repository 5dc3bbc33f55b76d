"""The validator catches each kind of contract violation."""

from __future__ import annotations

import io
import json

import pyarrow as pa
import pytest
from PIL import Image

from pipelines.schema import Written
from pipelines.store import DatasetDir, ShardWriter
from pipelines.validate import validate_dataset


def _jpeg(w: int = 40, h: int = 30) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (w, h)).save(buf, format="JPEG")
    return buf.getvalue()


def _dataset(tmp_path, record_extra: dict, key: str = "k0") -> str:
    d = DatasetDir(str(tmp_path / "ds"))
    record = {"width": 40, "height": 30, "models": {}} | record_extra
    with ShardWriter(d, "00000", pa.schema([])) as w:
        w.add(Written(key, "src", {"jpg": _jpeg(), "json": json.dumps(record).encode()}))
        w.commit(dataset="t", inputs=1, input_keys={"src"})
    d.write_sizes()
    d.write_json("run.json", {"config_sha256": ""})
    return d.url


def _rle(h: int, w: int) -> dict:
    import numpy as np
    from pycocotools import mask as mask_utils

    rle = mask_utils.encode(np.asfortranarray(np.ones((h, w), dtype=np.uint8)))
    return {"size": rle["size"], "counts": rle["counts"].decode()}


def test_valid_geometry_passes(tmp_path):
    url = _dataset(
        tmp_path,
        {
            "entities": [{"phrase": "cat", "box": [1, 2, 30, 29], "mask": _rle(30, 40)}],
            "text_lines": [{"text": "HI", "polygon": [[0, 0], [10, 0], [10, 5], [0, 5]]}],
        },
    )
    report = validate_dataset(url)
    assert report.ok, report.errors


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"entities": [{"box": [1, 2, 41, 29]}]}, "not inside"),
        ({"entities": [{"box": [10, 2, 5, 29]}]}, "not inside"),
        ({"entities": [{"mask": _rle(20, 40)}]}, "size"),
        ({"text_lines": [{"polygon": [[0, 0], [50, 0], [50, 5], [0, 5]]}]}, "outside"),
        ({"text_lines": [{"polygon": [[0, 0], [5, 0], [5, 5]]}]}, "not 4"),
        ({"width": 41}, "json says"),
    ],
)
def test_bad_geometry_is_caught(tmp_path, extra, message):
    report = validate_dataset(_dataset(tmp_path, extra))
    assert not report.ok and any(message in m for _, m in report.errors), report.errors


def test_missing_models_is_caught(tmp_path):
    url = _dataset(tmp_path, {})
    record = {"width": 40, "height": 30}
    d = DatasetDir(url)
    with ShardWriter(d, "00000", pa.schema([])) as w:
        w.add(Written("k0", "src", {"jpg": _jpeg(), "json": json.dumps(record).encode()}))
        w.commit(dataset="t", inputs=1, input_keys={"src"})
    assert any("models" in m for _, m in validate_dataset(url).errors)


def test_dataset_level_violations(tmp_path):
    url = _dataset(tmp_path, {})
    d = DatasetDir(url)
    d.write_json("sizes.json", {"00000.tar": 5})
    (tmp_path / "ds" / "00000.tar").write_bytes((tmp_path / "ds" / "00000.tar").read_bytes()[:-1024])
    errors = [m for _, m in validate_dataset(url).errors]
    assert any("sizes.json" in m for m in errors) and any("checksum" in m for m in errors)
    (tmp_path / "ds" / "00000.parquet").unlink()
    assert any("without its parquet" in m for _, m in validate_dataset(url).errors)
