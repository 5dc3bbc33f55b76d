"""The ``personalization`` asset: entities with boxes and per-instance masks, built from ``ingest``'s shards."""

from dagster import AssetExecutionContext, AssetKey, BackfillPolicy, MaterializeResult, asset

from assets.checks import dataset_check_specs
from assets.common import DATASET_RETRY, DatasetRunConfig, build_dataset
from assets.partitions import source_shards
from assets.resources import BeamResource, SourceResource, StorageResource


@asset(
    deps=[AssetKey("ingest")],
    partitions_def=source_shards,
    backfill_policy=BackfillPolicy.multi_run(max_partitions_per_run=8),
    check_specs=dataset_check_specs("personalization"),
    retry_policy=DATASET_RETRY,
    pool="gpu",
    group_name="personalization",
    kinds={"beam", "pytorch", "webdataset"},
    description="spaCy caption entities, Grounding DINO boxes, SAM masks (COCO RLE per instance), SDD's quality filters.",
)
def personalization(context: AssetExecutionContext, config: DatasetRunConfig, storage: StorageResource,
                    beam: BeamResource) -> MaterializeResult:
    ingested = SourceResource(uri=storage.dataset_url("ingest"), kind="img2dataset")
    return build_dataset(context, "personalization", config, storage, ingested, beam)
