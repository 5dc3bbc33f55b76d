"""The model directory contract: model/, checkpoints/, metrics.jsonl, samples/, card.json, and _SUCCESS written last."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipelines.store.layout import dumps

SUCCESS = "_SUCCESS"


@dataclass(frozen=True)
class ModelDir:
    """``<root>/models/<name>/`` on a local disk (where the trainer process writes)."""

    path: Path

    @property
    def model(self) -> Path:
        return self.path / "model"

    @property
    def checkpoints(self) -> Path:
        return self.path / "checkpoints"

    @property
    def metrics(self) -> Path:
        return self.path / "metrics.jsonl"

    @property
    def samples(self) -> Path:
        return self.path / "samples"

    @property
    def card_path(self) -> Path:
        return self.path / "card.json"

    def committed(self) -> bool:
        return (self.path / SUCCESS).exists()

    def card(self) -> dict[str, Any]:
        return json.loads(self.card_path.read_text())

    def card_sha256(self) -> str:
        return hashlib.sha256(self.card_path.read_bytes()).hexdigest()

    def write_card(self, card: dict[str, Any]) -> None:
        tmp = self.card_path.with_name(".card.json.tmp")
        tmp.write_bytes(dumps(card))
        tmp.replace(self.card_path)

    def commit(self) -> None:
        """Write ``_SUCCESS`` (holding the card's sha256): last, after the weights, metrics, samples and card."""
        (self.path / SUCCESS).write_text(self.card_sha256() + "\n")


def parent_record(path: Path) -> dict[str, Any]:
    """A parent model as a card names it: where it is, its trainer, and its card's sha256; it must be committed."""
    parent = ModelDir(path)
    if not parent.committed():
        raise FileNotFoundError(f"{path} is not a committed model directory (no {SUCCESS})")
    card = parent.card()
    return {"path": str(path), "trainer": card.get("trainer"), "card_sha256": parent.card_sha256()}


def files_sha256(directory: Path) -> dict[str, str]:
    """sha256 of every file under ``directory`` by relative path (the weights a card vouches for)."""
    out = {}
    for p in sorted(directory.rglob("*")):
        if p.is_file():
            out[str(p.relative_to(directory))] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out
