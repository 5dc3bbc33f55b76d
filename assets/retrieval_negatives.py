"""The ``retrieval_negatives`` asset: images with captions and attribute-swapped hard negatives, from ``ingest``'s shards."""

from dagster import (
    AssetCheckResult,
    AssetExecutionContext,
    MaterializeResult,
    MetadataValue,
)

from assets.common import DatasetRunConfig, build_dataset, dataset_asset, ingested
from assets.resources import BeamResource, StorageResource
from pipelines.negatives.audit import audit_shards


@dataset_asset(
    "retrieval_negatives",
    group="retrieval_negatives",
    kinds={"beam", "spacy", "webdataset"},
    description="Hard-negative captions by replace-att, swap-att and replace-count rules over versioned attribute vocabularies.",
    checks={"validity": "every negative is its positive with exactly the recorded edit, and novel"},
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
