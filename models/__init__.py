"""shardsmith models."""
