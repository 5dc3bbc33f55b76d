"""Sources: where input shards come from (img2dataset output, or a folder of images with a captions file)."""

from pipelines.sources.base import Source, SourceShard, open_source

__all__ = ["Source", "SourceShard", "open_source"]
