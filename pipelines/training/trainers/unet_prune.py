"""``unet_prune``: block-sensitivity analysis of a t2i teacher's UNet, then a BK-SDM student retrained with KD.

``--teacher`` is a committed ``t2i_teacher`` (or any chain) model directory. The student's ``model/`` is the same
diffusers ``StableDiffusionPipeline`` layout as the teacher's (see t2i_teacher.py) with a smaller ``unet/``: a real
``UNet2DConditionModel`` config (``layers_per_block`` lowered, per stage when needed; ``CrossAttn*`` stages turned
plain; ``mid_block_type=None``) holding the teacher's kept weights, so ``from_pretrained`` loads it. ``blocks`` picks
the removal: ``bk-base`` (BK-SDM-Base, default), ``bk-small`` (also the mid block), ``lowest:N`` (the N pruning units the
analysis ranks cheapest) or a list of unit names (``stage.k``, ``attn.down.k``, ``attn.up.i``, ``mid``). A single
resnet or attention is measured in the analysis but is not a unit on its own: diffusers has no config for it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, Literal

import torch
import torch.nn.functional as F
from pydantic import field_validator
from torch import nn

from models.diffusion.objective import (
    drop_captions,
    encode_images,
    noised,
    random_noised,
    text_states,
    tokenize,
)
from models.diffusion.pruning import bk_sdm_losses, param_count, stage_features
from models.diffusion.structured import (
    BK_BASE,
    BK_SMALL,
    Calibration,
    Removal,
    preset_units,
    pruned_config,
    pruned_student,
    pruning_units,
    sensitivity,
    single_blocks,
)
from models.diffusion.teacher import Components, load_sd_components, to_pipeline
from pipelines.loaders import ShardSet
from pipelines.training.base import Trainer
from pipelines.training.registry import register
from pipelines.training.t2i_generate import fixed_noise, generate
from pipelines.training.trainers.t2i_teacher import (
    TextImageConfig,
    chain_sheet,
    eval_batches,
    fidelity,
    sheet_prompts,
    text_image_loader,
    validation_loss,
)


class UNetPruneConfig(TextImageConfig):
    steps: int = 300
    batch_size: int = 32
    lr: float = 5e-4
    warmup_steps: int = 20
    blocks: str | tuple[str, ...] = BK_BASE
    kd: bool = True  # False: the task loss only (the naive baseline BK-SDM compares against)
    # task, output, features; with kd_feature_norm each stage's feature MSE is over the teacher feature's mean square.
    # BK-SDM's own loss is (1, 1, 1) unnormalised: at the tiny teacher's size it loses to the task-only student and
    # these defaults beat it (benchmarks/results/diffusion.md)
    kd_weights: tuple[float, float, float] = (1.0, 1.0, 0.1)
    kd_feature_norm: bool = True
    calib_prompts: int = 8  # calibration: the first N held-out samples (image + caption), fixed noise
    calib_timesteps: tuple[int, ...] = (250, 500, 750)
    latency_repeats: int = 3
    analysis: Literal["all", "units"] = "all"  # units: skip the single-block table (what lowest:N does not need)

    @field_validator("blocks")
    @classmethod
    def _blocks(cls, v: str | tuple[str, ...]) -> str | tuple[str, ...]:
        if isinstance(v, str) and v not in (BK_BASE, BK_SMALL) and not v.startswith("lowest:"):
            raise ValueError(f"blocks is {BK_BASE}, {BK_SMALL}, lowest:N or a list of unit names, got {v!r}")
        if isinstance(v, str) and v.startswith("lowest:") and not v[7:].isdigit():
            raise ValueError(f"lowest:N needs an integer N, got {v!r}")
        return v


def check_resolution(config: UNetPruneConfig, parts: Components) -> None:
    """The student trains on images of its teacher's size (its UNet's ``sample_size`` times the VAE's downsampling):
    another ``resolution`` would train it on objects of another scale than the teacher draws."""
    size = int(parts.unet.config.sample_size) * 2 ** (len(parts.vae.config.block_out_channels) - 1)
    if config.resolution != size:
        raise ValueError(
            f"resolution is {config.resolution}, the teacher's images are {size} px: set resolution={size}"
        )


@dataclass(frozen=True)
class Analysis:
    """Every single block and every diffusers-valid unit, measured; the units the student drops."""

    blocks: list[Removal]
    units: list[Removal]
    chosen: list[str]


def choose_units(blocks: str | tuple[str, ...], unet: nn.Module, ranked_units: list[Any]) -> list[str]:
    """The units to drop: an explicit list, a BK-SDM preset, or the first N of the ranked units."""
    if isinstance(blocks, tuple | list):
        pruned_config(unet, list(blocks))  # raises on names that are not pruning units of this UNet
        return list(blocks)
    if blocks.startswith("lowest:"):
        n = int(blocks[7:])
        _check_lowest(n, len(ranked_units))
        return [r.name for r in ranked_units[:n]]
    return preset_units(unet, blocks)


def _check_lowest(n: int, units: int) -> None:
    if not 0 < n <= units:
        raise ValueError(f"lowest:{n}: this UNet has {units} pruning units")


class _Through:
    """`stage_features` over a wrapped model: hooks on the inner UNet's stages, the call through the wrapper (DDP)."""

    def __init__(self, wrapper: nn.Module) -> None:
        inner = getattr(wrapper, "module", wrapper)
        self.down_blocks, self.up_blocks, self.mid_block = inner.down_blocks, inner.up_blocks, inner.mid_block
        self.wrapper = wrapper

    def __call__(self, *args: Any, **kw: Any) -> Any:
        return self.wrapper(*args, **kw)


@dataclass
class PruneTask:
    """BK-SDM KD: task (denoising target) + output (teacher's prediction) + stage features; `kd=False`: task only."""

    model: nn.Module
    parts: Components  # the teacher's: its UNet (frozen) and text encoder (frozen, shared by the student)
    shards: ShardSet
    config: UNetPruneConfig

    def __post_init__(self) -> None:
        self.empty_ids = tokenize(self.parts.tokenizer, [""])

    def batches(self, start_batch: int) -> Iterator[Any]:
        return iter(text_image_loader(self.shards, self.config, self.parts.tokenizer, start_batch))

    def loss(self, model: nn.Module, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        device = batch["pixels"].device
        for module in (self.parts.vae, self.parts.text_encoder, self.parts.unet):
            module.to(device)
        latents = encode_images(self.parts.vae, batch["pixels"])
        ids = drop_captions(batch["input_ids"], self.empty_ids, self.config.caption_dropout)
        x = random_noised(self.parts.scheduler, latents)
        with torch.no_grad():
            text = text_states(self.parts.text_encoder, ids)
        if not self.config.kd:
            task = F.mse_loss(model(x.sample, x.timesteps, encoder_hidden_states=text).sample.float(), x.target.float())
            return {"loss": task, "task": task.detach()}
        student = stage_features(_Through(model), x.sample, x.timesteps, text)
        with torch.no_grad():
            teacher = stage_features(self.parts.unet, x.sample, x.timesteps, text)
        kd = bk_sdm_losses(student, teacher, x.target, self.config.kd_weights, self.config.kd_feature_norm)
        return {
            "loss": kd.total,
            "task": kd.task.detach(),
            "output": kd.output.detach(),
            "features": kd.features.detach(),
        }


@register
class UNetPrune(Trainer):
    name = "unet_prune"
    Config = UNetPruneConfig
    description = (
        "Block-sensitivity analysis of --teacher's UNet, then BK-SDM-Base removal (or the lowest-ranked units) "
        "initialised from the teacher and retrained with task + output + feature KD; saved as a diffusers pipeline."
    )
    needs_teacher = True
    config: UNetPruneConfig

    def build(self) -> nn.Module:
        self.parts = load_sd_components(self.inputs.teacher / "model")
        for module in (self.parts.unet, self.parts.text_encoder, self.parts.vae):
            module.requires_grad_(False).eval()
        check_resolution(self.config, self.parts)
        self.analysis = self._analyse()
        return pruned_student(self.parts.unet, self.analysis.chosen).train()

    def _calibration(self) -> Calibration:
        """The first `calib_prompts` held-out images and captions, noised at each `calib_timesteps` with fixed noise."""
        c, parts = self.config, self.parts
        pixels, ids = [], []
        for batch in eval_batches(self, parts.tokenizer):
            pixels.append(batch["pixels"])
            ids.append(batch["input_ids"])
        latents = encode_images(parts.vae, torch.cat(pixels)[: c.calib_prompts])
        text = text_states(parts.text_encoder, torch.cat(ids)[: c.calib_prompts])
        k = len(c.calib_timesteps)
        t = torch.tensor(c.calib_timesteps).repeat_interleave(len(latents))
        latents, text = latents.repeat(k, 1, 1, 1), text.repeat(k, 1, 1)
        noise = torch.randn(latents.shape, generator=torch.Generator().manual_seed(c.seed))
        return Calibration(noised(parts.scheduler, latents, noise, t).sample, t, text)

    @torch.no_grad()
    def _analyse(self) -> Analysis:
        c, unet = self.config, self.parts.unet
        if isinstance(c.blocks, str) and c.blocks.startswith("lowest:"):
            _check_lowest(int(c.blocks[7:]), len(pruning_units(unet)))  # a bad N fails before the analysis
        else:
            choose_units(c.blocks, unet, [])  # so do unknown unit names
        calib = self._calibration()
        blocks = (
            sensitivity(unet, calib, single_blocks(unet), "block", c.latency_repeats) if c.analysis == "all" else []
        )
        units = sensitivity(unet, calib, pruning_units(unet), "unit", c.latency_repeats)
        return Analysis(blocks, units, choose_units(c.blocks, unet, units))

    def task(self, model: nn.Module) -> PruneTask:
        return PruneTask(model, self.parts, self.inputs.data[0], self.config)

    def _final(self, model: nn.Module) -> Components:
        device = next(model.parameters()).device
        for module in (self.parts.vae, self.parts.text_encoder, self.parts.unet):
            module.to(device)
        return replace(self.parts, unet=model.eval())

    def save(self, model: nn.Module, directory: Path) -> None:
        to_pipeline(self._final(model)).save_pretrained(directory, safe_serialization=True)

    @torch.no_grad()
    def evaluate(self, model: nn.Module) -> dict[str, float]:
        """Held-out validation loss of student and teacher (same batches, timesteps and noise), parameters before and
        after, and the student's distance to the teacher on the sheet's prompts (the data's captions) and noise (sampled images, MSE)."""
        student, teacher, c = self._final(model), self.parts, self.config
        metrics = validation_loss(student.unet, student, eval_batches(self, teacher.tokenizer)) | fidelity(student, c)
        ref = validation_loss(teacher.unet, teacher, eval_batches(self, teacher.tokenizer))
        n_t, n_s = param_count(teacher.unet), param_count(student.unet)
        prompts = sheet_prompts(self)
        noise = fixed_noise(teacher, len(prompts), seed=0)
        mse = (generate(student, prompts, c.sample_steps, c.guidance, noise)
               - generate(teacher, prompts, c.sample_steps, c.guidance, noise)).pow(2).mean()  # fmt: skip
        return metrics | {
            "teacher_val_loss": ref["val_loss"],
            "teacher_params": n_t,
            "student_params": n_s,
            "param_reduction": round(1 - n_s / n_t, 4),
            "removed_units": len(self.analysis.chosen),
            "sample_mse_to_teacher": round(float(mse), 6),
        }

    def sample_sheet(self, model: nn.Module, path: Path) -> Path:
        write_sensitivity(self.analysis, path.parent)
        return chain_sheet(self._final(model), self.config, sheet_prompts(self), path)


def write_sensitivity(analysis: Analysis, samples: Path) -> None:
    """``sensitivity.json`` (every removal and the chosen units), ``sensitivity.md`` (tables) and ``sensitivity.png``."""
    samples.mkdir(parents=True, exist_ok=True)
    record = {"chosen": analysis.chosen, "blocks": [asdict(r) for r in analysis.blocks],
              "units": [asdict(r) for r in analysis.units]}  # fmt: skip
    (samples / "sensitivity.json").write_text(json.dumps(record, indent=1) + "\n")
    lines = ["# Block sensitivity", "", "Ranked by score = relative output change / parameter fraction saved.", ""]
    for title, rows in (("Pruning units (diffusers-valid)", analysis.units), ("Single blocks", analysis.blocks)):
        lines += [f"## {title}", "", "| rank | removal | output change | params saved | share | latency saved ms | "
                  "score | chosen |", "| --- | --- | --- | --- | --- | --- | --- | --- |"]  # fmt: skip
        for i, r in enumerate(rows, 1):
            chosen = "yes" if r.name in analysis.chosen else ""
            lines.append(f"| {i} | {r.name} | {r.change:.4g} | {r.params_saved} | {r.param_fraction:.1%} | "
                         f"{r.latency_saved_ms:.1f} | {r.score:.4g} | {chosen} |")  # fmt: skip
        lines.append("")
    (samples / "sensitivity.md").write_text("\n".join(lines))
    _plot(analysis, samples / "sensitivity.png")


def _plot(analysis: Analysis, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4.5), dpi=100)
    for ax, x_of, label in ((axes[0], "param_fraction", "parameter share saved"),
                            (axes[1], "latency_saved_ms", "latency saved (ms, median)")):  # fmt: skip
        for rows, colour, kind in ((analysis.blocks, "tab:blue", "single block"), (analysis.units, "tab:red", "unit")):
            xs, ys = [getattr(r, x_of) for r in rows], [max(r.change, 1e-9) for r in rows]
            ax.scatter(xs, ys, c=colour, s=18, label=kind)
            for r, x, y in zip(rows, xs, ys, strict=True):
                ax.annotate(r.name, (x, y), fontsize=6, alpha=0.8)
        ax.set_yscale("log")
        ax.set_xlabel(label)
        ax.set_ylabel("relative output change")
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    fig.subplots_adjust(left=0.07, right=0.98, top=0.95, bottom=0.12, wspace=0.25)
    fig.savefig(path)
    plt.close(fig)
