"""Shard I/O in the data contract's layout: WebDataset tar + Parquet manifest + stats, committed by the stats file."""

from pipelines.store.layout import DatasetDir
from pipelines.store.reader import ShardReader
from pipelines.store.writer import ShardStats, ShardWriter

__all__ = ["DatasetDir", "ShardReader", "ShardStats", "ShardWriter"]
