"""shardsmith dagster_project."""
