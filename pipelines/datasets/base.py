"""The dataset interface and ``build_shard``: one input shard in, one committed output shard out."""

from __future__ import annotations

import hashlib
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, replace
from typing import Any, ClassVar, TypeVar

import pyarrow as pa
from pydantic import BaseModel, ConfigDict

from pipelines.parallel import batched, prefetch_map
from pipelines.schema import Failed, InputSample, Outcome, Rejected, Written, unique_key
from pipelines.sources.base import Source, SourceShard
from pipelines.store.layout import DatasetDir, dumps
from pipelines.store.writer import ShardStats, ShardWriter
from pipelines.version import code_version


class DatasetConfig(BaseModel):
    """Base of every dataset's typed config; unknown keys are an error, and a config never changes once built."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class Dataset(ABC):
    """A dataset turns a stream of input samples into outcomes (written, rejected, failed), in input order.

    Subclasses set ``name``, ``Config`` and ``fields`` (the manifest columns beyond key/source_key/status/reason/detail),
    load models in ``setup`` (once per worker) and implement ``process``."""

    name: ClassVar[str]
    Config: ClassVar[type[DatasetConfig]]
    fields: ClassVar[pa.Schema]

    def __init__(self, config: DatasetConfig, profile: str = "tiny") -> None:
        self.config, self.profile = config, profile

    def setup(self) -> None:
        """Load models; called once per worker process before the first shard."""

    def models(self) -> dict[str, str]:
        """Role -> model id of every model that made the records (random test models say so in the id)."""
        return {}

    @abstractmethod
    def process(self, samples: Iterable[InputSample]) -> Iterator[Outcome]:
        """Yield every outcome for the samples, in input order; each input key appears in at least one outcome."""

    def config_sha256(self) -> str:
        return hashlib.sha256(
            dumps({"dataset": self.name, "profile": self.profile, "config": self.config.model_dump(mode="json")})
        ).hexdigest()

    def run_info(self, source_uri: str, models: dict[str, str]) -> dict[str, Any]:
        """What run.json holds: the resolved config, model ids and checksums (as the workers recorded them), code version."""
        return {
            "dataset": self.name,
            "profile": self.profile,
            "config": self.config.model_dump(mode="json"),
            "config_sha256": self.config_sha256(),
            "models": models,
            "code_version": code_version(),
            "source": source_uri,
        }


W = TypeVar("W")
R = TypeVar("R")


def model_stage(
    samples: Iterable[InputSample],
    prepare: Callable[[InputSample], W | Outcome],
    infer: Callable[[list[W]], list[R]],
    finish: Callable[[W, R], Outcome],
    batch_size: int,
    threads: int,
) -> Iterator[Outcome]:
    """The loop of a dataset with a model: ``prepare`` each sample on CPU threads ahead of the model (decode, cheap
    filters), returning work for the model or an outcome that passes straight through; ``infer`` one result per work
    item, a batch at a time; ``finish`` each into its outcome. Input order is kept and memory stays bounded."""
    prepared = prefetch_map(prepare, samples, threads=threads, depth=4 * batch_size)
    for batch in batched((item for _, item in prepared), batch_size):
        work = [x for x in batch if not isinstance(x, Written | Rejected | Failed)]
        results = iter(infer(work) if work else [])
        for x in batch:
            yield x if isinstance(x, Written | Rejected | Failed) else finish(x, next(results))


@dataclass(frozen=True)
class ShardResult:
    shard: str
    skipped: bool
    stats: dict[str, Any]


class _Counted:
    """Counts the samples a source yields, and collects their source keys, while passing them through."""

    def __init__(self, samples: Iterable[InputSample]) -> None:
        self._samples, self.count = samples, 0
        self.source_keys: set[str] = set()

    def __iter__(self) -> Iterator[InputSample]:
        for sample in self._samples:
            self.count += 1
            self.source_keys.add(sample.source_key)
            yield sample


def unique_keys(samples: Iterable[InputSample]) -> Iterator[InputSample]:
    """The samples with keys unique within the shard: a sample whose key an earlier one already took (``a.b.jpg`` and
    ``a_b.jpg`` both make ``a_b_jpg``) gets ``schema.unique_key``'s hash suffix; deterministic, since the source's order is."""
    taken: set[str] = set()
    for sample in samples:
        key = unique_key(sample.key, sample.source_key, taken)
        taken.add(key)
        yield sample if key == sample.key else replace(sample, key=key)


def build_shard(dataset: Dataset, source: Source, shard: SourceShard, out: DatasetDir) -> ShardResult:
    """Build output shard ``shard.shard`` from the input shard, unless its stats file (the commit marker) exists already.

    A bad sample is recorded in the manifest; anything else (storage, model, OOM) raises and nothing is committed."""
    if out.is_done(shard.shard):
        return ShardResult(shard.shard, True, out.read_stats(shard.shard))
    out.remove_stale_tmp(shard.shard)
    start = time.perf_counter()
    inputs = _Counted(unique_keys(source.samples(shard)))
    with ShardWriter(out, shard.shard, dataset.fields) as writer:
        for outcome in dataset.process(inputs):
            writer.add(outcome)
        elapsed = time.perf_counter() - start
        stats: ShardStats = writer.commit(
            dataset=dataset.name,
            inputs=inputs.count,
            input_keys=inputs.source_keys,
            models=dataset.models(),
            config_sha256=dataset.config_sha256(),
            code_version=code_version(),
            source=shard.url,
            timings_s={"total": round(elapsed, 4), "per_sample": round(elapsed / max(inputs.count, 1), 6)},
        )
    return ShardResult(shard.shard, False, stats.to_dict())
