"""The ``retrieval_negatives`` asset: images with captions and attribute-swapped hard negatives, from ``ingest``'s shards."""

from dagster import (
    AssetCheckResult,
    AssetCheckSpec,
    AssetExecutionContext,
    AssetKey,
    MaterializeResult,
    MetadataValue,
    asset,
)

from assets.checks import dataset_check_specs
from assets.common import DATASET_BACKFILL, DATASET_RETRY, DatasetRunConfig, build_dataset
from assets.partitions import source_shards
from assets.resources import BeamResource, SourceResource, StorageResource
from pipelines.negatives.audit import audit_shards


@asset(
    deps=[AssetKey("ingest")],
    partitions_def=source_shards,
    backfill_policy=DATASET_BACKFILL,
    check_specs=[
        *dataset_check_specs("retrieval_negatives"),
        AssetCheckSpec(
            "validity",
            asset="retrieval_negatives",
            description="every negative is its positive with exactly the recorded edit, and novel",
        ),
    ],
    retry_policy=DATASET_RETRY,
    group_name="retrieval_negatives",
    kinds={"beam", "spacy", "webdataset"},
    description="Hard-negative captions by replace-att, swap-att and replace-count rules over versioned attribute vocabularies.",
)
def retrieval_negatives(
    context: AssetExecutionContext, config: DatasetRunConfig, storage: StorageResource, beam: BeamResource
) -> MaterializeResult:
    ingested = SourceResource(uri=storage.dataset_url("ingest"), kind="img2dataset")
    result = build_dataset(context, "retrieval_negatives", config, storage, ingested, beam)
    audit = audit_shards(storage.dataset_url("retrieval_negatives"), list(context.partition_keys))
    validity = AssetCheckResult(
        check_name="validity",
        passed=not audit["problems"],
        metadata={"negatives": audit["negatives"], "problems": MetadataValue.json(audit["problems"][:50])},
    )
    return MaterializeResult(
        metadata={**result.metadata, "kind_mix": MetadataValue.json(audit["kinds"])},
        check_results=[*result.check_results, validity],
    )
