"""The ``text_rendering`` asset: OCR-positioned text lines, quoting captions, glyph and position images, from ``ingest``."""

from dagster import (
    AssetCheckResult,
    AssetExecutionContext,
    MaterializeResult,
    MetadataValue,
)

from assets.common import DatasetRunConfig, build_dataset, dataset_asset, ingested
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


@dataset_asset(
    "text_rendering",
    group="text_rendering",
    kinds={"beam", "paddleocr", "webdataset"},
    description="PP-OCR lines (polygon, text, score, script, 3x3 cell, valid), a caption quoting them, glyph + position images.",
    checks={"text": "non-empty valid lines, glyph and position images"},
    gpu=True,
)
def text_rendering(
    context: AssetExecutionContext, config: DatasetRunConfig, storage: StorageResource, beam: BeamResource
) -> MaterializeResult:
    return build_dataset(context, "text_rendering", config, storage, ingested(storage), beam, _text_audit)
