"""The ``personalization`` asset: entities with boxes and per-instance masks, built from ``ingest``'s shards."""

import json
from collections import Counter

from dagster import (
    AssetCheckResult,
    AssetExecutionContext,
    MaterializeResult,
    MetadataValue,
)

from assets.common import DatasetRunConfig, build_dataset, dataset_asset, ingested
from assets.resources import BeamResource, StorageResource
from pipelines.datasets import make_dataset
from pipelines.store import ShardReader


def entity_counts(
    url: str, shards: list[str], min_boxes: int, max_boxes: int
) -> tuple[AssetCheckResult, dict[int, int]]:
    """The distribution of entities per written image, and a check that every one lies in [min_boxes, max_boxes]."""
    reader = ShardReader(url)
    counts: Counter[int] = Counter()
    for shard in shards:
        table = reader.manifest(shard, ["status", "n_entities"]).to_pylist()
        counts.update(r["n_entities"] for r in table if r["status"] == "ok")
    outside = {n: c for n, c in counts.items() if not min_boxes <= n <= max_boxes}
    check = AssetCheckResult(
        check_name="entity_count",
        passed=not outside,
        metadata={
            "histogram": MetadataValue.json(dict(sorted(counts.items()))),
            "outside_range": MetadataValue.json(outside),
        },
    )
    return check, dict(sorted(counts.items()))


@dataset_asset(
    "personalization",
    group="personalization",
    kinds={"beam", "pytorch", "webdataset"},
    description="spaCy caption entities, Grounding DINO boxes, SAM masks (COCO RLE per instance), SDD's quality filters.",
    checks={"entity_count": "entities per image within the box-count filter"},
    gpu=True,
)
def personalization(
    context: AssetExecutionContext, config: DatasetRunConfig, storage: StorageResource, beam: BeamResource
) -> MaterializeResult:
    settings = make_dataset("personalization", json.loads(config.settings)).config

    def audit(url: str, shards: list[str]) -> tuple[list[AssetCheckResult], dict]:
        check, histogram = entity_counts(url, shards, settings.min_boxes, settings.max_boxes)
        return [check], {"entities_per_image": MetadataValue.json(histogram)}

    return build_dataset(context, "personalization", config, storage, ingested(storage), beam, audit)
