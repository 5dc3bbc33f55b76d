"""A small CNN with one linear head per attribute group: multi-label logits (B, classes) per head."""

from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors.torch import load_model, save_model
from torch import nn


class AttributeCNN(nn.Module):
    """Images (B, 3, H, W) float in [0, 1] -> {head: logits (B, n)}. Four stride-2 conv blocks (GroupNorm, so EMA and
    batch size do not interact with batch statistics), global average pooling, a linear layer per head."""

    def __init__(self, heads: dict[str, int], width: int = 32) -> None:
        super().__init__()
        self.config = {"heads": dict(heads), "width": width}
        chans = [3, width, 2 * width, 4 * width, 4 * width]
        blocks = []
        for cin, cout in zip(chans[:-1], chans[1:], strict=True):
            blocks += [nn.Conv2d(cin, cout, 3, stride=2, padding=1), nn.GroupNorm(8, cout), nn.SiLU()]
        self.features = nn.Sequential(*blocks, nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.heads = nn.ModuleDict({name: nn.Linear(chans[-1], n) for name, n in heads.items()})

    def forward(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        x = self.features((images - 0.5) / 0.25)
        return {name: head(x) for name, head in self.heads.items()}

    def save_pretrained(self, directory: Path) -> None:
        """``config.json`` + ``model.safetensors``: loadable with ``from_pretrained`` or by hand with safetensors."""
        directory.mkdir(parents=True, exist_ok=True)
        (directory / "config.json").write_text(json.dumps(self.config, sort_keys=True, indent=1))
        save_model(self, str(directory / "model.safetensors"))

    @classmethod
    def from_pretrained(cls, directory: Path | str) -> AttributeCNN:
        directory = Path(directory)
        config = json.loads((directory / "config.json").read_text())
        model = cls(config["heads"], config["width"])
        load_model(model, str(directory / "model.safetensors"))
        return model.eval()
