"""What every dataset asset does: build its partitions' shards through Beam, then report and check them."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from typing import Any

from dagster import (
    AssetCheckResult,
    AssetCheckSpec,
    AssetExecutionContext,
    AssetKey,
    BackfillPolicy,
    Backoff,
    Config,
    DataVersion,
    Jitter,
    MaterializeResult,
    RetryPolicy,
    asset,
)

from assets.checks import accounting_check, build_metadata, contract_check, dataset_check_specs
from assets.partitions import source_shards
from assets.resources import BeamResource, SourceResource, StorageResource
from pipelines.store import DatasetDir

# Transient failures (storage blips, a worker lost, a model that raised) retry with exponential backoff: 15 s, 30 s, 60 s
# (+-50% jitter so that a batch of failed runs does not come back at once). A retry rebuilds only the shards that did not
# commit. A bad sample never fails a run: it is a `failed` row in the manifest.
DATASET_RETRY = RetryPolicy(max_retries=3, delay=15, backoff=Backoff.EXPONENTIAL, jitter=Jitter.PLUS_MINUS)

# GPU assets declare `pool=GPU_POOL`; its limit (steps at once across all runs) is `concurrency.pools.default_limit` in
# dagster_project/dagster.yaml, or `dagster instance concurrency set gpu N` on a deployment with several GPUs.
GPU_POOL = "gpu"

# Partitions (input shards) per Beam run when a backfill runs: one run builds this many shards through Beam's Reshuffle.
PARTITIONS_PER_RUN = int(os.environ.get("SHARDSMITH_PARTITIONS_PER_RUN", "16"))
DATASET_BACKFILL = BackfillPolicy.multi_run(max_partitions_per_run=PARTITIONS_PER_RUN)


class DatasetRunConfig(Config):
    """Per-run overrides of the dataset's config, as JSON (e.g. ``{"max_side": 512}``); validated by the dataset."""

    settings: str = "{}"


# A dataset's own audit of the shards a run built: (check results, extra metadata) from (dataset url, shards).
Audit = Callable[[str, list[str]], tuple[list[AssetCheckResult], dict[str, Any]]]


def build_dataset(
    context: AssetExecutionContext,
    dataset: str,
    config: DatasetRunConfig,
    storage: StorageResource,
    source: SourceResource,
    beam: BeamResource,
    audit: Audit | None = None,
) -> MaterializeResult:
    """Build the run's partitions through Beam; report counts and reasons; run accounting, contract and ``audit``."""
    shards = list(context.partition_keys)
    context.log.info(f"building {dataset} for {len(shards)} shard(s) with {beam.runner} x{beam.workers}")
    report = beam.build(dataset, source, storage, shards, json.loads(config.settings))
    url = storage.dataset_url(dataset)
    checks, extra = audit(url, shards) if audit else ([], {})
    return MaterializeResult(
        metadata={**build_metadata(report, url), **extra},
        check_results=[accounting_check(report), contract_check(url, shards), *checks],
        data_version=shards_data_version(url, shards),
    )


def shards_data_version(url: str, shards: list[str]) -> DataVersion:
    """A data version from the shards' tar checksums (as their ``_stats.json`` record them): it changes exactly when the
    bytes of a shard change, so a model trained on the old shards shows as stale."""
    out = DatasetDir(url)
    lines = [f"{s} {out.read_stats(s)['files']['tar']['sha256']}" for s in sorted(shards) if out.is_done(s)]
    return DataVersion(hashlib.sha256("\n".join(lines).encode()).hexdigest()[:24])


def dataset_asset(
    name: str,
    *,
    group: str,
    kinds: set[str],
    description: str,
    checks: dict[str, str] | None = None,
    gpu: bool = False,
    from_ingest: bool = True,
) -> Callable:
    """The decorator every Beam-built dataset asset shares: one partition per source shard, the backfill and retry
    policies, the accounting and contract checks plus the dataset's own ``checks`` (name -> description), the pool
    ``gpu`` when it runs a model, and ``ingest`` upstream when it is built from ingest's shards."""
    own = [AssetCheckSpec(check, asset=name, description=text) for check, text in (checks or {}).items()]
    return asset(
        name=name,
        deps=[AssetKey("ingest")] if from_ingest else None,
        partitions_def=source_shards,
        backfill_policy=DATASET_BACKFILL,
        check_specs=[*dataset_check_specs(name), *own],
        retry_policy=DATASET_RETRY,
        pool=GPU_POOL if gpu else None,
        group_name=group,
        kinds=kinds,
        description=description,
    )


def ingested(storage: StorageResource) -> SourceResource:
    """``ingest``'s shards as a source: the downstream datasets read decoded, de-duplicated samples, partition for partition."""
    return SourceResource(uri=storage.dataset_url("ingest"), kind="img2dataset")
