"""The ``accounting`` check: per shard, the rows' source keys against the source shard's keys, read again independently."""

from __future__ import annotations

import tarfile
from collections.abc import Callable
from typing import Any

from pipelines.checks.base import CheckOutcome, outcome
from pipelines.schema import STATUSES
from pipelines.sources.base import Source
from pipelines.sources.img2dataset import Img2DatasetSource
from pipelines.store.fs import open_fs
from pipelines.store.layout import DatasetDir
from pipelines.store.reader import ShardReader

# Source shard id -> the keys of the samples in it.
InputKeys = Callable[[str], set[str]]


def tar_keys(url: str) -> set[str]:
    """The sample keys of a WebDataset tar from its member headers alone (webdataset's own key rule, ``base_plus_ext``),
    without reading the data and without the project's tar reader: a second reading of what the pipeline read."""
    from webdataset.tariterators import base_plus_ext

    fs, path = open_fs(url)
    keys = set()
    with fs.open(path, "rb") as f, tarfile.open(fileobj=f, mode="r|*") as tar:
        for member in tar:
            if not member.isfile() or member.name.rsplit("/", 1)[-1].startswith("."):
                continue
            key, _ = base_plus_ext(member.name)
            if key is not None:
                keys.add(key)
    return keys


def source_input_keys(source: Source) -> InputKeys:
    """The keys each source shard holds: an img2dataset tar's from its member names; a folder's from its listing."""
    by_id = {s.shard: s for s in source.shards()}

    def keys(shard: str) -> set[str]:
        if shard not in by_id:
            raise KeyError(f"the source has no shard {shard}")
        if isinstance(source, Img2DatasetSource):
            return tar_keys(by_id[shard].url)
        return {s.source_key for s in source.samples(by_id[shard])}

    return keys


def manifest_source_keys(upstream_url: str) -> InputKeys:
    """The source keys an upstream dataset's shard names: the inputs of a dataset rebuilt row for row from it (the
    reviewed faces from ``face_attributes``)."""

    def keys(shard: str) -> set[str]:
        return set(ShardReader(upstream_url).manifest(shard, ["source_key"]).column("source_key").to_pylist())

    return keys


def shard_accounting(out: DatasetDir, shard: str, expected: set[str]) -> tuple[list[str], dict[str, int]]:
    """What is wrong with one committed shard's rows against the source keys ``expected``, and its counts by status."""
    rows = ShardReader(out.url).manifest(shard, ["source_key", "status", "reason"]).to_pylist()
    named = {r["source_key"] for r in rows}
    problems = []
    lost, unknown = sorted(expected - named), sorted(named - expected)
    if lost:
        problems.append(f"{shard}: {len(lost)} source sample(s) named by no row (lost): {lost[:5]}")
    if unknown:
        problems.append(f"{shard}: {len(unknown)} row source key(s) not in the source shard: {unknown[:5]}")
    declared = out.read_stats(shard).get("inputs")
    if declared != len(expected):
        problems.append(f"{shard}: _stats.json says {declared} inputs, the source shard holds {len(expected)}")
    bad = sorted({str(r["status"]) for r in rows} - set(STATUSES))
    if bad:
        problems.append(f"{shard}: unknown status values {bad}")
    if any(r["status"] != "ok" and not r["reason"] for r in rows):
        problems.append(f"{shard}: a rejected or failed row has no reason")
    return problems, {s: sum(r["status"] == s for r in rows) for s in STATUSES}


def accounting(dataset_url: str, shards: list[str], inputs: InputKeys) -> CheckOutcome:
    """Every shard of the run is committed, and its rows name exactly the samples of its source shard (each at least
    once: a sample that fans out into several rows, one per face, still counts once)."""
    out, problems = DatasetDir(dataset_url), []
    totals: dict[str, Any] = {s: 0 for s in STATUSES} | {"inputs": 0}
    for shard in shards:
        if not out.is_done(shard):
            problems.append(f"{shard}: not committed (no _stats.json)")
            continue
        expected = inputs(shard)
        shard_problems, counts = shard_accounting(out, shard, expected)
        problems += shard_problems
        totals["inputs"] += len(expected)
        for status, n in counts.items():
            totals[status] += n
    return outcome("accounting", problems, **totals)
