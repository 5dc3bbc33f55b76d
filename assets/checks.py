"""What every dataset asset reports: metadata for the UI and the accounting and contract checks."""

from __future__ import annotations

from typing import Any

from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    MetadataValue,
    TableColumn,
    TableRecord,
    TableSchema,
)

from assets.preview import preview_markdown
from pipelines.store import DatasetDir
from pipelines.validate import validate_dataset

REASONS_SCHEMA = TableSchema(
    columns=[TableColumn("status", "string"), TableColumn("reason", "string"), TableColumn("count", "int")]
)


def dataset_check_specs(asset: str) -> list[AssetCheckSpec]:
    return [
        AssetCheckSpec(
            "accounting", asset=asset, description="ok + rejected + failed == input samples in every shard of the run"
        ),
        AssetCheckSpec(
            "contract",
            asset=asset,
            description="the run's shards pass `shardsmith validate` (tar keys, json, geometry, sizes.json)",
        ),
    ]


def build_metadata(report: dict[str, Any], dataset_url: str, preview: bool = True) -> dict[str, Any]:
    """What the UI shows per materialization: counts by status, reasons as a table, row count, the committed shards' paths,
    the model ids their stats record, and (``preview``) an inline contact sheet of a few samples."""
    counts = report["counts"]
    rows = [
        TableRecord({"status": status, "reason": reason, "count": n})
        for status in ("rejected", "failed")
        for reason, n in sorted(report["reasons"][status].items())
    ]
    out = DatasetDir(dataset_url)
    done = report["shards_done"]
    metadata = {
        "dagster/row_count": counts["ok"],
        "inputs": report["inputs"],
        "ok": counts["ok"],
        "rejected": counts["rejected"],
        "failed": counts["failed"],
        "reasons": MetadataValue.table(rows, schema=REASONS_SCHEMA),
        "shards": MetadataValue.json(report["shards"]),
        "shard_paths": MetadataValue.json([f"{dataset_url}/{s}.tar" for s in done]),
        "models": MetadataValue.json(shard_models(out, done)),
        "dataset_dir": MetadataValue.path(dataset_url),
    }
    if preview:
        metadata["preview"] = MetadataValue.md(preview_markdown(dataset_url, done))
    return metadata


def shard_models(out: DatasetDir, shards: list[str]) -> dict[str, str]:
    """Role -> model id over the shards' ``_stats.json``; a role that differs between shards lists every id, sorted."""
    ids: dict[str, set[str]] = {}
    for shard in shards:
        for role, model in out.read_stats(shard).get("models", {}).items():
            ids.setdefault(role, set()).add(model)
    return {role: " | ".join(sorted(models)) for role, models in sorted(ids.items())}


def accounting_check(report: dict[str, Any]) -> AssetCheckResult:
    counts = report["counts"]
    total = counts["ok"] + counts["rejected"] + counts["failed"]
    missing = sorted(set(report["shards"]) - set(report["shards_done"]))
    passed = not missing and total >= report["inputs"] and report["inputs"] > 0
    return AssetCheckResult(
        check_name="accounting",
        passed=passed,
        metadata={"inputs": report["inputs"], "rows": total, "shards_not_committed": MetadataValue.json(missing)},
    )


def contract_check(dataset_url: str, shards: list[str]) -> AssetCheckResult:
    report = validate_dataset(dataset_url, deep=True, only=shards)
    return AssetCheckResult(
        check_name="contract",
        passed=report.ok,
        severity=AssetCheckSeverity.ERROR,
        metadata={
            "errors": MetadataValue.json([f"{s}: {m}" for s, m in report.errors][:50]),
            "warnings": len(report.warnings),
            "samples": report.samples,
        },
    )
