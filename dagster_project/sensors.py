"""The source sensor: new input shards become partitions, and runs are requested for them."""

from dagster import DefaultSensorStatus, RunRequest, SensorEvaluationContext, SensorResult, SkipReason, sensor

from assets.partitions import source_shards
from assets.resources import SourceResource


@sensor(job_name="all_assets", minimum_interval_seconds=60, default_status=DefaultSensorStatus.STOPPED,
        description="Lists the source root; adds each new shard as a partition and requests a run for it.")
def source_shards_sensor(context: SensorEvaluationContext, source: SourceResource) -> SensorResult | SkipReason:
    known = set(context.instance.get_dynamic_partitions(source_shards.name))
    new = [s.shard for s in source.shards() if s.shard not in known]
    if not new:
        return SkipReason(f"no new shards in {source.uri}")
    return SensorResult(
        run_requests=[RunRequest(partition_key=k, run_key=f"shard-{k}") for k in new],
        dynamic_partitions_requests=[source_shards.build_add_request(new)],
    )
