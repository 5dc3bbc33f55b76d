"""Beam runners: the multi-process runner writes the same bytes as the in-process one; counters match the stats."""

from __future__ import annotations

import pytest

from pipelines.runner import RunnerConfig, pipeline_options, select_shards
from pipelines.sources import SourceShard
from tests.conftest import build, files_of


@pytest.mark.slow
def test_multiprocess_equals_in_process(sample_source, tmp_path):
    one = build("ingest", sample_source, tmp_path / "one", workers=1)
    two = build("ingest", sample_source, tmp_path / "two", workers=2)
    assert files_of(tmp_path / "one" / "ingest") == files_of(tmp_path / "two" / "ingest")
    assert (tmp_path / "one" / "ingest" / "sizes.json").read_bytes() == (
        tmp_path / "two" / "ingest" / "sizes.json"
    ).read_bytes()
    assert one["counts"] == two["counts"]
    for report in (one, two):
        counters = report["counters"]
        assert counters["shards_built"] == 4 and counters["inputs"] == 40
        assert counters["ok"] == report["counts"]["ok"] and counters["failed.truncated"] == 1


def test_direct_runner_is_refused():
    with pytest.raises(ValueError, match="FnApiRunner"):
        pipeline_options(RunnerConfig(runner="DirectRunner"))


def test_multiprocess_options():
    opts = pipeline_options(RunnerConfig(workers=3)).get_all_options()
    assert opts["direct_running_mode"] == "multi_processing" and opts["direct_num_workers"] == 3


def test_select_shards():
    shards = [SourceShard(f"{i:05d}", f"s/{i}") for i in range(5)]
    assert [s.shard for s in select_shards(shards, limit=2)] == ["00000", "00001"]
    assert [s.shard for s in select_shards(shards, only=["00003", "00001"])] == ["00001", "00003"]
    with pytest.raises(KeyError, match="00009"):
        select_shards(shards, only=["00009"])
