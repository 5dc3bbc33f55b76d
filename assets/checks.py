"""What every dataset asset reports: metadata for the UI and the accounting and contract checks."""

from __future__ import annotations

from typing import Any

from dagster import AssetCheckResult, AssetCheckSeverity, AssetCheckSpec, MetadataValue, TableColumn, TableRecord, TableSchema

from pipelines.validate import validate_dataset

REASONS_SCHEMA = TableSchema(columns=[TableColumn("status", "string"), TableColumn("reason", "string"), TableColumn("count", "int")])


def dataset_check_specs(asset: str) -> list[AssetCheckSpec]:
    return [
        AssetCheckSpec("accounting", asset=asset, description="ok + rejected + failed == input samples in every shard of the run"),
        AssetCheckSpec("contract", asset=asset, description="the run's shards pass `shardsmith validate` (tar keys, json, geometry, sizes.json)"),
    ]


def build_metadata(report: dict[str, Any], dataset_url: str) -> dict[str, Any]:
    counts = report["counts"]
    rows = [TableRecord({"status": status, "reason": reason, "count": n})
            for status in ("rejected", "failed") for reason, n in sorted(report["reasons"][status].items())]
    return {
        "dagster/row_count": counts["ok"],
        "inputs": report["inputs"],
        "ok": counts["ok"], "rejected": counts["rejected"], "failed": counts["failed"],
        "reasons": MetadataValue.table(rows, schema=REASONS_SCHEMA),
        "shards": MetadataValue.json(report["shards"]),
        "dataset_dir": MetadataValue.path(dataset_url),
    }


def accounting_check(report: dict[str, Any]) -> AssetCheckResult:
    counts = report["counts"]
    total = counts["ok"] + counts["rejected"] + counts["failed"]
    missing = sorted(set(report["shards"]) - set(report["shards_done"]))
    passed = not missing and total >= report["inputs"] and report["inputs"] > 0
    return AssetCheckResult(check_name="accounting", passed=passed,
                            metadata={"inputs": report["inputs"], "rows": total, "shards_not_committed": MetadataValue.json(missing)})


def contract_check(dataset_url: str, shards: list[str]) -> AssetCheckResult:
    report = validate_dataset(dataset_url, deep=True, only=shards)
    return AssetCheckResult(check_name="contract", passed=report.ok, severity=AssetCheckSeverity.ERROR,
                            metadata={"errors": MetadataValue.json([f"{s}: {m}" for s, m in report.errors][:50]),
                                      "warnings": len(report.warnings), "samples": report.samples})
