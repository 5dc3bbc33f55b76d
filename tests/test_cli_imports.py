"""The inspection commands (stats, validate, show, grid) never load torch, OpenCV, Beam, Dagster or a model library.

Each case runs in a fresh interpreter (this test process has them loaded already) and reports ``sys.modules``; a
command that does need them (``datasets`` imports every dataset) proves that the probe sees them."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from pycocotools import mask as mask_utils

from pipelines.schema import Failed, Written
from pipelines.store import DatasetDir, ShardWriter

HEAVY = (
    "torch",
    "cv2",
    "apache_beam",
    "dagster",
    "matplotlib",
    "pandas",
    "spacy",
    "transformers",
    "onnxruntime",
    "paddle",
)
ROOT = Path(__file__).resolve().parents[1]

PROBE = """
import json, sys
from click.testing import CliRunner
from pipelines.cli import main
result = CliRunner().invoke(main, json.loads(sys.argv[1]))
print(json.dumps({"exit": result.exit_code, "output": result.output,
                  "loaded": sorted({m.split(".")[0] for m in sys.modules} & set(json.loads(sys.argv[2])))}))
"""


def _sample(i: int) -> Written:
    image = np.full((48, 64, 3), (40 * i) % 256, dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(image).save(buf, format="JPEG")
    mask = np.zeros((48, 64), dtype=np.uint8, order="F")
    mask[10:30, 5:40] = 1
    rle = mask_utils.encode(mask)
    key = f"s{i:03d}"
    record = {
        "key": key,
        "width": 64,
        "height": 48,
        "caption": f"sample {i}",
        "models": {"detector": "test-hand-made"},
        "entities": [
            {"phrase": "thing", "box": [5, 10, 40, 30], "mask": {"size": [48, 64], "counts": rle["counts"].decode()}}
        ],
        "lines": [{"text": "HI", "polygon": [[1, 1], [20, 1], [20, 9], [1, 9]]}],
    }
    files = {"jpg": buf.getvalue(), "txt": record["caption"].encode(), "json": json.dumps(record).encode()}
    return Written(key, key, files)


@pytest.fixture(scope="module")
def tiny_dataset(tmp_path_factory) -> Path:
    """Two committed shards of three inputs each (one failed per shard), sizes.json and run.json: a valid dataset."""
    root = tmp_path_factory.mktemp("cli_imports") / "tiny"
    out = DatasetDir(str(root))
    for shard, start in (("00000", 0), ("00001", 3)):
        with ShardWriter(out, shard, __import__("pyarrow").schema([])) as writer:
            writer.add(_sample(start))
            writer.add(_sample(start + 1))
            writer.add(Failed(f"s{start + 2:03d}", f"s{start + 2:03d}", "truncated"))
            writer.commit(
                dataset="tiny",
                inputs=3,
                input_keys=[f"s{start + i:03d}" for i in range(3)],
                models={"detector": "test-hand-made"},
                config_sha256="c",
            )
    out.write_sizes()
    out.write_json("run.json", {"dataset": "tiny", "config_sha256": "c"})
    return root


def _probe(*args: str) -> dict:
    proc = subprocess.run(
        [sys.executable, "-c", PROBE, json.dumps(list(args)), json.dumps(HEAVY)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize(
    "command",
    [
        ["stats", "{d}", "--per-shard"],
        ["stats", "{d}", "--json"],
        ["validate", "{d}"],
        ["validate", "{d}", "--quick"],
        ["show", "{d}", "s001", "--out", "{tmp}/show.png"],
        ["grid", "{d}", "--n", "4", "--out", "{tmp}/grid.png"],
        ["--help"],
    ],
)
def test_inspection_commands_load_no_heavy_library(tiny_dataset, tmp_path, command):
    args = [a.format(d=tiny_dataset, tmp=tmp_path) for a in command]
    got = _probe(*args)
    assert got["exit"] == 0, got["output"]
    assert got["loaded"] == [], f"{command[0]} loaded {got['loaded']}"
    if command[0] in ("show", "grid"):
        assert Image.open(args[args.index("--out") + 1]).size[0] > 0
    if command[0] == "validate":
        assert got["output"].startswith("OK: 2 shards, 4 samples")


def test_probe_sees_a_heavy_import():
    """``datasets`` imports every dataset module, and with them torch: the probe must report it."""
    got = _probe("datasets")
    assert got["exit"] == 0 and "ingest" in got["output"]
    assert "torch" in got["loaded"]


def test_build_still_refuses_an_unknown_dataset(tmp_path):
    """Dataset names are checked when ``build`` gets one (no longer at import): an unknown name is a usage error."""
    from click.testing import CliRunner

    from pipelines.cli import main

    result = CliRunner().invoke(main, ["build", "nosuch", "--source", str(tmp_path), "--out", str(tmp_path / "o")])
    assert result.exit_code == 2
    assert "'nosuch' is not one of" in result.output and "ingest" in result.output
