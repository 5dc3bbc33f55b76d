"""Training assets: one module per model family; each launches ``shardsmith train`` through Dagster Pipes."""
