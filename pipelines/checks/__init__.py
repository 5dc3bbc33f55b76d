"""Asset checks as plain functions: each tests a property that the writer does not already guarantee."""

from pipelines.checks.base import CheckOutcome, outcome

__all__ = ["CheckOutcome", "outcome"]
