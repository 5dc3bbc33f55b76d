"""shardsmith pipelines."""
