"""Tiny and SD 1.x text-to-image teachers from real diffusers/transformers components, saved as a diffusers pipeline."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import torch
from diffusers import AutoencoderKL, DDIMScheduler, StableDiffusionPipeline, UNet2DConditionModel
from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

from models.diffusion.tokenizer import build_clip_tokenizer
from models.diffusion.vae import identity_autoencoder

Prediction = Literal["epsilon", "v_prediction"]
Spacing = Literal["leading", "trailing", "linspace"]


@dataclass(frozen=True)
class TinyTeacherConfig:
    """Sizes of the tiny pixel-space teacher (32 px RGB; the UNet near the issue's 1.7M-parameter budget, asserted by a test)."""

    sample_size: int = 32
    block_out_channels: tuple[int, ...] = (16, 32, 64)
    layers_per_block: int = 2
    attention_head_dim: int = 8
    text_hidden: int = 64
    text_layers: int = 2
    text_heads: int = 2
    n_merges: int = 2000
    max_length: int = 32
    prediction_type: Prediction = "v_prediction"
    timestep_spacing: Spacing = "trailing"


@dataclass(frozen=True)
class Components:
    """The five modules a `StableDiffusionPipeline` is made of (no safety checker, no feature extractor)."""

    unet: UNet2DConditionModel
    vae: AutoencoderKL
    text_encoder: CLIPTextModel
    tokenizer: CLIPTokenizer
    scheduler: DDIMScheduler


def tiny_unet(cfg: TinyTeacherConfig) -> UNet2DConditionModel:
    """Three stages (32/16/8 px), cross-attention at 16 and 8 px and in the mid block; 3 input channels (pixels)."""
    return UNet2DConditionModel(
        sample_size=cfg.sample_size,
        in_channels=3,
        out_channels=3,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"),
        block_out_channels=cfg.block_out_channels,
        layers_per_block=cfg.layers_per_block,
        cross_attention_dim=cfg.text_hidden,
        attention_head_dim=cfg.attention_head_dim,
        norm_num_groups=8,
    )


def tiny_text_encoder(tokenizer: CLIPTokenizer, cfg: TinyTeacherConfig) -> CLIPTextModel:
    """A small `CLIPTextModel` whose vocabulary and special ids are the tokenizer's."""
    config = CLIPTextConfig(
        vocab_size=len(tokenizer),
        hidden_size=cfg.text_hidden,
        intermediate_size=cfg.text_hidden * 4,
        num_hidden_layers=cfg.text_layers,
        num_attention_heads=cfg.text_heads,
        max_position_embeddings=cfg.max_length,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    return CLIPTextModel(config)


def ddim_scheduler(prediction_type: Prediction = "v_prediction", spacing: Spacing = "trailing") -> DDIMScheduler:
    """SD 1.x's scaled-linear betas; no sample clipping (the distillation math assumes none)."""
    return DDIMScheduler(
        num_train_timesteps=1000,
        beta_start=0.00085,
        beta_end=0.012,
        beta_schedule="scaled_linear",
        clip_sample=False,
        set_alpha_to_one=True,
        steps_offset=1,
        prediction_type=prediction_type,
        timestep_spacing=spacing,
    )


def build_tiny_teacher(work_dir: Path, cfg: TinyTeacherConfig = TinyTeacherConfig(), seed: int = 0) -> Components:
    """Random-weight tiny teacher in pixel space; `work_dir` receives the tokenizer's vocab files."""
    torch.manual_seed(seed)
    tokenizer = build_clip_tokenizer(work_dir, n_merges=cfg.n_merges, max_length=cfg.max_length)
    return Components(
        unet=tiny_unet(cfg),
        vae=identity_autoencoder(),
        text_encoder=tiny_text_encoder(tokenizer, cfg),
        tokenizer=tokenizer,
        scheduler=ddim_scheduler(cfg.prediction_type, cfg.timestep_spacing),
    )


def to_pipeline(c: Components) -> StableDiffusionPipeline:
    """Assemble the components into a `StableDiffusionPipeline` without safety checker."""
    return StableDiffusionPipeline(
        vae=c.vae,
        text_encoder=c.text_encoder,
        tokenizer=c.tokenizer,
        unet=c.unet,
        scheduler=c.scheduler,
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )


def save_teacher(c: Components, out_dir: Path) -> Path:
    """`save_pretrained` as a diffusers pipeline directory (safetensors), loadable without shardsmith."""
    to_pipeline(c).save_pretrained(out_dir, safe_serialization=True)
    return out_dir


def load_pipeline(model_dir: str | Path, dtype: torch.dtype = torch.float32) -> StableDiffusionPipeline:
    """Load a saved pipeline directory (tiny or SD 1.x) from local files only."""
    return StableDiffusionPipeline.from_pretrained(
        str(model_dir),
        torch_dtype=dtype,
        local_files_only=True,
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )


def load_sd_components(model_dir: str | Path, dtype: torch.dtype = torch.float32) -> Components:
    """Production: SD 1.x components from a local diffusers directory (`unet/`, `vae/`, `text_encoder/`, ...)."""
    root = str(model_dir)
    kw = {"local_files_only": True}
    return Components(
        unet=UNet2DConditionModel.from_pretrained(root, subfolder="unet", torch_dtype=dtype, **kw),
        vae=AutoencoderKL.from_pretrained(root, subfolder="vae", torch_dtype=dtype, **kw),
        text_encoder=CLIPTextModel.from_pretrained(root, subfolder="text_encoder", torch_dtype=dtype, **kw),
        tokenizer=CLIPTokenizer.from_pretrained(root, subfolder="tokenizer", **kw),
        scheduler=DDIMScheduler.from_pretrained(root, subfolder="scheduler", **kw),
    )
