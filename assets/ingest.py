"""The ``ingest`` asset: decoded, normalised, hashed and de-duplicated samples, one partition per source shard."""

from dagster import AssetExecutionContext, MaterializeResult, asset

from assets.checks import dataset_check_specs
from assets.common import DATASET_BACKFILL, DATASET_RETRY, DatasetRunConfig, build_dataset
from assets.partitions import source_shards
from assets.resources import BeamResource, SourceResource, StorageResource


@asset(
    partitions_def=source_shards,
    backfill_policy=DATASET_BACKFILL,
    check_specs=dataset_check_specs("ingest"),
    retry_policy=DATASET_RETRY,
    group_name="foundation",
    kinds={"beam", "webdataset", "parquet"},
    description="Decode (EXIF, any mode to RGB, pixel limit), cap the long side, re-encode as JPEG, hash, reject exact duplicates.",
)
def ingest(
    context: AssetExecutionContext,
    config: DatasetRunConfig,
    storage: StorageResource,
    source: SourceResource,
    beam: BeamResource,
) -> MaterializeResult:
    return build_dataset(context, "ingest", config, storage, source, beam)
