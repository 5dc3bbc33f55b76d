"""``shapes_negatives``: the retrieval_negatives builder (``shardsmith build retrieval_negatives``) over the shapes splits."""

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from dagster import AssetCheckSpec, AssetKey, DataVersion, MaterializeResult, MetadataValue, asset

from assets.checks import build_metadata, check_result
from assets.common import DATASET_RETRY, DatasetRunConfig, shards_data_version
from assets.resources import BeamResource, SourceResource, StorageResource
from pipelines.checks import CheckOutcome
from pipelines.checks.accounting import accounting, source_input_keys
from pipelines.checks.contract import contract
from pipelines.checks.negatives import validity
from pipelines.checks.retrieval import merged

NEGATIVE_SPLITS = ("train", "test")  # the shapes splits the trainers read with negatives (test: their eval data)
CHECKS = {
    "accounting": "per split, every shard committed and its rows naming exactly the samples of its shapes shard",
    "contract": "per split, the shards pass `shardsmith validate`",
    "validity": "per split, every negative is a minimal edit of its kind by a token diff against its caption",
}


def negatives_url(storage: StorageResource, split: str) -> str:
    """Where the negatives of a shapes split live: what ``shardsmith build retrieval_negatives --source shapes/SPLIT
    --out <root>/shapes_negatives/SPLIT`` writes."""
    return storage.dataset_url(f"shapes_negatives/{split}") + "/retrieval_negatives"


@dataclass(frozen=True)
class SplitBuild:
    url: str
    shards: list[str]
    report: dict[str, Any]
    checks: dict[str, CheckOutcome]


def build_split(storage: StorageResource, beam: BeamResource, split: str, settings: dict[str, Any]) -> SplitBuild:
    """Build retrieval_negatives over ``shapes/<split>`` through Beam, then audit the shards it built."""
    source = SourceResource(uri=storage.dataset_url(f"shapes/{split}"), kind="img2dataset")
    out = StorageResource(root=storage.dataset_url(f"shapes_negatives/{split}"))
    shards = [s.shard for s in source.shards()]
    report = beam.build("retrieval_negatives", source, out, shards, settings)
    url = negatives_url(storage, split)
    checks = {
        "accounting": accounting(url, shards, source_input_keys(source.open())),
        "contract": contract(url, shards),
        "validity": validity(url, shards),
    }
    return SplitBuild(url, shards, report, checks)


def splits_data_version(builds: dict[str, SplitBuild]) -> DataVersion:
    """One version from every split's shard checksums: it changes when any split's shards change."""
    lines = [f"{split} {shards_data_version(b.url, b.shards).value}" for split, b in sorted(builds.items())]
    return DataVersion(hashlib.sha256("\n".join(lines).encode()).hexdigest()[:24])


@asset(
    group_name="training",
    deps=[AssetKey("shapes_corpus")],
    kinds={"beam", "spacy", "webdataset"},
    retry_policy=DATASET_RETRY,
    check_specs=[AssetCheckSpec(name, asset="shapes_negatives", description=text) for name, text in CHECKS.items()],
    description="The shapes train and test splits with attribute-swapped hard-negative captions (retrieval_negatives).",
)
def shapes_negatives(config: DatasetRunConfig, storage: StorageResource, beam: BeamResource) -> MaterializeResult:
    settings = json.loads(config.settings)
    builds = {split: build_split(storage, beam, split, settings) for split in NEGATIVE_SPLITS}
    metadata: dict[str, Any] = {"dagster/row_count": sum(b.report["counts"]["ok"] for b in builds.values())}
    for split, b in builds.items():
        built = build_metadata(b.report, b.url, preview=split == "train")
        metadata |= {f"{split}/{k}": v for k, v in built.items() if not k.startswith("dagster/")}
        metadata[f"{split}/kind_mix"] = MetadataValue.json(dict(b.checks["validity"].metadata["kinds"]))
    checks = [check_result(merged(name, {s: b.checks[name] for s, b in builds.items()})) for name in CHECKS]
    return MaterializeResult(metadata=metadata, check_results=checks, data_version=splits_data_version(builds))
