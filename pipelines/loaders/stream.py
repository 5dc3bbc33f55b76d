"""Shards -> batches with webdataset: resampled or one pass, per-worker and per-node sharding, seeded, resumable."""

from __future__ import annotations

import functools
import logging
import math
import random
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import fsspec
import torch
import webdataset as wds
from webdataset.utils import pytorch_worker_info

from pipelines.loaders.shards import ShardSet

log = logging.getLogger(__name__)
Sample = dict[str, Any]  # webdataset's raw sample: "__key__", "__url__" and bytes by extension ("jpg", "txt", ...)


@dataclass(frozen=True)
class LoaderConfig:
    """How batches are drawn. ``resampled``: an endless stream of shards drawn with replacement (training, open_clip's
    ``--dataset-resampled``); else one pass with every shard read once across nodes and workers (evaluation)."""

    batch_size: int
    seed: int = 0
    resampled: bool = True
    shuffle: int = 256  # sample shuffle buffer; 0 = keep tar order
    workers: int = 0  # DataLoader worker processes; 0 = in this process
    required: tuple[str, ...] = ("jpg", "txt")  # a sample lacking one is skipped and logged, never waited for
    split_by_node: bool = True  # one pass: each node (accelerate process) reads its share; False: every node reads all


class NoUsableSamples(RuntimeError):
    """Every sample of a whole dataset's worth in a row lacked a required key: raised instead of resampling forever."""


def _open_fsspec(src: Iterable[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    """webdataset's url_opener for any fsspec URL (local, s3://, gs://, memory://)."""
    for item in src:
        with fsspec.open(item["url"], "rb") as stream:
            yield {**item, "stream": stream}


def _require(src: Iterable[Sample], required: tuple[str, ...], give_up_after: int) -> Iterator[Sample]:
    dropped_in_a_row = 0
    for sample in src:
        missing = [k for k in required if k not in sample]
        if not missing:
            dropped_in_a_row = 0
            yield sample
            continue
        log.warning("skipping %s in %s: no %s", sample.get("__key__"), sample.get("__url__"), ", ".join(missing))
        dropped_in_a_row += 1
        if dropped_in_a_row > give_up_after:
            raise NoUsableSamples(f"{dropped_in_a_row} samples in a row lack one of {required}: none is usable")


def _role(start_batch: int, workers: int) -> int:
    """Which worker stream of a fresh run this worker continues. The DataLoader takes batch b from worker b % workers;
    resumed after ``start_batch`` batches, its worker w serves batch start_batch + w next, so it continues the stream of
    worker (w + start_batch) % workers."""
    _, _, worker, _ = pytorch_worker_info()
    return (worker + start_batch) % max(1, workers)


def _worker_seed(start_batch: int, workers: int) -> int:
    rank, _, _, _ = pytorch_worker_info()
    return rank * 1000 + _role(start_batch, workers)


def _seeded_shuffle(src: Iterable[Sample], bufsize: int, seed: int, start_batch: int, workers: int) -> Iterator[Sample]:
    rng = random.Random(f"{seed}/{_worker_seed(start_batch, workers)}")
    return wds.filters._shuffle(iter(src), bufsize, min(bufsize, 64), rng=rng)


def _skip_consumed(src: Iterable[Sample], start_batch: int, batch_size: int, workers: int) -> Iterator[Sample]:
    """Drop (before decoding) the samples of the batches that this worker's stream already gave: stream r gave
    len(range(r, start_batch, workers)) of the first ``start_batch`` batches."""
    skip = len(range(_role(start_batch, workers), start_batch, max(1, workers))) * batch_size
    for i, sample in enumerate(src):
        if i >= skip:
            yield sample


def _apply(src: Iterable[Sample], fn: Callable[[Sample], Any]) -> Iterator[Any]:
    for sample in src:
        yield fn(sample)


def sample_pipeline(shards: ShardSet, config: LoaderConfig, start_batch: int = 0) -> wds.DataPipeline:
    """Raw samples, filtered, shuffled and positioned after ``start_batch`` batches (per worker, before decoding)."""
    if config.resampled:
        seed_fn = functools.partial(_worker_seed, start_batch, config.workers)
        source = [wds.ResampledShards(shards.urls, seed=config.seed, worker_seed=seed_fn, deterministic=True)]
    else:
        by_node = [wds.split_by_node] if config.split_by_node else []
        source = [wds.SimpleShardList(shards.urls), *by_node, wds.split_by_worker]
    stages = [
        *source,
        _open_fsspec,
        functools.partial(wds.tariterators.tar_file_expander, handler=wds.reraise_exception),
        functools.partial(wds.tariterators.group_by_keys, handler=wds.reraise_exception),
        functools.partial(_require, required=config.required, give_up_after=max(shards.total, 1)),
    ]
    if config.shuffle:
        stages.append(
            functools.partial(
                _seeded_shuffle,
                bufsize=config.shuffle,
                seed=config.seed,
                start_batch=start_batch,
                workers=config.workers,
            )
        )
    if start_batch:
        stages.append(
            functools.partial(
                _skip_consumed, start_batch=start_batch, batch_size=config.batch_size, workers=config.workers
            )
        )
    return wds.DataPipeline(*stages)


class BatchLoader:
    """Batches of ``collate([map_sample(s) for s in samples])``. ``len`` is batches per epoch from sizes.json: one pass,
    from the shards each worker reads with partial last batches kept (fewer when samples are skipped); resampled,
    total // batch_size (the epoch open_clip uses). ``map_sample`` must be a pure function of the sample: randomness
    comes from the seed, so that a resumed run matches."""

    def __init__(
        self,
        shards: ShardSet,
        config: LoaderConfig,
        map_sample: Callable[[Sample], Any],
        collate: Callable[[list[Any]], Any],
        start_batch: int = 0,
    ) -> None:
        if config.resampled and start_batch < 0:
            raise ValueError("start_batch must be >= 0")
        if not config.resampled and start_batch:
            raise ValueError("a one-pass loader starts at the beginning; resume applies to resampled streams")
        self.shards, self.config, self.start_batch = shards, config, start_batch
        self.pipeline = sample_pipeline(shards, config, start_batch)
        self.pipeline.append(functools.partial(_apply, fn=map_sample))
        self.pipeline.append(wds.batched(config.batch_size, collation_fn=collate, partial=not config.resampled))

    def __len__(self) -> int:
        bs = self.config.batch_size
        if self.config.resampled:
            return max(1, self.shards.total // bs)
        k = max(1, self.config.workers)
        sizes = [s.samples for s in self.shards.shards]
        return sum(math.ceil(sum(sizes[w::k]) / bs) for w in range(k))

    def __iter__(self) -> Iterator[Any]:
        if self.config.workers == 0:
            return iter(self.pipeline)
        loader = torch.utils.data.DataLoader(
            self.pipeline, batch_size=None, num_workers=self.config.workers, persistent_workers=False
        )
        return iter(loader)
