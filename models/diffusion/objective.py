"""The denoising objective of a text-to-image UNet: prompts to text states, images to latents, noised inputs, targets."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from diffusers import AutoencoderKL, DDIMScheduler
from transformers import CLIPTextModel, CLIPTokenizer


def tokenize(tokenizer: CLIPTokenizer, prompts: list[str]) -> torch.Tensor:
    """(B, max_length) ids padded and truncated as `StableDiffusionPipeline` tokenizes (so "" is its negative prompt)."""
    return tokenizer(
        prompts, padding="max_length", max_length=tokenizer.model_max_length, truncation=True, return_tensors="pt"
    ).input_ids


def text_states(text_encoder: CLIPTextModel, input_ids: torch.Tensor) -> torch.Tensor:
    """(B, L, D) last hidden states, the pipeline's `encoder_hidden_states` (no attention mask, as SD 1.x)."""
    return text_encoder(input_ids.to(text_encoder.device))[0]


@torch.no_grad()
def encode_images(vae: AutoencoderKL, pixels: torch.Tensor) -> torch.Tensor:
    """Pixels (B, 3, H, W) in [-1, 1] -> latents scaled by the VAE's `scaling_factor` (the distribution's mode)."""
    return vae.encode(pixels.to(vae.dtype)).latent_dist.mode() * vae.config.scaling_factor


@torch.no_grad()
def decode_latents(vae: AutoencoderKL, latents: torch.Tensor) -> torch.Tensor:
    """Latents -> pixels (B, 3, H, W) in [0, 1], as the pipeline's postprocessing does."""
    pixels = vae.decode(latents.to(vae.dtype) / vae.config.scaling_factor).sample
    return (pixels.float() / 2 + 0.5).clamp(0, 1)


def drop_captions(input_ids: torch.Tensor, empty_ids: torch.Tensor, p: float, generator=None) -> torch.Tensor:
    """Replace each row by the empty prompt's ids with probability `p` (classifier-free guidance training)."""
    if p <= 0:
        return input_ids
    keep = torch.rand(len(input_ids), generator=generator) >= p
    return torch.where(
        keep[:, None].to(input_ids.device), input_ids, empty_ids.to(input_ids.device).expand_as(input_ids)
    )


@dataclass(frozen=True)
class Noised:
    """A training example of the denoiser: input x_t, integer timesteps (B,), and the target of the prediction type."""

    sample: torch.Tensor
    timesteps: torch.Tensor
    target: torch.Tensor


def noised(scheduler: DDIMScheduler, latents: torch.Tensor, noise: torch.Tensor, timesteps: torch.Tensor) -> Noised:
    """x_t = alpha x_0 + sigma eps and the target: v = alpha eps - sigma x_0 (v_prediction) or eps (epsilon)."""
    timesteps = timesteps.to(latents.device)
    x_t = scheduler.add_noise(latents, noise, timesteps)
    kind = scheduler.config.prediction_type
    if kind == "v_prediction":
        target = scheduler.get_velocity(latents, noise, timesteps)
    elif kind == "epsilon":
        target = noise
    else:
        raise ValueError(f"prediction type {kind!r} is not trained here")
    return Noised(x_t, timesteps, target)


def random_noised(scheduler: DDIMScheduler, latents: torch.Tensor, generator=None) -> Noised:
    """Uniform timesteps and Gaussian noise from `generator` (default: torch's global one, which checkpoints restore)."""
    t = torch.randint(0, scheduler.config.num_train_timesteps, (len(latents),), generator=generator)
    noise = torch.randn(latents.shape, generator=generator).to(latents.device, latents.dtype)
    return noised(scheduler, latents, noise, t)


def fixed_timesteps(n: int, num_train_timesteps: int = 1000, levels: int = 5) -> torch.Tensor:
    """(n,) timesteps cycling over `levels` evenly spaced levels (e.g. 100, 300, 500, 700, 900): a fixed evaluation."""
    grid = ((torch.arange(levels) * 2 + 1) * num_train_timesteps) // (2 * levels)
    return grid[torch.arange(n) % levels]
