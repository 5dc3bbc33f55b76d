"""Partitions: one per input shard, added by the source sensor (or the demo) as shards appear."""

from dagster import DynamicPartitionsDefinition

source_shards = DynamicPartitionsDefinition(name="source_shards")
