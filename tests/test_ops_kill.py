"""SIGKILL at random points of a build (in-process and multi-process Beam), then a rerun: byte-identical shards, nothing
lost or duplicated."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from pipelines.sources.sample_source import write_sample_source
from pipelines.validate import validate_dataset
from tests.conftest import files_of

TRIALS = 4


def _committed(out: Path) -> int:
    return len(list(out.glob("*_stats.json"))) if out.exists() else 0


def _source_keys(out: Path) -> list[str]:
    return sorted(
        k
        for p in sorted(out.glob("*.parquet"))
        for k in pq.read_table(p, columns=["source_key"])["source_key"].to_pylist()
    )


@pytest.mark.slow
@pytest.mark.timeout(400)
def test_sigkill_at_random_points_then_rerun(tmp_path):
    source = tmp_path / "source"
    write_sample_source(str(source), shards=4, copies=6)  # 24 shards, 240 inputs
    cmd = [sys.executable, "-m", "pipelines.cli", "build", "ingest", "--source", str(source)]
    subprocess.run([*cmd, "--out", str(tmp_path / "ref")], check=True, capture_output=True)
    reference = files_of(tmp_path / "ref" / "ingest")
    rng = random.Random(7)
    outcomes = []
    for trial in range(TRIALS):
        workers = 1 + trial % 2  # odd trials kill Beam's SDK worker subprocesses mid-write too
        out_root = tmp_path / f"killed{trial}"
        out = out_root / "ingest"
        target, jitter = rng.randint(0, 20), rng.uniform(0.0, 0.4)  # a random shard count, then a random instant
        proc = subprocess.Popen(
            [*cmd, "--out", str(out_root), "--workers", str(workers)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        deadline = time.monotonic() + 120
        while _committed(out) < target and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.005)
        time.sleep(jitter)
        os.killpg(proc.pid, signal.SIGKILL)  # the whole group: the CLI and any SDK worker processes
        proc.wait()
        outcomes.append(
            (target, round(jitter, 2), workers, _committed(out), len(list(out.glob(".*"))) if out.exists() else 0)
        )
        subprocess.run([*cmd, "--out", str(out_root)], check=True, capture_output=True)
        assert files_of(out) == reference, f"trial {trial}: {outcomes[-1]}"
        assert (out / "sizes.json").read_bytes() == (tmp_path / "ref" / "ingest" / "sizes.json").read_bytes()
        keys = _source_keys(out)
        assert keys == _source_keys(tmp_path / "ref" / "ingest") and len(keys) >= 240  # nothing lost, nothing twice
        assert validate_dataset(str(out)).ok
    print(f"kill trials (target shards, jitter s, workers, shards committed at kill, temp files left): {outcomes}")
    assert sum(0 < o[3] < 24 for o in outcomes) >= TRIALS // 2, f"too few trials were killed midway: {outcomes}"
