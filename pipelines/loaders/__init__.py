"""Loaders that turn shards into training batches with the ecosystem's webdataset (the same shards open_clip reads)."""

from pipelines.loaders.negatives import negatives_loader
from pipelines.loaders.shards import ShardInfo, ShardSet, open_shards
from pipelines.loaders.stream import BatchLoader, LoaderConfig, NoUsableSamples, Sample, sample_pipeline

__all__ = [
    "BatchLoader",
    "LoaderConfig",
    "NoUsableSamples",
    "Sample",
    "ShardInfo",
    "ShardSet",
    "negatives_loader",
    "open_shards",
    "sample_pipeline",
]
