"""What a check returns: its name, whether it passed, what is wrong (one line each) and figures for the UI."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class CheckOutcome:
    """``passed`` is true exactly when ``problems`` is empty; ``metadata`` holds JSON-able figures (counts, histograms)."""

    name: str
    problems: tuple[str, ...] = ()
    metadata: Mapping[str, Any] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return not self.problems


def outcome(name: str, problems: list[str], **metadata: Any) -> CheckOutcome:
    return CheckOutcome(name, tuple(problems), metadata)
