"""Kill and resume a trainer run in tests: an exception from ``on_step`` stops the run as a crash would; run() again
resumes from its last checkpoint."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from pipelines.training.card import ModelDir
from pipelines.training.run import TrainSpec, run

UNET_FILE = "unet/diffusion_pytorch_model.safetensors"  # a diffusers pipeline's UNet weights under model/


class Killed(Exception):
    """Raised from ``on_step``: the run dies there, its checkpoints stay."""


def kill_at(spec: TrainSpec, step: int) -> None:
    """Run ``spec`` and kill it when it reports ``step``."""

    def die(at: int) -> None:
        if at == step:
            raise Killed

    with pytest.raises(Killed):
        run(spec, on_step=die)


def killed_and_resumed(spec: TrainSpec, step: int) -> ModelDir:
    """``spec`` killed at ``step``, then run again to the end: the resumed run's directory."""
    kill_at(spec, step)
    return run(spec)


def same_weights(a: Path, b: Path, atol: float = 1e-6) -> bool:
    """Two safetensors files hold the same tensor names and values within ``atol``."""
    wa, wb = load_file(str(a)), load_file(str(b))
    return wa.keys() == wb.keys() and all(torch.allclose(wa[k], wb[k], atol=atol) for k in wa)
