"""The ``personalization`` asset: entities with boxes and per-instance masks, built from ``ingest``'s shards."""

from dagster import AssetExecutionContext, AssetKey, MaterializeResult, asset

from assets.checks import dataset_check_specs
from assets.common import DATASET_BACKFILL, DATASET_RETRY, GPU_POOL, DatasetRunConfig, build_dataset
from assets.partitions import source_shards
from assets.resources import BeamResource, SourceResource, StorageResource


@asset(
    deps=[AssetKey("ingest")],
    partitions_def=source_shards,
    backfill_policy=DATASET_BACKFILL,
    check_specs=dataset_check_specs("personalization"),
    retry_policy=DATASET_RETRY,
    pool=GPU_POOL,
    group_name="personalization",
    kinds={"beam", "pytorch", "webdataset"},
    description="spaCy caption entities, Grounding DINO boxes, SAM masks (COCO RLE per instance), SDD's quality filters.",
)
def personalization(
    context: AssetExecutionContext, config: DatasetRunConfig, storage: StorageResource, beam: BeamResource
) -> MaterializeResult:
    ingested = SourceResource(uri=storage.dataset_url("ingest"), kind="img2dataset")
    return build_dataset(context, "personalization", config, storage, ingested, beam)
