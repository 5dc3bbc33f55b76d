"""Sources: a folder of images with captions (jsonl, csv, sidecar txt), cut into shards; img2dataset auto-detection."""

from __future__ import annotations

import io
import json
import tarfile

import pytest
from PIL import Image

from pipelines.runner import BuildSpec, run_build
from pipelines.sources import open_source
from pipelines.sources.img2dataset import SourceReadError
from pipelines.validate import validate_dataset


def _png(color: str) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (20, 20), color).save(buf, format="PNG")
    return buf.getvalue()


@pytest.mark.parametrize("captions", ["jsonl", "csv", "sidecar"])
def test_folder_source(tmp_path, captions):
    root = tmp_path / "photos"
    (root / "sub").mkdir(parents=True)
    names = ["a.png", "b.v2.png", "sub/c.png", "d.jpeg", "e.png"]
    for i, name in enumerate(names):
        (root / name).write_bytes(_png(["red", "green", "blue", "white", "black"][i]))
    text = {n: f"caption {i}" for i, n in enumerate(names[:-1])}  # e.png has no caption
    if captions == "jsonl":
        (root / "captions.jsonl").write_text("\n".join(json.dumps({"file": f, "caption": c}) for f, c in text.items()))
    elif captions == "csv":
        (root / "captions.csv").write_text("file,caption\n" + "\n".join(f"{f},{c}" for f, c in text.items()))
    else:
        for f, c in text.items():
            (root / (f.rsplit(".", 1)[0] + ".txt")).write_text(c)
    source = open_source(str(root), samples_per_shard=2, index_root=str(tmp_path / "out"))
    shards = source.shards()
    assert [s.shard for s in shards] == ["00000", "00001", "00002"]
    keys = [x.source_key for s in shards for x in source.samples(s)]
    assert keys == ["a.png", "b.v2.png", "d.jpeg", "e.png", "sub/c.png"]
    report = run_build(BuildSpec("ingest", str(root), str(tmp_path / "out"), samples_per_shard=2))
    assert report["counts"] == {"ok": 4, "rejected": 0, "failed": 1} and report["reasons"]["failed"] == {
        "empty_caption": 1
    }
    assert validate_dataset(str(tmp_path / "out" / "ingest")).ok


def test_img2dataset_is_detected(sample_source):
    source = open_source(str(sample_source))
    assert type(source).__name__ == "Img2DatasetSource" and len(source.shards()) == 4


def test_unreadable_source_tar_raises_with_its_url(tmp_path):
    root = tmp_path / "src"
    root.mkdir()
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for i in range(3):
            data = _png("red")
            info = tarfile.TarInfo(f"{i:09d}.jpg")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    (root / "00000.tar").write_bytes(buf.getvalue()[:1500])
    source = open_source(str(root))
    with pytest.raises(SourceReadError, match="00000.tar"):
        list(source.samples(source.shards()[0]))
