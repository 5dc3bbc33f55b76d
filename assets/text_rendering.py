"""The ``text_rendering`` asset: OCR-positioned text lines, quoting captions, glyph and position images, from ``ingest``."""

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
from assets.common import DATASET_BACKFILL, DATASET_RETRY, GPU_POOL, DatasetRunConfig, build_dataset, ingested
from assets.partitions import source_shards
from assets.resources import BeamResource, StorageResource
from pipelines.store import ShardReader


def _text_audit(url: str, shards: list[str]) -> tuple[list[AssetCheckResult], dict]:
    """Every ok sample has at least one valid, non-empty line, and its glyph and position images match the image size."""
    problems, lines = [], 0
    reader = ShardReader(url)
    for shard in shards:
        for sample in reader.samples(shard):
            rec = sample.record
            valid = [x for x in rec["text_lines"] if x["valid"]]
            lines += len(rec["text_lines"])
            if not valid or any(not x["text"].strip() for x in valid):
                problems.append(f"{sample.key}: no valid non-empty line")
            if "glyph.png" not in sample.files or "position.png" not in sample.files:
                problems.append(f"{sample.key}: glyph or position image missing")
    check = AssetCheckResult(
        check_name="text", passed=not problems, metadata={"lines": lines, "problems": MetadataValue.json(problems[:50])}
    )
    return [check], {"text_lines": lines}


@asset(
    deps=[AssetKey("ingest")],
    partitions_def=source_shards,
    backfill_policy=DATASET_BACKFILL,
    check_specs=[
        *dataset_check_specs("text_rendering"),
        AssetCheckSpec("text", asset="text_rendering", description="non-empty valid lines, glyph and position images"),
    ],
    retry_policy=DATASET_RETRY,
    pool=GPU_POOL,
    group_name="text_rendering",
    kinds={"beam", "paddleocr", "webdataset"},
    description="PP-OCR lines (polygon, text, score, script, 3x3 cell, valid), a caption quoting them, glyph + position images.",
)
def text_rendering(
    context: AssetExecutionContext, config: DatasetRunConfig, storage: StorageResource, beam: BeamResource
) -> MaterializeResult:
    return build_dataset(context, "text_rendering", config, storage, ingested(storage), beam, _text_audit)
