"""One module per dataset; ``make_dataset(name, config)`` builds any of them."""

from pipelines.datasets.base import Dataset, DatasetConfig, ShardResult, build_shard
from pipelines.datasets.registry import dataset_names, make_dataset

__all__ = ["Dataset", "DatasetConfig", "ShardResult", "build_shard", "dataset_names", "make_dataset"]
