"""The ``text_rendering`` asset: OCR-positioned text lines, quoting captions, glyph and position images, from ``ingest``."""

from dagster import AssetCheckResult, AssetExecutionContext, MaterializeResult

from assets.checks import check_result
from assets.common import DatasetRunConfig, build_dataset, dataset_asset, ingested
from assets.resources import BeamResource, StorageResource
from pipelines.checks.text import text_audit


def _text_audit(url: str, shards: list[str]) -> tuple[list[AssetCheckResult], dict]:
    result = text_audit(url, shards)
    return [check_result(result)], {"text_lines": result.metadata["text_lines"]}


@dataset_asset(
    "text_rendering",
    group="text_rendering",
    kinds={"beam", "paddleocr", "webdataset"},
    description="PP-OCR lines (polygon, text, score, script, 3x3 cell, valid), a caption quoting them, glyph + position images.",
    checks={
        "text": "glyph and position images of the image's size marking exactly the valid lines' polygons (redrawn "
        "independently), non-empty valid lines, and a caption quoting exactly them"
    },
    gpu=True,
)
def text_rendering(
    context: AssetExecutionContext, config: DatasetRunConfig, storage: StorageResource, beam: BeamResource
) -> MaterializeResult:
    return build_dataset(context, "text_rendering", config, storage, ingested(storage), beam, _text_audit)
