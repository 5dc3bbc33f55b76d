"""open_clip dual encoders by config: the tiny test student, the MobileCLIP-S0-budget production student, save and load.

A saved model is a folder that open_clip itself loads: ``open_clip.create_model_and_transforms("local-dir:DIR")``
and ``open_clip.get_tokenizer("local-dir:DIR")`` (``open_clip_config.json`` + ``open_clip_model.safetensors``)."""

from __future__ import annotations

import copy
import json
import os
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import save_file

CONFIG_FILE = "open_clip_config.json"
WEIGHTS_FILE = "open_clip_model.safetensors"

# CLIP's BPE vocabulary (it ships in open_clip's wheel), a small ViT and text transformer: trains on 2 CPU cores.
TINY: dict[str, Any] = {
    "embed_dim": 64,
    "vision_cfg": {"image_size": 64, "layers": 2, "width": 96, "head_width": 32, "patch_size": 8},
    "text_cfg": {"context_length": 32, "vocab_size": 49408, "width": 64, "heads": 2, "layers": 2},
}
# MobileCLIP-S0's budget (about 11M image and 42M text parameters; tests/test_retrieval_clip.py holds it to that):
# the FastViT-MCi0 image tower of open_clip's MobileCLIP2-S0 and a 6-layer, 512-wide text transformer.
MOBILE_S0: dict[str, Any] = {
    "embed_dim": 512,
    "vision_cfg": {
        "timm_model_name": "fastvit_mci0",
        "timm_model_pretrained": False,
        "timm_pool": "avg",
        "timm_proj": None,
        "image_size": 256,
    },
    "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 512, "heads": 8, "layers": 6},
    "custom_text": True,
}
CONFIGS: dict[str, dict[str, Any]] = {"tiny": TINY, "mobile-s0": MOBILE_S0}


def clip_config(arch: str | dict[str, Any], image_size: int | None = None) -> dict[str, Any]:
    """A copy of a named config (``tiny``, ``mobile-s0``) or of a given open_clip ``model_cfg`` dict."""
    if isinstance(arch, str):
        if arch not in CONFIGS:
            raise ValueError(f"unknown open_clip config {arch!r}; known: {sorted(CONFIGS)}")
        arch = CONFIGS[arch]
    cfg = copy.deepcopy(arch)
    if image_size is not None:
        cfg["vision_cfg"]["image_size"] = image_size
    return cfg


def build_clip(cfg: dict[str, Any]) -> torch.nn.Module:
    """A randomly initialised open_clip ``CLIP`` (or ``CustomTextCLIP``) from a ``model_cfg`` dict."""
    from open_clip.model import CLIP, CustomTextCLIP

    kwargs = {k: v for k, v in cfg.items() if k != "custom_text"}
    model_cls = CustomTextCLIP if cfg.get("custom_text") else CLIP
    return model_cls(**kwargs)


def save_clip(model: torch.nn.Module, cfg: dict[str, Any], out: str | os.PathLike[str]) -> Path:
    """Write the open_clip ``local-dir`` layout; ``preprocess_cfg`` keeps open_clip's defaults at the model's size."""
    path = Path(out)
    path.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().contiguous().clone() for k, v in model.state_dict().items()}
    save_file(state, str(path / WEIGHTS_FILE), metadata={"format": "pt"})
    (path / CONFIG_FILE).write_text(json.dumps({"model_cfg": cfg, "preprocess_cfg": {}}, indent=2, sort_keys=True))
    return path


def load_clip(path: str | os.PathLike[str], device: str = "cpu") -> tuple[torch.nn.Module, Any, Any]:
    """``(model, preprocess_val, tokenizer)`` through open_clip's own ``local-dir:`` loader; the model is in eval."""
    import open_clip

    uri = f"local-dir:{Path(path)}"
    model, _, preprocess = open_clip.create_model_and_transforms(uri, device=device)
    tokenizer = open_clip.get_tokenizer(uri)
    model.eval()
    return model, preprocess, tokenizer


def tower_parameters(model: torch.nn.Module) -> dict[str, int]:
    """Parameters of the image tower (``visual``) and of everything else (the text tower and the logit scale)."""
    image = sum(p.numel() for p in model.visual.parameters())
    total = sum(p.numel() for p in model.parameters())
    return {"image": image, "text": total - image}
