"""The ``personalization`` asset: entities with boxes and per-instance masks, built from ``ingest``'s shards."""

import json

from dagster import (
    AssetCheckResult,
    AssetExecutionContext,
    MaterializeResult,
    MetadataValue,
)

from assets.checks import check_result
from assets.common import DatasetRunConfig, build_dataset, dataset_asset, ingested
from assets.resources import BeamResource, StorageResource
from pipelines.checks.entities import entity_count
from pipelines.datasets import make_dataset


@dataset_asset(
    "personalization",
    group="personalization",
    kinds={"beam", "pytorch", "webdataset"},
    description="spaCy caption entities, Grounding DINO boxes, SAM masks (COCO RLE per instance), SDD's quality filters.",
    checks={
        "entity_count": "from the tar's records: entities per image within the box-count range and as the manifest "
        "lists; each mask decoded to the image size, non-empty and filling its box as recorded; phrases at their spans"
    },
    gpu=True,
)
def personalization(
    context: AssetExecutionContext, config: DatasetRunConfig, storage: StorageResource, beam: BeamResource
) -> MaterializeResult:
    settings = make_dataset("personalization", json.loads(config.settings)).config

    def audit(url: str, shards: list[str]) -> tuple[list[AssetCheckResult], dict]:
        result = entity_count(url, shards, settings.min_boxes, settings.max_boxes)
        return [check_result(result)], {"entities_per_image": MetadataValue.json(dict(result.metadata["histogram"]))}

    return build_dataset(context, "personalization", config, storage, ingested(storage), beam, audit)
