"""shardsmith assets."""
