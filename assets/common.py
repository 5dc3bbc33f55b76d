"""What every dataset asset does: build its partitions' shards through Beam, then report and check them."""

from __future__ import annotations

import json

from dagster import AssetExecutionContext, Config, MaterializeResult, RetryPolicy

from assets.checks import accounting_check, build_metadata, contract_check
from assets.resources import BeamResource, SourceResource, StorageResource

# Transient failures (storage blips, a worker lost) retry with backoff; a bad sample never fails a run.
DATASET_RETRY = RetryPolicy(max_retries=2, delay=10, backoff=None)


class DatasetRunConfig(Config):
    """Per-run overrides of the dataset's config, as JSON (e.g. ``{"max_side": 512}``); validated by the dataset."""

    settings: str = "{}"


def build_dataset(context: AssetExecutionContext, dataset: str, config: DatasetRunConfig, storage: StorageResource,
                  source: SourceResource, beam: BeamResource) -> MaterializeResult:
    shards = list(context.partition_keys)
    context.log.info(f"building {dataset} for {len(shards)} shard(s) with {beam.runner} x{beam.workers}")
    report = beam.build(dataset, source, storage, shards, json.loads(config.settings))
    url = storage.dataset_url(dataset)
    return MaterializeResult(
        metadata=build_metadata(report, url),
        check_results=[accounting_check(report), contract_check(url, shards)],
    )
