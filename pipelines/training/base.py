"""The trainer interface: a typed config, inputs (dataset dirs, parent model dirs), a model, its task, save and eval."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Literal

import torch
from pydantic import BaseModel, ConfigDict

from models.training import LoopConfig, Task
from pipelines.loaders import ShardSet


class TrainerConfig(BaseModel):
    """Keys every trainer has; a trainer's own config subclasses this. Unknown keys are an error."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    steps: int = 200
    batch_size: int = 32
    lr: float = 1e-3
    weight_decay: float = 0.0
    warmup_steps: int = 10
    grad_clip: float = 1.0
    grad_accum: int = 1
    ema_decay: float = 0.0
    seed: int = 0
    device: Literal["auto", "cpu", "cuda"] = "auto"
    workers: int = 0  # DataLoader worker processes
    cpu_threads: int = 0  # torch intra-op threads on CPU while training; 0 = torch's default (tiny models: 1)
    shuffle: int = 256  # sample shuffle buffer
    checkpoint_every: int = 50
    log_every: int = 10

    def loop(self) -> LoopConfig:
        fields = set(LoopConfig.__dataclass_fields__) & set(type(self).model_fields)
        return LoopConfig(**{k: getattr(self, k) for k in fields})


@dataclass(frozen=True)
class Inputs:
    """What a trainer reads: its datasets (the first is the training data), and parent models by role."""

    data: tuple[ShardSet, ...]
    teacher: Path | None = None
    parent: Path | None = None


class Trainer(ABC):
    """One trainable model family. Subclasses set ``name``, ``Config`` and ``description``."""

    name: ClassVar[str]
    Config: ClassVar[type[TrainerConfig]]
    description: ClassVar[str]
    needs_teacher: ClassVar[bool] = False

    def __init__(self, config: TrainerConfig, inputs: Inputs) -> None:
        self.config, self.inputs = config, inputs

    @abstractmethod
    def build(self) -> torch.nn.Module:
        """A fresh model (from ``inputs.parent`` when given); called after seeding, so its init is reproducible."""

    @abstractmethod
    def task(self, model: torch.nn.Module) -> Task:
        """The batches and loss terms the loop trains ``model`` with."""

    @abstractmethod
    def save(self, model: torch.nn.Module, directory: Path) -> None:
        """Write the weights in a format loadable without shardsmith (safetensors + config json, or save_pretrained)."""

    @abstractmethod
    def evaluate(self, model: torch.nn.Module) -> dict[str, float]:
        """Final metrics of the trained model (written to metrics.jsonl and the card)."""

    def sample_sheet(self, model: torch.nn.Module, path: Path) -> Path | None:
        """Optionally draw predictions on a few samples to ``path`` (PNG)."""
        return None

    @classmethod
    def describe(cls) -> dict[str, Any]:
        return {"name": cls.name, "description": cls.description, "config": cls.Config().model_dump(mode="json")}
