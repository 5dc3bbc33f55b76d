"""``shardsmith validate``: an independent check of a dataset directory against the data contract."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from PIL import Image

from pipelines.geometry import check_shape, shapes
from pipelines.schema import BASE_COLUMNS, STATUSES
from pipelines.sources.base import open_source
from pipelines.store.fs import is_tmp
from pipelines.store.layout import STATS_SUFFIX, DatasetDir
from pipelines.store.tarfmt import iter_tar_samples


@dataclass
class Report:
    shards: int = 0
    samples: int = 0
    errors: list[tuple[str, str]] = field(default_factory=list)  # (shard or "-", message)
    warnings: list[tuple[str, str]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "shards": self.shards,
            "samples": self.samples,
            "errors": [{"shard": s, "message": m} for s, m in self.errors],
            "warnings": [{"shard": s, "message": m} for s, m in self.warnings],
        }


class _HashingReader:
    def __init__(self, raw) -> None:
        self._raw, self.sha = raw, hashlib.sha256()

    def read(self, n: int = -1) -> bytes:
        data = self._raw.read(n)
        self.sha.update(data)
        return data


def validate_dataset(
    url: str,
    deep: bool = True,
    workers: int = 8,
    only: list[str] | None = None,
    source: str | None = None,
    source_kind: str = "auto",
) -> Report:
    """Check every shard of ``url`` (or the shards in ``only``, plus the dataset files). ``deep`` also reads every tar:
    keys, json, image sizes, geometry, checksums. With ``source``, also that every source key is named by a row of the
    dataset shard of the same id (nothing lost), read from the source itself (see ``check_source``)."""
    d = DatasetDir(url)
    report = Report()
    names = d.names()
    if not names:
        report.errors.append(("-", f"{url} is missing or empty"))
        return report
    shards = _shard_names(names, report, only)
    if only is not None:
        missing = sorted(set(only) - set(shards))
        report.errors += [(s, "not built (no committed shard)") for s in missing]
    checked = [s for s in shards if only is None or s in set(only)]
    report.shards = len(checked)
    with ThreadPoolExecutor(max_workers=workers) as pool:
        results = dict(zip(checked, pool.map(lambda s: _check_shard_or_report(d, s, deep), checked), strict=True))
    stats: dict[str, dict[str, Any]] = {}
    for shard, (errors, warnings, ok_count, shard_stats) in results.items():
        report.errors += [(shard, e) for e in errors]
        report.warnings += [(shard, w) for w in warnings]
        report.samples += ok_count
        stats[shard] = shard_stats
    _check_dataset_files(d, names, report, stats, only)
    if source is not None:
        check_source(d, source, source_kind, report, only)
    return report


def check_source(d: DatasetDir, uri: str, kind: str, report: Report, only: list[str] | None = None) -> None:
    """Every key of every source shard (or of the shards in ``only``) must be named by a row of the dataset's shard of
    that id, and every file of a folder source must be in a shard. Read only: a folder source's index (kept under the
    dataset's storage root) is read, never extended."""
    src = open_source(uri, kind, index_root=d.url.rstrip("/").rsplit("/", 1)[0])  # type: ignore[arg-type]
    done = set(d.done_shards())
    for shard in src.indexed_shards():
        if only is not None and shard.shard not in only:
            continue
        try:
            keys = src.keys(shard)
        except (OSError, KeyError, ValueError) as e:
            report.errors.append((shard.shard, f"source shard {shard.url} unreadable: {type(e).__name__}: {e}"))
            continue
        if shard.shard not in done:
            report.errors.append((shard.shard, f"source shard has {len(keys)} samples but no committed dataset shard"))
            continue
        named = set(d.read_parquet_column(shard.shard, "source_key"))
        lost = [k for k in keys if k not in named]
        if lost:
            report.errors.append((shard.shard, f"{len(lost)} source keys that no row names: {lost[:5]}"))
    pending = src.pending_keys() if only is None else []
    if pending:
        report.errors.append(
            ("-", f"{len(pending)} source files are in no shard yet (the next build adds them): {pending[:5]}")
        )


def _shard_names(names: list[str], report: Report, only: list[str] | None = None) -> list[str]:
    """The committed shards; the half-written ones are errors, of the shards in ``only`` alone when it is given (another
    run may be committing the others right now)."""
    visible = [n for n in names if not n.startswith(".")]
    tars = {n[:-4] for n in visible if n.endswith(".tar")}
    parquets = {n[:-8] for n in visible if n.endswith(".parquet")}
    stats = {n[: -len(STATS_SUFFIX)] for n in visible if n.endswith(STATS_SUFFIX)}
    judged = (tars | parquets | stats) if only is None else set(only)
    for shard in sorted(((tars | parquets) - stats) & judged):
        report.errors.append(
            (shard, "not committed: tar or parquet without _stats.json (an interrupted build; rerun it)")
        )
    for shard in sorted((stats - tars) & judged):
        report.errors.append((shard, "_stats.json without its tar"))
    for shard in sorted((stats - parquets) & judged):
        report.errors.append((shard, "_stats.json without its parquet"))
    for name in names:
        if is_tmp(name):
            report.warnings.append(
                ("-", f"leftover temporary file {name} (a killed attempt; harmless, removed on rebuild)")
            )
    return sorted(stats & tars & parquets)


def _check_shard_or_report(d: DatasetDir, shard: str, deep: bool) -> tuple[list[str], list[str], int, dict[str, Any]]:
    """``_check_shard``, with a shard whose files cannot be read or parsed reported as that shard's error, not raised."""
    try:
        return _check_shard(d, shard, deep)
    except (OSError, ValueError, KeyError, TypeError, tarfile.TarError, pa.ArrowException) as e:
        return [f"unreadable: {type(e).__name__}: {e}"], [], 0, {}


def _check_shard(d: DatasetDir, shard: str, deep: bool) -> tuple[list[str], list[str], int, dict[str, Any]]:
    errors: list[str] = []
    stats = d.read_stats(shard)
    with d.fs.open(d.parquet(shard), "rb") as f:
        raw = f.read()
    table = pq.ParquetFile(io.BytesIO(raw)).read()  # not read_table: its pyarrow.dataset imports pandas
    rows = table.to_pylist()
    missing = [c for c in BASE_COLUMNS if c not in table.column_names]
    if missing:
        return [f"parquet lacks columns {missing}"], [], 0, stats
    errors += _check_rows(rows, stats)
    if stats.get("files", {}).get("parquet", {}).get("sha256") not in (None, hashlib.sha256(raw).hexdigest()):
        errors.append("parquet checksum differs from _stats.json")
    ok_keys = [r["key"] for r in rows if r["status"] == "ok"]
    if deep:
        errors += _check_tar(d, shard, ok_keys, stats)
    elif stats.get("files", {}).get("tar", {}).get("bytes") not in (None, d.fs.size(d.tar(shard))):
        errors.append("tar size differs from _stats.json (truncated or replaced)")  # quick: one stat call, no read
    return errors, [], len(ok_keys), stats


def _check_rows(rows: list[dict[str, Any]], stats: dict[str, Any]) -> list[str]:
    errors = []
    counts = {s: sum(r["status"] == s for r in rows) for s in STATUSES}
    if any(r["status"] not in STATUSES for r in rows):
        errors.append(f"unknown status values {sorted({r['status'] for r in rows} - set(STATUSES))}")
    if counts != {s: stats["counts"].get(s, 0) for s in STATUSES}:
        errors.append(f"parquet counts {counts} != _stats.json counts {stats['counts']}")
    if sum(counts.values()) != stats["rows"]:
        errors.append(f"ok + rejected + failed = {sum(counts.values())} != rows {stats['rows']}")
    inputs = len({r["source_key"] for r in rows})
    if inputs != stats["inputs"]:
        errors.append(f"rows name {inputs} input samples, _stats.json says {stats['inputs']} (an input was lost)")
    if any(r["status"] != "ok" and not r["reason"] for r in rows):
        errors.append("a rejected or failed row has no reason")
    keys = [r["key"] for r in rows]
    if any("." in k or "/" in k for k in keys):
        errors.append(f"keys with dots or slashes: {[k for k in keys if '.' in k or '/' in k][:5]}")
    ok_keys = [r["key"] for r in rows if r["status"] == "ok"]
    if len(set(ok_keys)) != len(ok_keys):
        errors.append("duplicate keys among ok rows")
    return errors


def _check_tar(d: DatasetDir, shard: str, ok_keys: list[str], stats: dict[str, Any]) -> list[str]:
    errors, tar_keys = [], []
    with d.fs.open(d.tar(shard), "rb") as f:
        reader = _HashingReader(f)
        for key, files in iter_tar_samples(reader):
            tar_keys.append(key)
            errors += [f"{key}: {e}" for e in _check_sample(files)]
        while reader.read(1 << 20):
            pass
    if tar_keys != ok_keys:
        errors.append(f"tar keys ({len(tar_keys)}) != ok rows ({len(ok_keys)}) or in another order")
    if stats.get("files", {}).get("tar", {}).get("sha256") not in (None, reader.sha.hexdigest()):
        errors.append("tar checksum differs from _stats.json")
    return errors[:50]


def _check_sample(files: dict[str, bytes]) -> list[str]:
    image_ext = next((e for e in ("jpg", "png", "webp") if e in files), None)
    if image_ext is None or "json" not in files:
        return [f"sample has {sorted(files)}; needs an image and a json"]
    try:
        record = json.loads(files["json"])
        size = Image.open(io.BytesIO(files[image_ext])).size
    except (json.JSONDecodeError, UnicodeDecodeError, OSError) as e:
        return [f"unreadable: {e}"]
    if not isinstance(record, dict):
        return [f"json is a {type(record).__name__}, not an object"]
    if (record.get("width"), record.get("height")) != size:
        return [f"json says {record.get('width')}x{record.get('height')}, image is {size[0]}x{size[1]}"]
    if "models" not in record:
        return ["json has no 'models'"]
    return [p for p in (check_shape(s, size[0], size[1]) for s in shapes(record)) if p]


def _check_dataset_files(
    d: DatasetDir, names: list[str], report: Report, stats: dict[str, dict[str, Any]], only: list[str] | None = None
) -> None:
    """sizes.json must list every committed shard with its ok count (from its stats, checked against its parquet above).

    With ``only`` (a run's own shards), sizes.json must list those with their ok counts and name no uncommitted shard;
    other shards may be missing from it, since a concurrent run adds its shards when it finishes (``write_sizes``).
    ``stats`` holds the stats files already read (shard -> stats): each is read once, which matters at thousands of shards."""
    done = d.done_shards()
    judged = done if only is None else [s for s in done if s in set(only)]
    for shard in judged:
        if not stats.get(shard):  # outside ``only``, or its check failed part-way
            try:
                stats[shard] = d.read_stats(shard)
            except (OSError, ValueError):
                stats[shard] = {}  # an unreadable stats file: reported with its shard already
    sizes = {f"{s}.tar": int(stats[s]["counts"]["ok"]) for s in judged if stats[s]}
    if "sizes.json" not in names:
        report.errors.append(("-", "sizes.json is missing"))
    elif only is None and d.read_json("sizes.json") != sizes:
        report.errors.append(("-", "sizes.json does not match the ok counts of the committed shards"))
    elif only is not None:
        listed = d.read_json("sizes.json")
        wrong = sorted(t for t, n in sizes.items() if listed.get(t) != n)
        stray = sorted(t for t in listed if t[: -len(".tar")] not in set(done))
        if wrong:
            report.errors.append(("-", f"sizes.json lacks or miscounts {wrong[:5]} (ok counts of their stats)"))
        if stray:
            report.errors.append(("-", f"sizes.json names shards that are not committed: {stray[:5]}"))
    if "run.json" not in names:
        report.errors.append(("-", "run.json is missing"))
        return
    run_sha = d.read_json("run.json").get("config_sha256")
    for shard in sizes:
        if stats[shard[:-4]].get("config_sha256") != run_sha:
            report.warnings.append((shard[:-4], "built with another config than run.json records"))
