"""``metrics.jsonl``: one JSON row per logged step and per evaluation; a resumed run first drops rows past its checkpoint."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any


def _clean(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


class MetricsLog:
    """Appends rows to ``path`` (flushed each row, so a reader or a Pipes stream sees them as they come)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def keep(self, predicate: Callable[[dict[str, Any]], bool]) -> None:
        """Rewrite the file with only the rows for which ``predicate`` holds."""
        rows = [r for r in read_metrics(self.path) if predicate(r)]
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.write_text("".join(json.dumps(r, sort_keys=True) + "\n" for r in rows))

    def truncate_after(self, step: int) -> None:
        """Keep only rows up to ``step``: the steps after a checkpoint are run again on resume, and evaluated again."""
        self.keep(lambda r: r.get("step", 0) <= step and "eval" not in r)

    def write(self, row: dict[str, Any]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a") as f:
            f.write(json.dumps({k: _clean(v) for k, v in row.items()}, sort_keys=True) + "\n")


def read_metrics(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
