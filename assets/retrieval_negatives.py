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
from assets.common import DATASET_BACKFILL, DATASET_RETRY, DatasetRunConfig, build_dataset, ingested
from assets.partitions import source_shards
from assets.resources import BeamResource, StorageResource
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
    return build_dataset(context, "retrieval_negatives", config, storage, ingested(storage), beam, _validity)


def _validity(url: str, shards: list[str]) -> tuple[list[AssetCheckResult], dict]:
    """Every negative of the run's shards audited independently of the generator; the mix of kinds for the UI."""
    audit = audit_shards(url, shards)
    validity = AssetCheckResult(
        check_name="validity",
        passed=not audit["problems"],
        metadata={"negatives": audit["negatives"], "problems": MetadataValue.json(audit["problems"][:50])},
    )
    return [validity], {"kind_mix": MetadataValue.json(audit["kinds"])}
