"""ShardWriter: streams one output shard to temporary names and commits tar, parquet, then ``_stats.json`` last."""

from __future__ import annotations

import contextlib
import hashlib
import io
from collections import Counter
from collections.abc import Collection
from dataclasses import asdict, dataclass, field
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from pipelines.schema import BASE_COLUMNS, STATUSES, Outcome, Written
from pipelines.store.fs import HashingWriter, commit, tmp_path_for, write_bytes_atomic
from pipelines.store.layout import DatasetDir, dumps
from pipelines.store.tarfmt import TarSink

BASE_SCHEMA = pa.schema(
    [
        ("key", pa.string()),
        ("source_key", pa.string()),
        ("status", pa.string()),
        ("reason", pa.string()),
        ("detail", pa.string()),
    ]
)
assert tuple(BASE_SCHEMA.names) == BASE_COLUMNS


@dataclass(frozen=True)
class ShardStats:
    """What ``<shard>_stats.json`` holds. Everything but ``timings_s`` is a pure function of the input and the config."""

    dataset: str
    shard: str
    inputs: int
    rows: int
    counts: dict[str, int]
    reasons: dict[str, dict[str, int]]
    files: dict[str, dict[str, Any]]
    models: dict[str, str] = field(default_factory=dict)
    config_sha256: str = ""
    code_version: str = ""
    source: str = ""
    timings_s: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class ShardWriter:
    """Write one shard: ``add`` every outcome in input order, then ``commit``; leaving the ``with`` block on an error removes
    the temporary files and leaves whatever was committed before untouched."""

    def __init__(self, out: DatasetDir, shard: str, fields: pa.Schema) -> None:
        self.out, self.shard = out, shard
        self.schema = pa.schema(list(BASE_SCHEMA) + list(fields))
        self._rows: list[dict[str, Any]] = []
        self._tmp: dict[str, str] = {}
        self._ok_keys: set[str] = set()

    def __enter__(self) -> ShardWriter:
        self.out.ensure()
        self._tmp = {name: tmp_path_for(path) for name, path in self._finals().items()}
        self._raw = self.out.fs.open(self._tmp["tar"], "wb")
        self._hashing = HashingWriter(self._raw)
        self._sink = TarSink(self._hashing)
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is not None:
            self._abort()

    def _finals(self) -> dict[str, str]:
        return {
            "tar": self.out.tar(self.shard),
            "parquet": self.out.parquet(self.shard),
            "stats": self.out.stats(self.shard),
        }

    def add(self, outcome: Outcome) -> None:
        if isinstance(outcome, Written):
            if outcome.key in self._ok_keys:
                raise ValueError(f"duplicate key {outcome.key!r} in shard {self.shard}")
            self._ok_keys.add(outcome.key)
            self._sink.add(outcome.key, outcome.files)
        row = {
            "key": outcome.key,
            "source_key": outcome.source_key,
            "status": outcome.status,
            "reason": outcome.reason,
            "detail": outcome.detail or None,
        }
        unknown = set(outcome.fields) - set(self.schema.names)
        if unknown:
            raise ValueError(f"fields {sorted(unknown)} are not in the dataset's manifest schema")
        row.update(outcome.fields)
        self._rows.append(row)

    def commit(self, *, dataset: str, inputs: int, input_keys: Collection[str], **meta: Any) -> ShardStats:
        """Close the tar, write the manifest, then the stats file: the shard is done once that exists.

        ``inputs`` is how many samples the source yielded and ``input_keys`` their source keys: the rows must name
        exactly those keys (none lost, none invented), else AssertionError and nothing is committed."""
        self._check_sources(inputs, set(input_keys))
        self._sink.close()
        self._raw.close()
        tar_info = {"bytes": self._hashing.size, "sha256": self._hashing.sha256}
        manifest = self._manifest_bytes()
        with self.out.fs.open(self._tmp["parquet"], "wb") as f:
            f.write(manifest)
        stats = self._stats(dataset, inputs, tar_info, manifest, meta)
        commit(self.out.fs, self._tmp["tar"], self._finals()["tar"])
        commit(self.out.fs, self._tmp["parquet"], self._finals()["parquet"])
        write_bytes_atomic(self.out.fs, self._finals()["stats"], dumps(stats.to_dict()))
        return stats

    def _manifest_bytes(self) -> bytes:
        table = pa.Table.from_pylist(self._rows, schema=self.schema)
        buf = io.BytesIO()
        pq.write_table(table, buf, compression="zstd")
        return buf.getvalue()

    def _check_sources(self, inputs: int, input_keys: set[str]) -> None:
        named = {r["source_key"] for r in self._rows}
        if named != input_keys or len(input_keys) != inputs:
            lost, extra = sorted(input_keys - named), sorted(named - input_keys)
            raise AssertionError(
                f"shard {self.shard}: {inputs} inputs with {len(input_keys)} distinct source keys; no row names "
                f"{len(lost)} of them {lost[:5]}, rows name {len(extra)} keys that are not inputs {extra[:5]}"
            )

    def _stats(self, dataset: str, inputs: int, tar_info: dict, manifest: bytes, meta: dict[str, Any]) -> ShardStats:
        counts = Counter(r["status"] for r in self._rows)
        reasons: dict[str, Counter] = {s: Counter() for s in STATUSES if s != "ok"}
        for r in self._rows:
            if r["status"] != "ok":
                reasons[r["status"]][r["reason"]] += 1
        return ShardStats(
            dataset=dataset,
            shard=self.shard,
            inputs=inputs,
            rows=len(self._rows),
            counts={s: counts.get(s, 0) for s in STATUSES},
            reasons={s: dict(sorted(c.items())) for s, c in reasons.items()},
            files={
                "tar": tar_info,
                "parquet": {"bytes": len(manifest), "sha256": hashlib.sha256(manifest).hexdigest()},
            },
            **meta,
        )

    def _abort(self) -> None:
        """Clean up after an error that is already propagating; errors while closing would only mask it."""
        raw = getattr(self, "_raw", None)
        if raw is not None and not raw.closed:
            with contextlib.suppress(OSError, ValueError):
                self._sink.close()
            with contextlib.suppress(OSError, ValueError):
                raw.close()
        for tmp in self._tmp.values():
            if self.out.fs.exists(tmp):
                self.out.fs.rm(tmp)
