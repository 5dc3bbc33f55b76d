"""Block removals that are real diffusers configs: pruning units, their `UNet2DConditionModel` students, sensitivity."""

from __future__ import annotations

import re
import statistics
import time
from dataclasses import dataclass
from typing import Any

import torch
from diffusers import UNet2DConditionModel

from models.diffusion.pruning import param_count, removable_blocks, remove_blocks

BK_BASE = "bk-base"
BK_SMALL = "bk-small"


def _depths(unet: UNet2DConditionModel) -> list[int]:
    lpb = unet.config.layers_per_block
    return list(lpb) if isinstance(lpb, list | tuple) else [lpb] * len(unet.down_blocks)


def _has_attn(block: torch.nn.Module) -> bool:
    return getattr(block, "attentions", None) is not None


def pruning_units(unet: UNet2DConditionModel) -> dict[str, list[str]]:
    """Removals that map to a valid diffusers config, each as the `remove_blocks` names that compute the same function.

    - "stage.k": one resnet(+attention) pair fewer in down stage k and in its mirrored up stage (`layers_per_block[k]`
      lowered by one; the skip connections tie the two). Down drops its last pair, up its pair L-1 of L+1 (BK-SDM:
      down keeps pair 0, up keeps pairs 0 and 2). Needs L >= 2.
    - "attn.down.k" / "attn.up.i": every attention of a stage (`CrossAttnDownBlock2D` -> `DownBlock2D`, up likewise).
    - "mid": the mid block (`mid_block_type=None`, BK-SDM-Small).
    A single attention inside a stage that keeps others has no diffusers config (a CrossAttn block has one per resnet).
    """
    depths, n = _depths(unet), len(unet.down_blocks)
    units: dict[str, list[str]] = {}
    for k, depth in enumerate(depths):
        if depth >= 2:
            units[f"stage.{k}"] = [f"down.{k}.{depth - 1}", f"up.{n - 1 - k}.{depth - 1}"]
    for side, blocks in (("down", unet.down_blocks), ("up", unet.up_blocks)):
        for i, block in enumerate(blocks):
            if _has_attn(block):
                units[f"attn.{side}.{i}"] = [f"{side}.{i}.{j}.attn" for j in range(len(block.resnets))]
    if unet.mid_block is not None:
        units["mid"] = ["mid"]
    return units


def pruned_config(unet: UNet2DConditionModel, units: list[str]) -> dict[str, Any]:
    """The student's diffusers config after removing `units` (names of `pruning_units`)."""
    known = pruning_units(unet)
    unknown = [u for u in units if u not in known]
    if unknown:
        raise ValueError(f"not pruning units of this UNet: {unknown}; known: {sorted(known)}")
    config = {k: v for k, v in unet.config.items() if not k.startswith("_")}
    depths = _depths(unet)
    down, up = list(config["down_block_types"]), list(config["up_block_types"])
    for unit in units:
        kind, *rest = unit.split(".")
        if kind == "stage":
            depths[int(rest[0])] -= 1
        elif kind == "attn":
            types = down if rest[0] == "down" else up
            types[int(rest[1])] = types[int(rest[1])].replace("CrossAttn", "")
        else:
            config["mid_block_type"] = None
    config.update(layers_per_block=depths, down_block_types=down, up_block_types=up)
    if len(set(depths)) == 1:
        config["layers_per_block"] = depths[0]
    return config


def _teacher_key(key: str, dropped: dict[tuple[str, int], int]) -> str:
    """A student parameter's teacher name: pairs at or after a dropped index shift by one."""
    m = re.match(r"(down|up)_blocks\.(\d+)\.(resnets|attentions)\.(\d+)\.(.*)", key)
    if not m:
        return key
    side, i, kind, j, rest = m.groups()
    gone = dropped.get((side, int(i)))
    j_t = int(j) + (1 if gone is not None and int(j) >= gone else 0)
    return f"{side}_blocks.{i}.{kind}.{j_t}.{rest}"


def pruned_student(teacher: UNet2DConditionModel, units: list[str]) -> UNet2DConditionModel:
    """A `UNet2DConditionModel` without `units`, every weight copied from the teacher's kept blocks (strict load).

    It computes what `remove_blocks(teacher, unit blocks)` computes (a test checks this), and saves with
    `save_pretrained` / loads with `from_pretrained` as any diffusers UNet does."""
    student = UNet2DConditionModel(**pruned_config(teacher, units))
    depths, n, dropped = _depths(teacher), len(teacher.down_blocks), {}
    for unit in units:
        if unit.startswith("stage."):
            k = int(unit.split(".")[1])
            dropped[("down", k)] = depths[k] - 1
            dropped[("up", n - 1 - k)] = depths[k] - 1
    teacher_sd = teacher.state_dict()
    student.load_state_dict({k: teacher_sd[_teacher_key(k, dropped)] for k in student.state_dict()}, strict=True)
    return student.to(dtype=teacher.dtype)


def preset_units(unet: UNet2DConditionModel, preset: str) -> list[str]:
    """BK-SDM-Base: one pair fewer in every stage; -Small also without the mid block."""
    stages = [u for u in pruning_units(unet) if u.startswith("stage.")]
    if preset == BK_BASE:
        return stages
    if preset == BK_SMALL:
        return [*stages, "mid"]
    raise ValueError(f"unknown preset {preset!r}")


@dataclass(frozen=True)
class Calibration:
    """Fixed UNet inputs: x_t (B, C, H, W), integer timesteps (B,), text states (B, L, D)."""

    sample: torch.Tensor
    timesteps: torch.Tensor
    text: torch.Tensor


@dataclass(frozen=True)
class Removal:
    """One removal's cost and savings: relative output change ||out - ref||^2 / ||ref||^2 on the calibration inputs,
    parameters and median forward latency saved; `score` = change / parameter fraction saved (lower: cheaper to drop)."""

    name: str
    kind: str  # "block" (one resnet, attention or mid) or "unit" (a diffusers-valid removal)
    blocks: tuple[str, ...]
    change: float
    params_saved: int
    param_fraction: float
    latency_ms: float
    latency_saved_ms: float
    score: float


@torch.no_grad()
def _timed(unet: torch.nn.Module, calib: Calibration, repeats: int) -> tuple[torch.Tensor, float]:
    """The output on the calibration inputs and the median wall time (ms) of `repeats` forwards."""
    times, out = [], None
    for _ in range(max(1, repeats)):
        start = time.perf_counter()
        out = unet(calib.sample, calib.timesteps, encoder_hidden_states=calib.text).sample
        times.append((time.perf_counter() - start) * 1000)
    return out, statistics.median(times)


def single_blocks(unet: UNet2DConditionModel) -> dict[str, list[str]]:
    """Each resnet, each attention block and the mid block on its own (the pair names are left out)."""
    return {b: [b] for b in removable_blocks(unet) if b.endswith((".resnet", ".attn")) or b == "mid"}


@torch.no_grad()
def sensitivity(
    unet: UNet2DConditionModel, calib: Calibration, removals: dict[str, list[str]], kind: str, repeats: int = 3
) -> list[Removal]:
    """Remove each entry of `removals` on its own (`remove_blocks`) and measure it against the full UNet."""
    unet = unet.eval()
    ref, ref_ms = _timed(unet, calib, repeats)
    total = param_count(unet)
    rows = []
    for name, blocks in removals.items():
        pruned = remove_blocks(unet, blocks)
        out, ms = _timed(pruned, calib, repeats)
        change = float((out - ref).pow(2).sum() / ref.pow(2).sum().clamp(min=1e-12))
        saved = total - param_count(pruned)
        frac = saved / total
        score = change / frac if frac > 0 else float("inf")
        rows.append(Removal(name, kind, tuple(blocks), change, saved, frac, ms, ref_ms - ms, score))
    return sorted(rows, key=lambda r: (r.score, r.name))
