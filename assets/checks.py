"""What every dataset asset reports: metadata for the UI, and its checks (plain functions in ``pipelines.checks``) as
Dagster check results."""

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
from pipelines.checks import CheckOutcome
from pipelines.checks.accounting import InputKeys, accounting
from pipelines.checks.contract import contract
from pipelines.store import DatasetDir

REASONS_SCHEMA = TableSchema(
    columns=[TableColumn("status", "string"), TableColumn("reason", "string"), TableColumn("count", "int")]
)


def dataset_check_specs(asset: str) -> list[AssetCheckSpec]:
    return [
        AssetCheckSpec(
            "accounting",
            asset=asset,
            description="every shard of the run committed, its rows naming exactly the samples of its source shard "
            "(the source re-read independently: tar member names, or the folder's listing)",
        ),
        AssetCheckSpec(
            "contract",
            asset=asset,
            description="the run's own shards pass `shardsmith validate` (tar keys, json, geometry, checksums, their "
            "sizes.json entries); shards other runs are committing are not judged",
        ),
    ]


def check_result(result: CheckOutcome, severity: AssetCheckSeverity = AssetCheckSeverity.ERROR) -> AssetCheckResult:
    """A check's outcome as Dagster reports it: passed, the first 50 problems, and its figures."""
    figures = {
        k: v if isinstance(v, int | float | str) else MetadataValue.json(v) for k, v in sorted(result.metadata.items())
    }
    return AssetCheckResult(
        check_name=result.name,
        passed=result.passed,
        severity=severity,
        metadata={"problems": MetadataValue.json(list(result.problems[:50])), "n_problems": len(result.problems)}
        | figures,
    )


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


def accounting_check(dataset_url: str, shards: list[str], inputs: InputKeys) -> AssetCheckResult:
    return check_result(accounting(dataset_url, shards, inputs))


def contract_check(dataset_url: str, shards: list[str]) -> AssetCheckResult:
    return check_result(contract(dataset_url, shards))
