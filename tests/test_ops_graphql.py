"""End to end through the real server: `dagster dev` (webserver + daemon), a two-partition backfill launched over GraphQL."""

from __future__ import annotations

import time

import pytest

from dagster_project.server import DagsterDev
from pipelines.store import DatasetDir
from pipelines.validate import validate_dataset

MATERIALIZATIONS = """
query { assetOrError(assetKey: {path: ["ingest"]}) { ... on Asset { assetMaterializations(limit: 10) {
  partition metadataEntries { label __typename ... on MarkdownMetadataEntry { mdStr } ... on IntMetadataEntry { intValue }
  ... on TableMetadataEntry { table { records } } ... on JsonMetadataEntry { jsonString } } } } } }"""


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_backfill_of_two_partitions_through_graphql(sample_source, tmp_path):
    root = tmp_path / "storage"
    env = {"SHARDSMITH_SOURCE": str(sample_source), "SHARDSMITH_ROOT": str(root), "SHARDSMITH_PARTITIONS_PER_RUN": "16"}
    dev = DagsterDev(tmp_path / "dagster_home", env)
    try:
        with dev:
            dev.add_partitions("source_shards", ["00000", "00001", "00002", "00003"])
            start = time.monotonic()
            backfill = dev.launch_backfill("ingest", ["00001", "00002"])
            state = dev.wait_backfill(backfill, timeout_s=150)
            elapsed = time.monotonic() - start
            assert state["status"] == "COMPLETED_SUCCESS", state
            # BackfillPolicy.multi_run: both partitions in one run (one Beam pipeline), as a partition range
            (run,) = state["runs"]
            tags = {t["key"]: t["value"] for t in run["tags"]}
            assert run["status"] == "SUCCESS"
            assert (tags["dagster/asset_partition_range_start"], tags["dagster/asset_partition_range_end"]) == (
                "00001",
                "00002",
            )
            # what the UI shows for the materialization: counts, reasons table, row count, shard paths, models, preview
            entries = {
                e["label"]: e
                for m in dev.graphql(MATERIALIZATIONS)["assetOrError"]["assetMaterializations"]
                for e in m["metadataEntries"]
            }
            assert {
                "dagster/row_count",
                "ok",
                "rejected",
                "failed",
                "reasons",
                "shard_paths",
                "models",
                "preview",
            } <= set(entries)
            assert entries["dagster/row_count"]["intValue"] > 0 and entries["reasons"]["table"]["records"]
            assert entries["preview"]["__typename"] == "MarkdownMetadataEntry"
            assert "](data:image/jpeg;base64," in entries["preview"]["mdStr"]
    finally:
        assert not dev.our_processes(), "a process of dagster dev outlived stop()"
    out = DatasetDir(str(root / "ingest"))
    assert out.done_shards() == ["00001", "00002"]
    report = validate_dataset(out.url)
    assert report.ok, report.errors
    assert report.shards == 2 and report.samples > 0
    print(f"backfill of 2 partitions through dagster dev: {elapsed:.1f}s")
