"""Totals over a dataset's committed shards, read back from their stats files (no Beam, no models: the CLI's ``stats``)."""

from __future__ import annotations

from typing import Any

from pipelines.store.layout import DatasetDir


def summarize(out: DatasetDir, shards: list[str], counters: dict[str, int] | None = None) -> dict[str, Any]:
    """Totals over ``shards`` read back from their stats files (the source of truth, whatever ran them)."""
    totals = {"ok": 0, "rejected": 0, "failed": 0}
    reasons: dict[str, dict[str, int]] = {"rejected": {}, "failed": {}}
    inputs = 0
    done = [s for s in shards if out.is_done(s)]
    for shard in done:
        stats = out.read_stats(shard)
        inputs += stats["inputs"]
        for status, n in stats["counts"].items():
            totals[status] += n
        for status, by_reason in stats["reasons"].items():
            for reason, n in by_reason.items():
                reasons[status][reason] = reasons[status].get(reason, 0) + n
    return {
        "dataset_dir": out.url,
        "shards": shards,
        "shards_done": done,
        "inputs": inputs,
        "counts": totals,
        "reasons": reasons,
        "counters": counters or {},
    }
