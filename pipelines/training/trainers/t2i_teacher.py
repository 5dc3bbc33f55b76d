"""``t2i_teacher``: a text-to-image diffusers pipeline trained (tiny) or fine-tuned (SD 1.x) on jpg + txt shards.

Model directory: ``model/`` is a diffusers ``StableDiffusionPipeline`` directory (``model_index.json``, ``unet/``,
``vae/``, ``text_encoder/``, ``tokenizer/``, ``scheduler/``; safetensors), loadable with
``StableDiffusionPipeline.from_pretrained(dir / "model")`` or ``models.diffusion.teacher.load_pipeline`` /
``load_sd_components``. Every later model of the chain (``unet_prune``, the step- and guidance-distilled students)
writes the same layout, replacing ``unet/``. The card's ``config`` holds ``sample_steps`` and ``guidance``, the sampling
defaults that ``shardsmith generate`` reads.
"""

from __future__ import annotations

import functools
import io
import itertools
import json
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn

from models.diffusion.objective import (
    drop_captions,
    encode_images,
    fixed_timesteps,
    noised,
    random_noised,
    text_states,
    tokenize,
)
from models.diffusion.teacher import Components, TinyTeacherConfig, build_tiny_teacher, load_sd_components, to_pipeline
from pipelines.loaders import BatchLoader, LoaderConfig, Sample, ShardSet, open_shards
from pipelines.training.base import Trainer, TrainerConfig
from pipelines.training.registry import register
from pipelines.training.t2i_generate import fixed_noise, generate, prompt_fidelity, write_sheet

SHEET_SIZE = 8  # the sample sheet: the first distinct captions of the held-out data (or the training data)
EVAL_NOISE_SEED = 1234


class TextImageConfig(TrainerConfig):
    """What every trainer of the chain shares: the images, caption dropout, held-out data and sampling defaults."""

    resolution: int = 16  # images are resized to this (the tiny teacher's UNet works at it in pixel space)
    caption_dropout: float = 0.1  # share of captions replaced by "" (what classifier-free guidance needs)
    sample_steps: int = 32  # sampling defaults for the sample sheet and `shardsmith generate`
    guidance: float = 4.0
    eval_data: str | None = None  # held-out shards (e.g. the shapes test split); default: the training data
    eval_samples: int = 64
    classifier: str | None = None  # a shapes_classifier model dir: prompt fidelity of generated samples in the metrics
    fidelity_prompts: int = 36  # single-object prompts, every corpus colour x shape once at 36


class T2ITeacherConfig(TextImageConfig):
    # the tiny teacher's defaults are benchmarks/diffusion.py's recorded run, where it follows colour and shape prompts
    steps: int = 4000
    batch_size: int = 32
    lr: float = 2e-3  # tiny, from scratch; fine-tuning SD 1.x wants ~1e-5
    warmup_steps: int = 20
    weights: str | None = None  # a local SD 1.x diffusers directory (production); None: the tiny teacher
    train_text_encoder: bool | None = None  # None: yes for the tiny teacher (random init), no for `weights`
    block_out_channels: tuple[int, ...] = (16, 32, 32)  # tiny teacher sizes (models/diffusion/teacher.py)
    text_hidden: int = 64
    text_layers: int = 2
    n_merges: int = 2000


def encode_pair(sample: Sample, size: int, tokenizer: Any) -> tuple[torch.Tensor, torch.Tensor]:
    """(pixels (3, size, size) in [-1, 1], token ids (L,)) of a jpg + txt sample (bicubic resize when needed)."""
    image = Image.open(io.BytesIO(sample["jpg"])).convert("RGB")
    if image.size != (size, size):
        image = image.resize((size, size), Image.Resampling.BICUBIC)
    pixels = torch.from_numpy(np.asarray(image, dtype=np.float32) / 127.5 - 1.0).permute(2, 0, 1)
    return pixels, tokenize(tokenizer, [sample["txt"].decode("utf-8")])[0]


def collate_pairs(items: list[tuple[torch.Tensor, torch.Tensor]]) -> dict[str, torch.Tensor]:
    return {"pixels": torch.stack([p for p, _ in items]), "input_ids": torch.stack([i for _, i in items])}


def text_image_loader(
    shards: ShardSet, c: TextImageConfig, tokenizer: Any, start_batch: int = 0, training: bool = True
) -> BatchLoader:
    """Training: a seeded, resumable resampled stream. Evaluation: one pass in tar order, read whole by this process."""
    if training:
        config = LoaderConfig(c.batch_size, c.seed, True, c.shuffle, c.workers, required=("jpg", "txt"))
    else:
        config = LoaderConfig(c.batch_size, c.seed, False, 0, required=("jpg", "txt"), split_by_node=False)
    encode = functools.partial(encode_pair, size=c.resolution, tokenizer=tokenizer)
    return BatchLoader(shards, config, encode, collate_pairs, start_batch)


def eval_batches(trainer: Trainer, tokenizer: Any) -> Iterator[dict[str, torch.Tensor]]:
    c = trainer.config
    shards = open_shards(c.eval_data) if c.eval_data else trainer.inputs.data[0]
    return itertools.islice(
        text_image_loader(shards, c, tokenizer, training=False), max(1, -(-c.eval_samples // c.batch_size))
    )


class TextToImage(nn.Module):
    """The trained part of the pipeline: UNet and text encoder (frozen or not), called as one module (so DDP syncs)."""

    def __init__(self, unet: nn.Module, text_encoder: nn.Module) -> None:
        super().__init__()
        self.unet, self.text_encoder = unet, text_encoder

    def forward(self, sample: torch.Tensor, timesteps: torch.Tensor, input_ids: torch.Tensor) -> torch.Tensor:
        return self.unet(sample, timesteps, encoder_hidden_states=text_states(self.text_encoder, input_ids)).sample


@dataclass
class TeacherTask:
    """Denoising loss on the scheduler's prediction type (v-prediction for the tiny teacher) with caption dropout."""

    model: TextToImage
    parts: Components
    shards: ShardSet
    config: TextImageConfig

    def __post_init__(self) -> None:
        self.empty_ids = tokenize(self.parts.tokenizer, [""])

    def batches(self, start_batch: int) -> Iterator[Any]:
        return iter(text_image_loader(self.shards, self.config, self.parts.tokenizer, start_batch))

    def loss(self, model: nn.Module, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        latents = encode_images(self.parts.vae.to(batch["pixels"].device), batch["pixels"])
        ids = drop_captions(batch["input_ids"], self.empty_ids, self.config.caption_dropout)
        x = random_noised(self.parts.scheduler, latents)
        return {"loss": F.mse_loss(model(x.sample, x.timesteps, ids).float(), x.target.float())}


@torch.no_grad()
def validation_loss(unet: nn.Module, parts: Components, batches: Iterator[dict[str, torch.Tensor]]) -> dict[str, float]:
    """Mean denoising MSE on held-out batches at fixed timesteps and fixed noise (no caption dropout), overall
    (``val_loss``) and per timestep level (``val_loss_t100`` ...): comparable across models and runs."""
    g = torch.Generator().manual_seed(EVAL_NOISE_SEED)
    sums: dict[int, float] = {}
    counts: dict[int, int] = {}
    device = parts.unet.device
    for batch in batches:
        latents = encode_images(parts.vae, batch["pixels"].to(device))
        t = fixed_timesteps(len(latents), parts.scheduler.config.num_train_timesteps)
        x = noised(parts.scheduler, latents, torch.randn(latents.shape, generator=g).to(device), t)
        text = text_states(parts.text_encoder, batch["input_ids"])
        err = (unet(x.sample, x.timesteps, encoder_hidden_states=text).sample - x.target).pow(2).flatten(1).mean(1)
        for level, e in zip(t.tolist(), err.tolist(), strict=True):
            sums[level] = sums.get(level, 0.0) + e
            counts[level] = counts.get(level, 0) + 1
    n = sum(counts.values())
    metrics = {"val_loss": round(sum(sums.values()) / max(1, n), 6), "val_samples": n}
    return metrics | {f"val_loss_t{k}": round(sums[k] / counts[k], 6) for k in sorted(sums)}


def fidelity(parts: Components, c: TextImageConfig) -> dict[str, float]:
    """Prompt fidelity at the sampling defaults when `classifier` names a shapes_classifier; else nothing."""
    if c.classifier is None:
        return {}
    guided = parts.unet.config.get("time_cond_proj_dim") is not None
    return prompt_fidelity(parts, Path(c.classifier), c.sample_steps, c.guidance, c.fidelity_prompts, guided)


def sheet_prompts(trainer: Trainer, n: int = SHEET_SIZE) -> list[str]:
    """The first `n` distinct captions of `eval_data` (else the training data), in tar order: prompts in the data's own
    vocabulary, whatever corpus the chain is trained on."""
    from pipelines.training.unet_distill import eval_captions

    shards = open_shards(trainer.config.eval_data) if trainer.config.eval_data else trainer.inputs.data[0]
    return list(dict.fromkeys(eval_captions(shards, 8 * n)))[:n]


def chain_sheet(parts: Components, config: TextImageConfig, prompts: list[str], path: Path) -> Path:
    """The sample sheet every model of the chain writes: `prompts` from fixed noise (seed 0) at its sampling defaults;
    the prompts also go to ``sheet_prompts.json`` beside it."""
    noise = fixed_noise(parts, len(prompts), seed=0)
    guided = parts.unet.config.get("time_cond_proj_dim") is not None
    images = generate(parts, prompts, config.sample_steps, config.guidance, noise, guided)
    path.parent.mkdir(parents=True, exist_ok=True)
    (path.parent / "sheet_prompts.json").write_text(json.dumps(prompts, indent=1, ensure_ascii=False))
    return write_sheet(images, prompts, path)


@register
class T2ITeacher(Trainer):
    name = "t2i_teacher"
    Config = T2ITeacherConfig
    description = (
        "A text-to-image diffusers pipeline (tiny pixel-space UNet + CLIP text encoder, v-prediction, caption dropout "
        "for CFG; or SD 1.x by weights=DIR, fine-tuned) on jpg+txt shards; model/ loads in StableDiffusionPipeline."
    )
    config: T2ITeacherConfig

    def build(self) -> nn.Module:
        c = self.config
        source = self.inputs.parent / "model" if self.inputs.parent else c.weights
        if source is not None:
            self.parts = load_sd_components(source)
        else:
            tiny = replace(TinyTeacherConfig(), sample_size=c.resolution, block_out_channels=c.block_out_channels,
                           text_hidden=c.text_hidden, text_layers=c.text_layers, n_merges=c.n_merges)  # fmt: skip
            with tempfile.TemporaryDirectory() as work:
                self.parts = build_tiny_teacher(Path(work), tiny, seed=c.seed)
        train_text = c.train_text_encoder if c.train_text_encoder is not None else source is None
        self.parts.text_encoder.requires_grad_(train_text)
        self.parts.vae.requires_grad_(False).eval()
        return TextToImage(self.parts.unet, self.parts.text_encoder).train()

    def task(self, model: nn.Module) -> TeacherTask:
        return TeacherTask(model, self.parts, self.inputs.data[0], self.config)

    def _final(self, model: TextToImage) -> Components:
        device = next(model.unet.parameters()).device
        return replace(
            self.parts, unet=model.unet.eval(), text_encoder=model.text_encoder.eval(), vae=self.parts.vae.to(device)
        )

    def save(self, model: nn.Module, directory: Path) -> None:
        to_pipeline(self._final(model)).save_pretrained(directory, safe_serialization=True)

    def evaluate(self, model: nn.Module) -> dict[str, float]:
        parts = self._final(model)
        return validation_loss(parts.unet, parts, eval_batches(self, parts.tokenizer)) | fidelity(parts, self.config)

    def sample_sheet(self, model: nn.Module, path: Path) -> Path:
        return chain_sheet(self._final(model), self.config, sheet_prompts(self), path)
