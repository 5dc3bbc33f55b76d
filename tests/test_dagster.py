"""Dagster: the Definitions load, the ingest asset materializes a partition with passing checks, the sensor adds shards."""

from __future__ import annotations

from dagster import DagsterInstance, SensorResult, build_sensor_context, materialize

from assets.ingest import ingest
from assets.partitions import source_shards
from assets.resources import resources_from_env
from dagster_project.definitions import defs
from dagster_project.sensors import source_shards_sensor
from pipelines.store import DatasetDir


def _resources(sample_source, tmp_path) -> dict:
    return resources_from_env({"SHARDSMITH_SOURCE": str(sample_source), "SHARDSMITH_ROOT": str(tmp_path / "storage")})


def test_definitions_load():
    assert {k.to_user_string() for k in defs.resolve_all_asset_keys()} >= {"ingest"}
    assert defs.resolve_job_def("all_assets") is not None
    assert {"storage", "source", "beam"} <= set(defs.resources)


def test_ingest_materializes_a_partition(sample_source, tmp_path):
    instance = DagsterInstance.ephemeral()
    instance.add_dynamic_partitions(source_shards.name, ["00000", "00001", "00002", "00003"])
    result = materialize(
        [ingest], partition_key="00001", instance=instance, resources=_resources(sample_source, tmp_path)
    )
    assert result.success
    checks = {c.check_name: c.passed for c in result.get_asset_check_evaluations()}
    assert checks == {"accounting": True, "contract": True}
    (mat,) = result.asset_materializations_for_node("ingest")
    md = mat.metadata
    assert md["inputs"].value == 10 and md["dagster/row_count"].value == md["ok"].value == 8 and md["failed"].value == 2
    assert {r.data["reason"] for r in md["reasons"].value.records} == {"not_an_image", "bad_metadata"}
    out = DatasetDir(str(tmp_path / "storage" / "ingest"))
    assert out.done_shards() == ["00001"]


def test_sensor_adds_new_shards_once(sample_source, tmp_path):
    instance = DagsterInstance.ephemeral()
    resources = _resources(sample_source, tmp_path)
    context = build_sensor_context(instance=instance, resources={"source": resources["source"]})
    result = source_shards_sensor(context)
    assert isinstance(result, SensorResult)
    # new shards are requested in batches of SHARDSMITH_PARTITIONS_PER_RUN (default 16): here one range run
    assert [
        (r.tags["dagster/asset_partition_range_start"], r.tags["dagster/asset_partition_range_end"])
        for r in result.run_requests
    ] == [("00000", "00003")]
    instance.add_dynamic_partitions(source_shards.name, ["00000", "00001", "00002", "00003"])
    again = source_shards_sensor(build_sensor_context(instance=instance, resources={"source": resources["source"]}))
    assert not isinstance(again, SensorResult) or not again.run_requests
