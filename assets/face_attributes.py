"""The ``face_attributes`` chain: face crops with model pre-labels -> Label Studio review tasks -> reviewed labelled shards,
and a sensor that picks up new Label Studio exports dropped in ``<root>/face_review/exports/``."""

import json
from collections import Counter

from dagster import (
    AssetCheckSpec,
    AssetExecutionContext,
    AssetSelection,
    Config,
    MaterializeResult,
    MetadataValue,
    RunRequest,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    asset,
    sensor,
)

from assets.checks import accounting_check, build_metadata, check_result, contract_check, dataset_check_specs
from assets.common import DATASET_BACKFILL, DatasetRunConfig, build_dataset, dataset_asset, ingested
from assets.partitions import source_shards
from assets.resources import BeamResource, StorageResource
from pipelines.checks.accounting import manifest_source_keys
from pipelines.checks.faces import label_provenance, tasks_valid
from pipelines.faces import review
from pipelines.faces.agreement import agreement_report, agreement_table
from pipelines.faces.schema import load_schema
from pipelines.store.fs import join, open_fs
from pipelines.store.reader import ShardReader

GROUP = "face_attributes"
REVIEWED = "face_attributes_reviewed"


def review_root(storage: StorageResource) -> str:
    return storage.root.rstrip("/") + "/face_review"


class ReviewConfig(Config):
    """``image_base``: the URL prefix under which Label Studio serves ``<root>/face_review/tasks`` (local files, S3...)."""

    image_base: str = "/data/local-files/?d=face_review/tasks"
    only_needs_review: bool = True
    schema_version: str = "v1"


@dataset_asset(
    "face_attributes",
    group=GROUP,
    kinds={"beam", "webdataset", "parquet"},
    description="Detect faces (MTCNN), align to fixed-size crops, filter (size, blur, pose, crowd, bounds), "
    "pre-label attributes zero-shot with open_clip, caption.",
    gpu=True,
)
def face_attributes(
    context: AssetExecutionContext, config: DatasetRunConfig, storage: StorageResource, beam: BeamResource
) -> MaterializeResult:
    return build_dataset(context, "face_attributes", config, storage, ingested(storage), beam)


@asset(
    partitions_def=source_shards,
    backfill_policy=DATASET_BACKFILL,
    deps=[face_attributes],
    group_name=GROUP,
    kinds={"labelstudio", "json"},
    check_specs=[
        AssetCheckSpec(
            "tasks_valid",
            asset="face_review_tasks",
            description="one task per face to review upstream, each importable with the labeling config as written: "
            "its crop served under image_base and decodable, every prediction a declared control and an allowed choice",
        )
    ],
    description="Label Studio import tasks (crop URL, model labels as predictions) for the faces that need review.",
)
def face_review_tasks(
    context: AssetExecutionContext, config: ReviewConfig, storage: StorageResource
) -> MaterializeResult:
    schema, out = load_schema(config.schema_version), review_root(storage) + "/tasks"
    shards, upstream = list(context.partition_keys), storage.dataset_url("face_attributes")
    counts = review.export_review(upstream, out, schema, shards, config.image_base, config.only_needs_review)
    check = tasks_valid(out, upstream, shards, config.image_base, config.only_needs_review)
    return MaterializeResult(
        metadata={
            "tasks": MetadataValue.json(counts),
            "tasks_dir": MetadataValue.path(out),
            "labeling_config": MetadataValue.path(join(out, "labeling_config.xml")),
        },
        check_results=[check_result(check)],
    )


@asset(
    partitions_def=source_shards,
    backfill_policy=DATASET_BACKFILL,
    deps=[face_review_tasks],
    group_name=GROUP,
    kinds={"webdataset", "parquet"},
    check_specs=[
        *dataset_check_specs(REVIEWED),
        AssetCheckSpec(
            "label_provenance",
            asset=REVIEWED,
            description="every label as upstream's model label unless reviewed; a reviewed one the human's value and "
            "annotator, keeping the model's label; values in {1,-1,0}; the same faces as upstream",
        ),
    ],
    description="The final labelled set: every Label Studio export merged (human labels override the model's, with provenance).",
)
def face_attributes_reviewed(
    context: AssetExecutionContext, config: ReviewConfig, storage: StorageResource
) -> MaterializeResult:
    schema, root = load_schema(config.schema_version), review_root(storage)
    store = review.import_exports(list_exports(root), root + "/labels.json", schema)
    shards, url, upstream = (
        list(context.partition_keys),
        storage.dataset_url(REVIEWED),
        storage.dataset_url("face_attributes"),
    )
    stats = [review.write_reviewed_shard(upstream, url, s, store) for s in shards]
    records = [s.record for shard in shards for s in ShardReader(url).samples(shard)]
    report = agreement_report(records, schema)
    summary = run_summary(shards, stats)
    fs, path = open_fs(root + "/agreement.json")
    fs.pipe_file(path, json.dumps(report, indent=1, sort_keys=True).encode())
    return MaterializeResult(
        metadata=build_metadata(summary, url)
        | {
            "agreement": MetadataValue.md(agreement_table(report)),
            "model_human_accuracy": report["accuracy"],
            "reviewed_faces": report["reviewed_faces"],
        },
        check_results=[
            accounting_check(url, shards, manifest_source_keys(upstream)),
            contract_check(url, shards),
            check_result(label_provenance(url, upstream, shards, store)),
        ],
    )


def run_summary(shards: list[str], stats: list[dict]) -> dict:
    """The shape of ``BeamResource.build``'s report, from the reviewed shards' stats."""
    reasons: dict[str, Counter] = {"rejected": Counter(), "failed": Counter()}
    for st in stats:
        for status, counter in reasons.items():
            counter.update(st["reasons"][status])
    return {
        "inputs": sum(st["inputs"] for st in stats),
        "shards": shards,
        "shards_done": [st["shard"] for st in stats],
        "counts": {k: sum(st["counts"][k] for st in stats) for k in ("ok", "rejected", "failed")},
        "reasons": {k: dict(v) for k, v in reasons.items()},
    }


def list_exports(root: str) -> list[str]:
    """Label Studio JSON exports dropped in ``<root>/exports/``, by name."""
    fs, path = open_fs(root + "/exports")
    if not fs.exists(path):
        return []
    return sorted(fs.unstrip_protocol(p) if "://" in root else p for p in fs.glob(path.rstrip("/") + "/*.json"))


def _stamp(info: dict) -> str:
    """What changes when an export file is replaced: its modification time (local, S3, GCS) and size."""
    return f"{info.get('mtime') or info.get('LastModified') or info.get('updated')}:{info.get('size')}"


@sensor(
    asset_selection=AssetSelection.assets(face_attributes_reviewed),
    minimum_interval_seconds=60,
    description="New or changed Label Studio exports in <root>/face_review/exports/: rebuild the reviewed shards they touch.",
)
def face_review_exports_sensor(context: SensorEvaluationContext, storage: StorageResource) -> SensorResult | SkipReason:
    seen: dict[str, str] = json.loads(context.cursor) if context.cursor else {}
    fs, _ = open_fs(review_root(storage))
    current = {p: _stamp(fs.info(p)) for p in list_exports(review_root(storage))}
    new = [p for p, stamp in current.items() if seen.get(p) != stamp]
    if not new:
        return SkipReason("no new Label Studio exports")
    requests = []
    for p in new:
        shards = sorted({t["data"]["shard"] for t in json.loads(fs.cat_file(p)) if "shard" in t.get("data", {})})
        requests += [RunRequest(partition_key=s, run_key=f"{p}@{current[p]}:{s}") for s in shards]
    return SensorResult(run_requests=requests, cursor=json.dumps(current, sort_keys=True))
