"""The nightly backfill: every partition whose shard is missing or broken in storage, for any dataset, is rebuilt."""

from __future__ import annotations

import os

from dagster import (
    AssetKey,
    AssetPartitionStatus,
    DefaultScheduleStatus,
    RunRequest,
    ScheduleEvaluationContext,
    SkipReason,
    schedule,
)

from assets.common import PARTITIONS_PER_RUN
from assets.partitions import source_shards
from assets.resources import StorageResource
from dagster_project.sensors import JOB, batch_requests
from pipelines.datasets import dataset_names
from pipelines.store import DatasetDir

NIGHTLY_CRON = os.environ.get("SHARDSMITH_BACKFILL_CRON", "0 2 * * *")


def dataset_keys(context: ScheduleEvaluationContext) -> list[AssetKey]:
    """The assets partitioned by source shard that are registered datasets: each writes ``<root>/<asset name>/`` in the
    data contract's layout (other partitioned assets, such as review exports, have no shards to check)."""
    graph, datasets = context.repository_def.asset_graph, set(dataset_names())
    return sorted(
        k
        for k in graph.materializable_asset_keys
        if k.path[-1] in datasets and getattr(graph.get(k).partitions_def, "name", None) == source_shards.name
    )


def missing_partitions(context: ScheduleEvaluationContext, storage: StorageResource, keys: list[AssetKey]) -> list[str]:
    """Partitions, in partition order, with no committed shard for some dataset (never built, failed, or killed midway),
    less those a run is building now."""
    partitions = context.instance.get_dynamic_partitions(source_shards.name)
    missing: set[str] = set()
    busy: set[str] = set()
    for key in keys:
        done = set(DatasetDir(storage.dataset_url(key.path[-1])).done_shards())
        missing |= {p for p in partitions if p not in done}
        status = context.instance.get_status_by_partition(key, partitions, source_shards) or {}
        busy |= {p for p, s in status.items() if s == AssetPartitionStatus.IN_PROGRESS}
    return [p for p in partitions if p in missing and p not in busy]


def contiguous_runs(partitions: list[str], chosen: list[str]) -> list[list[str]]:
    """Split ``chosen`` (a subsequence of ``partitions``) at its gaps, so that each piece is a partition range."""
    index = {p: i for i, p in enumerate(partitions)}
    runs: list[list[str]] = []
    for p in chosen:
        if runs and index[p] == index[runs[-1][-1]] + 1:
            runs[-1].append(p)
        else:
            runs.append([p])
    return runs


@schedule(
    job_name=JOB,
    cron_schedule=NIGHTLY_CRON,
    default_status=DefaultScheduleStatus.STOPPED,
    description="Nightly: rebuild every partition whose shard is not committed in storage for some dataset (missing, "
    "failed or interrupted), in runs of at most SHARDSMITH_PARTITIONS_PER_RUN consecutive partitions.",
)
def nightly_backfill_schedule(
    context: ScheduleEvaluationContext, storage: StorageResource
) -> list[RunRequest] | SkipReason:
    keys = dataset_keys(context)
    chosen = missing_partitions(context, storage, keys)
    if not chosen:
        return SkipReason(f"every partition of {[k.to_user_string() for k in keys]} is committed in {storage.root}")
    partitions = context.instance.get_dynamic_partitions(source_shards.name)
    tick = context.scheduled_execution_time.strftime("%Y%m%dT%H%M")
    return [
        r
        for run in contiguous_runs(partitions, chosen)
        for r in batch_requests(run, PARTITIONS_PER_RUN, f"nightly-{tick}-")
    ]
