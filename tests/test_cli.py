"""Every CLI command runs on real output and says what it should."""

from __future__ import annotations

import json

from click.testing import CliRunner
from PIL import Image

from pipelines.cli import main


def _run(*args: str, code: int = 0) -> str:
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    assert result.exit_code == code, result.output
    return result.output


def test_cli_end_to_end(tmp_path):
    src, out = tmp_path / "src", tmp_path / "out"
    assert "40 samples in 2 shards" in _run("sample-source", "--out", str(src), "--shards", "2")
    assert "ingest" in _run("datasets")
    built = _run("build", "ingest", "--source", str(src), "--out", str(out), "--shards", "1", "--set", "max_side=256")
    assert "1/1 shards" in built and "failed" in built
    _run("build", "ingest", "--source", str(src), "--out", str(out), "--only", "00001", "--set", "max_side=256")
    ds = str(out / "ingest")
    stats = json.loads(_run("stats", ds, "--json"))
    assert stats["inputs"] == 40 and sum(stats["counts"].values()) == 40 and len(stats["shards_done"]) == 2
    assert "00001:" in _run("stats", ds, "--per-shard")
    assert _run("validate", ds).startswith("OK")
    png = tmp_path / "show.png"
    assert "->" in _run("show", ds, "000000000", "--out", str(png))
    assert Image.open(png).width == 256
    assert "is rejected: exact_duplicate" in _run("show", ds, "000000001", "--out", str(png), code=1)
    assert "no key" in _run("show", ds, "nope", "--out", str(png), code=1)
    sheet = tmp_path / "grid.png"
    assert "9 samples" in _run("grid", ds, "--n", "9", "--out", str(sheet), "--cell", "64", "--seed", "1")
    assert Image.open(sheet).size == (3 * 64, 3 * (64 + 18))


def test_validate_fails_with_nonzero_exit(tmp_path):
    src, out = tmp_path / "src", tmp_path / "out"
    _run("sample-source", "--out", str(src), "--shards", "2")
    _run("build", "ingest", "--source", str(src), "--out", str(out))
    (out / "ingest" / "00001_stats.json").unlink()
    output = _run("validate", str(out / "ingest"), code=1)
    assert "00001: not committed" in output and "INVALID" in output
    report = json.loads(CliRunner().invoke(main, ["validate", str(out / "ingest"), "--json"]).output)
    assert report["ok"] is False
