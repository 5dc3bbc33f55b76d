"""An independent audit of written negatives: each must be its positive with exactly its recorded edit, and novel."""

from __future__ import annotations

from collections import Counter
from typing import Any

from pipelines.store import ShardReader


def audit_record(record: dict[str, Any]) -> list[str]:
    """What is wrong with a record's negatives (empty when nothing is)."""
    positive, problems, seen = record["caption"], [], {record["caption"].strip().lower()}
    for i, n in enumerate(record.get("negatives", [])):
        s, e = n["span"]
        if positive[s:e] != n["original"]:
            problems.append(f"negatives[{i}]: span {s}:{e} is {positive[s:e]!r}, not {n['original']!r}")
        if n["text"] != positive[:s] + n["replacement"] + positive[e:]:
            problems.append(f"negatives[{i}]: text differs from the positive outside its span")
        if n["text"].strip().lower() in seen:
            problems.append(f"negatives[{i}]: repeats the positive or another negative")
        seen.add(n["text"].strip().lower())
    return problems


def audit_shards(url: str, shards: list[str]) -> dict[str, Any]:
    reader, kinds, problems, n = ShardReader(url), Counter(), [], 0
    for shard in shards:
        for sample in reader.samples(shard):
            record = sample.record
            n += len(record.get("negatives", []))
            kinds.update(x["kind"] for x in record.get("negatives", []))
            problems += [f"{sample.key}: {p}" for p in audit_record(record)]
    return {"negatives": n, "kinds": dict(sorted(kinds.items())), "problems": problems}
