"""The ``ingest`` asset: decoded, normalised, hashed and de-duplicated samples, one partition per source shard."""

from dagster import AssetExecutionContext, MaterializeResult

from assets.common import DatasetRunConfig, build_dataset, dataset_asset
from assets.resources import BeamResource, SourceResource, StorageResource


@dataset_asset(
    "ingest",
    group="foundation",
    kinds={"beam", "webdataset", "parquet"},
    description="Decode (EXIF, any mode to RGB, pixel limit), cap the long side, re-encode as JPEG, hash, reject exact duplicates.",
    from_ingest=False,
)
def ingest(
    context: AssetExecutionContext,
    config: DatasetRunConfig,
    storage: StorageResource,
    source: SourceResource,
    beam: BeamResource,
) -> MaterializeResult:
    return build_dataset(context, "ingest", config, storage, source, beam)
