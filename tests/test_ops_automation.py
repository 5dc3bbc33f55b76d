"""The source sensor (batches, a cursor that never re-requests, fsspec roots) and the nightly backfill schedule."""

import shutil
from datetime import UTC, datetime

import pytest
from dagster import (
    DagsterInstance,
    Definitions,
    SensorResult,
    build_schedule_context,
    build_sensor_context,
    define_asset_job,
    materialize,
)

import dagster_project.schedules as schedules
import dagster_project.sensors as sensors
from assets.ingest import ingest
from assets.partitions import source_shards
from assets.resources import resources_from_env
from dagster_project.schedules import nightly_backfill_schedule
from dagster_project.sensors import decode_cursor, source_shards_sensor
from pipelines.runner import BuildSpec, run_build
from pipelines.store import DatasetDir

RANGE_START, RANGE_END = "dagster/asset_partition_range_start", "dagster/asset_partition_range_end"


def _batches(requests) -> list[tuple[str, str]]:
    return [
        (r.partition_key, r.partition_key) if r.partition_key else (r.tags[RANGE_START], r.tags[RANGE_END])
        for r in requests
    ]


@pytest.fixture
def instance(tmp_path):
    """A persistent instance in tmp (schedule contexts refuse ephemeral ones), never entered as a context manager: entering
    one installs its state storage in a context variable that outlives it and breaks later Definitions loads."""
    (tmp_path / "dagster_home").mkdir()
    instance = DagsterInstance.local_temp(str(tmp_path / "dagster_home"))
    yield instance
    instance.dispose()


def test_sensor_requests_new_shards_in_batches_once(sample_source, tmp_path, instance, monkeypatch):
    source = tmp_path / "source"
    shutil.copytree(sample_source, source)
    monkeypatch.setattr(sensors, "PARTITIONS_PER_RUN", 3)
    resources = resources_from_env({"SHARDSMITH_SOURCE": str(source), "SHARDSMITH_ROOT": str(tmp_path / "storage")})

    def tick(cursor):
        return source_shards_sensor(
            build_sensor_context(instance=instance, cursor=cursor, resources={"source": resources["source"]})
        )

    first = tick(None)
    assert isinstance(first, SensorResult)
    assert _batches(first.run_requests) == [("00000", "00002"), ("00003", "00003")]
    assert decode_cursor(first.cursor) == {"00000", "00001", "00002", "00003"}
    assert first.dynamic_partitions_requests[0].partition_keys == ["00000", "00001", "00002", "00003"]
    # The cursor alone prevents a re-request, even before (or without) the partitions being added.
    assert not isinstance(tick(first.cursor), SensorResult)
    instance.add_dynamic_partitions(source_shards.name, ["00000", "00001", "00002", "00003"])
    for ext in ("tar", "parquet"):
        shutil.copy(source / f"00001.{ext}", source / f"00004.{ext}")  # a new shard lands in the source root
    second = tick(first.cursor)
    assert _batches(second.run_requests) == [("00004", "00004")]
    assert decode_cursor(second.cursor) == {"00000", "00001", "00002", "00003", "00004"}
    assert not isinstance(tick(second.cursor), SensorResult)


def test_sensor_lists_an_fsspec_root(sample_source, tmp_path, instance):
    fs_root = "memory://ops_sensor_source"
    resources = resources_from_env({"SHARDSMITH_SOURCE": fs_root, "SHARDSMITH_ROOT": str(tmp_path)})
    from fsspec import filesystem

    memory = filesystem("memory")
    for path in sample_source.iterdir():
        memory.pipe(f"/ops_sensor_source/{path.name}", path.read_bytes())
    result = source_shards_sensor(build_sensor_context(instance=instance, resources={"source": resources["source"]}))
    assert _batches(result.run_requests) == [("00000", "00003")]


def test_a_range_request_builds_every_partition_of_the_batch(sample_source, tmp_path, instance):
    """What the sensor's batch request launches: one run, one Beam pipeline, every shard of the range."""
    instance.add_dynamic_partitions(source_shards.name, ["00000", "00001", "00002", "00003"])
    resources = resources_from_env(
        {"SHARDSMITH_SOURCE": str(sample_source), "SHARDSMITH_ROOT": str(tmp_path / "storage")}
    )
    (request,) = sensors.batch_requests(["00001", "00002", "00003"], 16, "shards-")
    result = materialize([ingest], instance=instance, resources=resources, tags=request.tags)
    assert result.success
    (mat,) = [m for m in result.asset_materializations_for_node("ingest")][:1]
    assert DatasetDir(str(tmp_path / "storage" / "ingest")).done_shards() == ["00001", "00002", "00003"]
    md = mat.metadata
    assert md["shards"].value == ["00001", "00002", "00003"]
    assert md["shard_paths"].value == [f"{tmp_path}/storage/ingest/{s}.tar" for s in ("00001", "00002", "00003")]
    assert isinstance(md["models"].value, dict)
    assert md["preview"].value.startswith("![") and "(data:image/jpeg;base64," in md["preview"].value


def test_nightly_schedule_backfills_missing_and_failed_partitions(sample_source, tmp_path, instance, monkeypatch):
    monkeypatch.setattr(schedules, "PARTITIONS_PER_RUN", 2)
    env = {"SHARDSMITH_SOURCE": str(sample_source), "SHARDSMITH_ROOT": str(tmp_path / "storage")}
    resources = resources_from_env(env)
    defs = Definitions(
        assets=[ingest],
        jobs=[define_asset_job("all_assets", partitions_def=source_shards)],
        schedules=[nightly_backfill_schedule],
        resources=resources,
    )
    keys = ["00000", "00001", "00002", "00003", "00004", "00005"]
    instance.add_dynamic_partitions(source_shards.name, keys)
    run_build(BuildSpec("ingest", str(sample_source), str(tmp_path / "storage")), only=["00000", "00002"])
    out = DatasetDir(str(tmp_path / "storage" / "ingest"))
    (tmp_path / "storage" / "ingest" / "00002_stats.json").unlink()  # 00002 failed (or was killed) before its commit
    context = build_schedule_context(
        instance=instance,
        resources={"storage": resources["storage"]},
        repository_def=defs.get_repository_def(),
        scheduled_execution_time=datetime(2026, 11, 25, 2, 0, tzinfo=UTC),
    )
    requests = nightly_backfill_schedule(context)
    # missing 00001..00005 (00004/00005 are not even in the source yet: their runs will fail and be retried next night)
    assert _batches(requests) == [("00001", "00002"), ("00003", "00004"), ("00005", "00005")]
    assert len({r.run_key for r in requests}) == 3 and all(r.run_key.startswith("nightly-") for r in requests)
    assert out.done_shards() == ["00000"]
