"""BK-SDM block removal on a `UNet2DConditionModel`: student config, teacher-initialised student, ablations, stage features."""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass
from typing import Any

import torch
from diffusers import UNet2DConditionModel
from torch import nn

TEACHER_UP_KEEP = (0, 2)  # BK-SDM: up stages keep pairs 0 and 2 of 3 (the middle one is removed)


def bk_sdm_config(teacher_config: Any, keep_mid: bool = True) -> dict[str, Any]:
    """Student config: one resnet(+attention) pair per down stage, two per up stage; BK-SDM-Small drops the mid block."""
    if teacher_config.layers_per_block != 2:
        raise ValueError(f"BK-SDM removal expects layers_per_block=2, got {teacher_config.layers_per_block}")
    config = dict(teacher_config)
    config["layers_per_block"] = 1
    if not keep_mid:
        config["mid_block_type"] = None
    return {k: v for k, v in config.items() if not k.startswith("_")}


def _student_key(key: str) -> str | None:
    """Map a student parameter name to the teacher's (None: a new parameter with no teacher counterpart)."""
    m = re.match(r"up_blocks\.(\d+)\.(resnets|attentions)\.(\d+)\.(.*)", key)
    if m:
        block, kind, j, rest = m.groups()
        return f"up_blocks.{block}.{kind}.{TEACHER_UP_KEEP[int(j)]}.{rest}"
    return key  # down blocks keep pair 0; everything else (conv_in, time embedding, mid, conv_out) is shared


def bk_sdm_student(teacher: UNet2DConditionModel, keep_mid: bool = True) -> UNet2DConditionModel:
    """BK-SDM-Base (`keep_mid=True`) or -Small student, every weight copied from the teacher's kept blocks."""
    student = UNet2DConditionModel(**bk_sdm_config(teacher.config, keep_mid))
    teacher_sd = teacher.state_dict()
    mapped = {k: teacher_sd[_student_key(k)] for k in student.state_dict()}
    student.load_state_dict(mapped, strict=True)
    return student.to(dtype=teacher.dtype)


def param_count(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


class _SkipResnet(nn.Module):
    """Stands in for a removed resnet: passes the main path through, dropping a concatenated skip if any."""

    def __init__(self, out_channels: int) -> None:
        super().__init__()
        self.out_channels = out_channels

    def forward(
        self, hidden_states: torch.Tensor, temb: torch.Tensor | None = None, *a: Any, **kw: Any
    ) -> torch.Tensor:
        return hidden_states[:, : self.out_channels]


class _SkipAttention(nn.Module):
    """Stands in for a removed transformer block (it is residual, so removing it is the identity)."""

    def forward(self, hidden_states: torch.Tensor, *a: Any, **kw: Any) -> tuple[torch.Tensor]:
        return (hidden_states,)


class _SkipMid(nn.Module):
    def forward(self, hidden_states: torch.Tensor, *a: Any, **kw: Any) -> torch.Tensor:
        return hidden_states


def _up_main_channels(unet: UNet2DConditionModel, block: int, layer: int) -> int:
    """Channels of the main path entering up block `block`'s resnet `layer` (before the skip concatenation)."""
    rev = list(reversed(unet.config.block_out_channels))
    return rev[block] if layer > 0 else rev[max(block - 1, 0)]


def removable_blocks(unet: UNet2DConditionModel) -> list[str]:
    """Names `remove_blocks` accepts: "down.i.j[.resnet|.attn]", "up.i.j[.resnet|.attn]", "mid".

    A resnet is removable when the identity fits its shapes (equal in/out channels on the main path); an attention
    block always is (it is residual). A pair "down.i.j" is removable when its resnet is.
    """
    names: list[str] = []
    for side, blocks in (("down", unet.down_blocks), ("up", unet.up_blocks)):
        for i, block in enumerate(blocks):
            for j, resnet in enumerate(block.resnets):
                main = resnet.in_channels if side == "down" else _up_main_channels(unet, i, j)
                has_attn = hasattr(block, "attentions") and block.attentions is not None
                if main == resnet.out_channels:
                    names += [f"{side}.{i}.{j}", f"{side}.{i}.{j}.resnet"]
                if has_attn:
                    names.append(f"{side}.{i}.{j}.attn")
    if unet.mid_block is not None:
        names.append("mid")
    return names


def remove_blocks(unet: UNet2DConditionModel, blocks: list[str]) -> UNet2DConditionModel:
    """A copy of `unet` with the named blocks removed (replaced by pass-throughs); the input is left unchanged."""
    allowed = set(removable_blocks(unet))
    unknown = [b for b in blocks if b not in allowed]
    if unknown:
        raise ValueError(f"not removable in this UNet: {unknown}")
    pruned = copy.deepcopy(unet)
    for name in blocks:
        if name == "mid":
            pruned.mid_block = _SkipMid()
            continue
        side, i, j, *part = name.split(".")
        block = (pruned.down_blocks if side == "down" else pruned.up_blocks)[int(i)]
        has_attn = hasattr(block, "attentions") and block.attentions is not None
        if part in ([], ["resnet"]):
            block.resnets[int(j)] = _SkipResnet(block.resnets[int(j)].out_channels)
        if has_attn and part in ([], ["attn"]):
            block.attentions[int(j)] = _SkipAttention()
    return pruned


@dataclass(frozen=True)
class StageOutputs:
    """The UNet's prediction and each stage's output ("down.i", "mid", "up.i"), as BK-SDM's feature KD uses."""

    sample: torch.Tensor
    features: dict[str, torch.Tensor]


def stage_features(
    unet: UNet2DConditionModel,
    sample: torch.Tensor,
    timestep: torch.Tensor,
    encoder_hidden_states: torch.Tensor,
    **kw: Any,
) -> StageOutputs:
    """Run `unet` once with forward hooks on every down/mid/up stage; gradients flow through the features."""
    features: dict[str, torch.Tensor] = {}

    def hook(name: str):
        def fn(_m: nn.Module, _in: Any, out: Any) -> None:
            features[name] = out[0] if isinstance(out, tuple) else out

        return fn

    stages = [(f"down.{i}", b) for i, b in enumerate(unet.down_blocks)] + [
        (f"up.{i}", b) for i, b in enumerate(unet.up_blocks)
    ]
    if unet.mid_block is not None:
        stages.append(("mid", unet.mid_block))
    handles = [m.register_forward_hook(hook(n)) for n, m in stages]
    try:
        out = unet(sample, timestep, encoder_hidden_states=encoder_hidden_states, **kw).sample
    finally:
        for h in handles:
            h.remove()
    return StageOutputs(sample=out, features=features)


@dataclass(frozen=True)
class KDLosses:
    """BK-SDM's three terms (each an MSE) and their weighted sum."""

    task: torch.Tensor
    output: torch.Tensor
    features: torch.Tensor
    total: torch.Tensor


def bk_sdm_losses(
    student: StageOutputs,
    teacher: StageOutputs,
    target: torch.Tensor,
    weights: tuple[float, float, float] = (1.0, 1.0, 1.0),
    feature_norm: bool = False,
) -> KDLosses:
    """task = MSE(student, target); output = MSE(student, teacher); features = sum over shared stages of MSEs.

    ``feature_norm``: each stage's MSE divided by the teacher feature's mean square (a scale-free variant; BK-SDM's
    own loss is unnormalised, on SD's activations, whose scale differs from a tiny UNet's)."""
    mse = nn.functional.mse_loss
    task = mse(student.sample, target)
    output = mse(student.sample, teacher.sample.detach())
    shared = [k for k in student.features if k in teacher.features]

    def stage(k: str) -> torch.Tensor:
        ref = teacher.features[k].detach()
        loss = mse(student.features[k], ref)
        return loss / ref.pow(2).mean().clamp(min=1e-12) if feature_norm else loss

    feats = sum(stage(k) for k in shared)
    total = weights[0] * task + weights[1] * output + weights[2] * feats
    return KDLosses(task=task, output=output, features=torch.as_tensor(feats), total=total)
