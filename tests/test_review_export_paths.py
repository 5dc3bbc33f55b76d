"""`review export` writes crops only inside its output folder: a crafted tar key is refused, not followed."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import pytest
from click.testing import CliRunner
from PIL import Image

from pipelines.cli import main


def _jpeg() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (8, 8), (200, 100, 50)).save(buf, format="JPEG")
    return buf.getvalue()


def _committed_shard(dataset: Path, key: str) -> None:
    """A face_attributes-like shard whose tar holds ``key`` (its commit marker present), as a crafted tar would."""
    dataset.mkdir(parents=True)
    record = {"key": "face", "attributes": {}, "needs_review": ["Smiling"]}
    with tarfile.open(dataset / "00000.tar", "w", format=tarfile.GNU_FORMAT) as tar:
        for ext, data in (("jpg", _jpeg()), ("json", json.dumps(record).encode())):
            info = tarfile.TarInfo(f"{key}.{ext}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    (dataset / "00000_stats.json").write_text("{}")


def _files(root: Path) -> set[Path]:
    return {p for p in root.rglob("*") if p.is_file()}


@pytest.mark.parametrize("crafted", ["../../../evil", "a/../../../../evil", "{abs}/evil"])
def test_export_refuses_a_key_that_leaves_the_output_folder(tmp_path, crafted):
    escape = tmp_path / "escape"
    escape.mkdir()
    key = crafted.format(abs=escape)
    dataset, out = tmp_path / "data" / "face_attributes", tmp_path / "data" / "tasks"
    _committed_shard(dataset, key)
    before = _files(tmp_path)
    result = CliRunner().invoke(main, ["review", "export", str(dataset), "--out", str(out), "--all"])
    assert result.exit_code != 0
    assert "refusing key" in result.output and repr(key) in result.output
    written = _files(tmp_path) - before
    assert all(out in p.parents for p in written), f"written outside {out}: {sorted(written)}"
    assert not list(tmp_path.rglob("evil.jpg"))


def test_export_writes_a_plain_key_under_its_shard(tmp_path):
    """The same shard with an ordinary key exports: the refusal is about the key, not the hand-built shard."""
    dataset, out = tmp_path / "face_attributes", tmp_path / "tasks"
    _committed_shard(dataset, "astronaut_f0")
    result = CliRunner().invoke(main, ["review", "export", str(dataset), "--out", str(out), "--all"])
    assert result.exit_code == 0, result.output
    assert (out / "00000" / "images" / "astronaut_f0.jpg").read_bytes() == _jpeg()
    task = json.loads((out / "00000" / "tasks.json").read_text())[0]
    assert task["data"]["image"].endswith("/00000/images/astronaut_f0.jpg")
