"""Checkpoints ``step-N/``: model and EMA weights, optimizer, scheduler, RNG states and data position; safetensors + JSON."""

from __future__ import annotations

import json
import os
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, load_model, save_file, save_model

from models.training.state import flatten, rng_state, set_rng_state, unflatten

STEP_PREFIX = "step-"


@dataclass(frozen=True)
class Resumed:
    """What a checkpoint restores besides the tensors: the optimizer step, batches consumed, and the caller's extras."""

    step: int
    batches: int
    extra: dict[str, Any]


def checkpoints(root: Path) -> list[Path]:
    """Committed checkpoints under ``root`` (``step-N`` directories), oldest first."""
    if not root.is_dir():
        return []
    found = [p for p in root.iterdir() if p.is_dir() and p.name.startswith(STEP_PREFIX) and (p / "state.json").exists()]
    return sorted(found, key=lambda p: int(p.name[len(STEP_PREFIX) :]))


def save_checkpoint(
    root: Path,
    step: int,
    batches: int,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: Any,
    ema: torch.nn.Module | None,
    extra: dict[str, Any],
    keep: int = 2,
) -> Path:
    """Write ``root/step-<step>`` to a temporary directory, rename it into place (a killed save leaves no half
    checkpoint under a final name), then drop all but the newest ``keep``."""
    final = root / f"{STEP_PREFIX}{step}"
    tmp = root / f".{final.name}.tmp-{uuid.uuid4().hex[:8]}"
    tmp.mkdir(parents=True)
    save_model(model, str(tmp / "model.safetensors"))  # handles tied (shared) weights
    if ema is not None:
        save_model(ema, str(tmp / "ema.safetensors"))
    tensors: dict[str, torch.Tensor] = {}
    skeleton = {
        "optimizer": flatten(optimizer.state_dict(), tensors, "optimizer"),
        "rng": flatten(rng_state(), tensors, "rng"),
    }
    save_file(tensors, str(tmp / "state.safetensors"))
    state = {"step": step, "batches": batches, "scheduler": scheduler.state_dict(), "extra": extra, **skeleton}
    (tmp / "state.json").write_text(json.dumps(state, sort_keys=True))
    if final.exists():
        shutil.rmtree(final)
    os.replace(tmp, final)
    for old in checkpoints(root)[:-keep]:
        shutil.rmtree(old)
    return final


def load_checkpoint(
    path: Path,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: Any,
    ema: torch.nn.Module | None,
) -> Resumed:
    """Restore everything ``save_checkpoint`` wrote, RNG states included, into the given objects."""
    state = json.loads((path / "state.json").read_text())
    tensors = load_file(str(path / "state.safetensors"))
    load_model(model, str(path / "model.safetensors"))
    if ema is not None:
        load_model(ema, str(path / "ema.safetensors"))
    optimizer.load_state_dict(unflatten(state["optimizer"], tensors))
    scheduler.load_state_dict(state["scheduler"])
    set_rng_state(unflatten(state["rng"], tensors))
    return Resumed(step=state["step"], batches=state["batches"], extra=state["extra"])
