"""The source sensor: new input shards become partitions, and runs are requested for them in batches, each exactly once."""

from __future__ import annotations

import base64
import json
import zlib
from collections.abc import Iterable, Sequence

from dagster import DefaultSensorStatus, RunRequest, SensorEvaluationContext, SensorResult, SkipReason, sensor
from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG

from assets.common import PARTITIONS_PER_RUN
from assets.partitions import source_shards
from assets.resources import SourceResource

JOB = "all_assets"


def encode_cursor(shards: Iterable[str]) -> str:
    """The set of shards already requested, sorted, zlib'd and base64'd: a few bytes a shard even at 100k shards."""
    return base64.b64encode(zlib.compress(json.dumps(sorted(set(shards))).encode(), 9)).decode()


def decode_cursor(cursor: str | None) -> set[str]:
    return set(json.loads(zlib.decompress(base64.b64decode(cursor)))) if cursor else set()


def batch_requests(keys: Sequence[str], per_run: int, run_key_prefix: str) -> list[RunRequest]:
    """One run per batch of ``per_run`` consecutive partitions (``keys`` must be contiguous in the partition order):
    a single key as ``partition_key``, several as a partition range, which the asset sees as ``context.partition_keys``."""
    requests = []
    for i in range(0, len(keys), per_run):
        batch = keys[i : i + per_run]
        run_key = f"{run_key_prefix}{batch[0]}-{batch[-1]}"
        if len(batch) == 1:
            requests.append(RunRequest(partition_key=batch[0], run_key=run_key))
        else:
            tags = {ASSET_PARTITION_RANGE_START_TAG: batch[0], ASSET_PARTITION_RANGE_END_TAG: batch[-1]}
            requests.append(RunRequest(run_key=run_key, tags=tags))
    return requests


@sensor(
    job_name=JOB,
    minimum_interval_seconds=60,
    default_status=DefaultSensorStatus.STOPPED,
    description="Lists the source root (a path or any fsspec URL); adds each new shard as a partition and requests "
    "runs for new shards in batches of SHARDSMITH_PARTITIONS_PER_RUN. The cursor holds every shard "
    "already requested, so no shard is requested twice.",
)
def source_shards_sensor(context: SensorEvaluationContext, source: SourceResource) -> SensorResult | SkipReason:
    requested = decode_cursor(context.cursor)
    known = set(context.instance.get_dynamic_partitions(source_shards.name))
    listed = sorted(s.shard for s in source.shards())
    new = [k for k in listed if k not in requested and k not in known]
    if not new:
        return SkipReason(f"no new shards in {source.uri} ({len(listed)} listed)")
    # Added in one request in this order, the new keys are contiguous at the end of the partition order: batches are ranges.
    return SensorResult(
        run_requests=batch_requests(new, PARTITIONS_PER_RUN, "shards-"),
        dynamic_partitions_requests=[source_shards.build_add_request(new)],
        cursor=encode_cursor(requested | set(new)),
    )
