"""The ``retrieval_negatives`` asset: images with captions and attribute-swapped hard negatives, from ``ingest``'s shards."""

from dagster import (
    AssetCheckResult,
    AssetExecutionContext,
    MaterializeResult,
    MetadataValue,
)

from assets.checks import check_result
from assets.common import DatasetRunConfig, build_dataset, dataset_asset, ingested
from assets.resources import BeamResource, StorageResource
from pipelines.checks.negatives import validity


@dataset_asset(
    "retrieval_negatives",
    group="retrieval_negatives",
    kinds={"beam", "spacy", "webdataset"},
    description="Hard-negative captions by replace-att, swap-att and replace-count rules over versioned attribute vocabularies.",
    checks={
        "validity": "every negative, diffed token by token against its positive, is a minimal edit of its kind, inside "
        "its recorded span, and novel"
    },
)
def retrieval_negatives(
    context: AssetExecutionContext, config: DatasetRunConfig, storage: StorageResource, beam: BeamResource
) -> MaterializeResult:
    return build_dataset(context, "retrieval_negatives", config, storage, ingested(storage), beam, _validity)


def _validity(url: str, shards: list[str]) -> tuple[list[AssetCheckResult], dict]:
    """Every negative of the run's shards audited by a token diff, independently of the generator; the mix of kinds."""
    result = validity(url, shards)
    return [check_result(result)], {"kind_mix": MetadataValue.json(dict(result.metadata["kinds"]))}
