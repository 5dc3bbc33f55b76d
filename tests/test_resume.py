"""Resume: a killed build (leftover temp files, a shard without _stats.json) rerun gives byte-identical shards."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pipelines.sources.sample_source import write_sample_source
from pipelines.validate import validate_dataset
from tests.conftest import build, files_of


def test_interrupted_shards_are_rebuilt_identically(sample_source, tmp_path):
    build("ingest", sample_source, tmp_path / "ref")
    reference = files_of(tmp_path / "ref" / "ingest")
    build("ingest", sample_source, tmp_path / "run")
    out = tmp_path / "run" / "ingest"
    (out / "00001_stats.json").unlink()  # killed after the tar and parquet were renamed, before the commit marker
    (out / "00002_stats.json").unlink()
    (out / "00002.tar").write_bytes((out / "00002.tar").read_bytes()[:1000])  # a half-written tar under the final name
    (out / ".00003.tar.tmp-deadbeef0000").write_bytes(b"partial")  # a dead attempt's temp file
    assert not validate_dataset(str(out)).ok
    report = build("ingest", sample_source, tmp_path / "run")
    assert report["counters"]["shards_built"] == 2 and report["counters"]["shards_skipped"] == 2
    assert files_of(out) == reference
    assert validate_dataset(str(out)).ok


def test_done_shards_are_skipped(sample_source, tmp_path):
    build("ingest", sample_source, tmp_path)
    stats_before = (tmp_path / "ingest" / "00000_stats.json").read_bytes()
    report = build("ingest", sample_source, tmp_path)
    assert report["counters"].get("shards_built", 0) == 0 and report["counters"]["shards_skipped"] == 4
    assert (tmp_path / "ingest" / "00000_stats.json").read_bytes() == stats_before


def _done(out: Path) -> int:
    return len(list(out.glob("*_stats.json"))) if out.exists() else 0


@pytest.mark.slow
def test_sigkill_midway_then_rerun_is_byte_identical(tmp_path):
    source = tmp_path / "source"
    write_sample_source(str(source), shards=4, copies=6)  # 24 shards
    cmd = [sys.executable, "-m", "pipelines.cli", "build", "ingest", "--source", str(source)]
    subprocess.run([*cmd, "--out", str(tmp_path / "ref")], check=True, capture_output=True)
    reference = files_of(tmp_path / "ref" / "ingest")
    killed_at = []
    for trial in range(3):
        out_root = tmp_path / f"killed{trial}"
        out = out_root / "ingest"
        proc = subprocess.Popen(
            [*cmd, "--out", str(out_root)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
        )
        deadline = time.time() + 120
        while _done(out) < 3 + 5 * trial and proc.poll() is None and time.time() < deadline:
            time.sleep(0.01)
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        killed_at.append(_done(out))
        subprocess.run([*cmd, "--out", str(out_root)], check=True, capture_output=True)
        assert files_of(out) == reference, f"trial {trial} killed after {killed_at[-1]} shards"
        assert json.loads((out / "sizes.json").read_text()) == json.loads(
            (tmp_path / "ref" / "ingest" / "sizes.json").read_text()
        )
        assert validate_dataset(str(out)).ok
    assert any(0 < k < 24 for k in killed_at), f"never killed midway: {killed_at}"
