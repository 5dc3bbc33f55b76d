"""What every dataset asset does: build its partitions' shards through Beam, then report and check them."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Mapping
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
    Failure,
    Jitter,
    MaterializeResult,
    RetryPolicy,
    asset,
)

from assets.checks import accounting_check, build_metadata, contract_check, dataset_check_specs
from assets.partitions import source_shards
from assets.resources import BeamResource, SourceResource, StorageResource
from pipelines.checks.accounting import source_input_keys
from pipelines.datasets import make_dataset
from pipelines.store import DatasetDir

# Transient failures (storage blips, a worker lost, a model that raised) retry up to 3 times. Dagster 1.13 waits
# (2**n - 1) * 15 s before retry n (EXPONENTIAL: 15, 45, 105 s), then PLUS_MINUS jitter adds a uniform +-15 s (the base
# delay, not a share of it), so that a batch of failed runs does not come back at once: 0-30 s, 30-60 s, 90-120 s
# (tests/test_ops_policy.py computes them with Dagster's own calculate_delay). A retry rebuilds only the shards that did
# not commit. A bad sample never fails a run: it is a `failed` row in the manifest.
DATASET_RETRY = RetryPolicy(max_retries=3, delay=15, backoff=Backoff.EXPONENTIAL, jitter=Jitter.PLUS_MINUS)

# Assets that run a model take `pool=GPU_POOL` when the deployment's device (SHARDSMITH_DEVICE) is a GPU, and no pool on
# CPU; its limit (steps at once across all runs) is `concurrency.pools.default_limit` in dagster_project/dagster.yaml, or
# `dagster instance concurrency set gpu N` on a deployment with several GPUs.
GPU_POOL = "gpu"


def configured_device(env: Mapping[str, str] | None = None) -> str:
    """The device the deployment's models run on: ``SHARDSMITH_DEVICE`` (``cpu``, ``cuda``, ``cuda:1``), default ``cpu``."""
    return (os.environ if env is None else env).get("SHARDSMITH_DEVICE") or "cpu"


def is_gpu(device: str) -> bool:
    return device.split(":", 1)[0].lower() in ("cuda", "gpu")


def model_pool(runs_model: bool, device: str) -> str | None:
    """The pool of an asset: ``gpu`` only for one that runs a model on a GPU; a CPU step must not hold a GPU slot."""
    return GPU_POOL if runs_model and is_gpu(device) else None


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
    settings = run_settings(dataset, json.loads(config.settings), context.op_def.pool)
    context.log.info(f"building {dataset} for {len(shards)} shard(s) with {beam.runner} x{beam.workers}")
    report = beam.build(dataset, source, storage, shards, settings)
    url = storage.dataset_url(dataset)
    checks, extra = audit(url, shards) if audit else ([], {})
    inputs = source_input_keys(source.open())
    return MaterializeResult(
        metadata={**build_metadata(report, url), **extra},
        check_results=[accounting_check(url, shards, inputs), contract_check(url, shards), *checks],
        data_version=shards_data_version(url, shards),
    )


def run_settings(dataset: str, settings: dict[str, Any], pool: str | None) -> dict[str, Any]:
    """The run's settings with the deployment's device filled in where the dataset has a ``device``; a GPU device in a
    step that holds no GPU slot is refused (it would share the GPU with every other step), without retries."""
    fields = type(make_dataset(dataset, settings).config).model_fields
    if "device" in fields and "device" not in settings:
        settings = settings | {"device": configured_device()}
    if is_gpu(str(settings.get("device", "cpu"))) and pool != GPU_POOL:
        raise Failure(
            f"{dataset}: device {settings['device']!r} but this step holds no {GPU_POOL!r} pool slot; set "
            f"SHARDSMITH_DEVICE={settings['device']} for the deployment so that the asset takes the pool",
            allow_retries=False,
        )
    return settings


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
    ``gpu`` when it runs a model (``gpu``) on a GPU (SHARDSMITH_DEVICE, read when the definitions load), and ``ingest``
    upstream when it is built from ingest's shards."""
    own = [AssetCheckSpec(check, asset=name, description=text) for check, text in (checks or {}).items()]
    return asset(
        name=name,
        deps=[AssetKey("ingest")] if from_ingest else None,
        partitions_def=source_shards,
        backfill_policy=DATASET_BACKFILL,
        check_specs=[*dataset_check_specs(name), *own],
        retry_policy=DATASET_RETRY,
        pool=model_pool(gpu, configured_device()),
        group_name=group,
        kinds=kinds,
        description=description,
    )


def ingested(storage: StorageResource) -> SourceResource:
    """``ingest``'s shards as a source: the downstream datasets read decoded, de-duplicated samples, partition for partition."""
    return SourceResource(uri=storage.dataset_url("ingest"), kind="img2dataset")
