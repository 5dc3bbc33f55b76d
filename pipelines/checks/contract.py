"""The ``contract`` check: the run's own shards pass ``shardsmith validate``'s deep check, sizes.json entries included."""

from __future__ import annotations

from pipelines.checks.base import CheckOutcome, outcome
from pipelines.validate import validate_dataset


def contract(dataset_url: str, shards: list[str]) -> CheckOutcome:
    """Only ``shards`` are judged: a shard another run is committing at the same time (tar renamed, stats not yet
    written; sizes.json not yet listing it) is that run's business, not a failure of this one."""
    report = validate_dataset(dataset_url, deep=True, only=shards)
    return outcome(
        "contract",
        [f"{s}: {m}" for s, m in report.errors],
        samples=report.samples,
        warnings=[f"{s}: {m}" for s, m in report.warnings][:50],
    )
