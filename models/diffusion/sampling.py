"""Batched DDIM sampling (eta 0) for teachers with two-evaluation CFG and for guidance-conditioned students."""

from __future__ import annotations

import torch
from diffusers import DDIMScheduler, UNet2DConditionModel

from models.diffusion.distill import Denoiser, Prediction, cfg_target, ddim_step, guided_forward


def schedule(scheduler: DDIMScheduler, steps: int) -> list[tuple[int, int]]:
    """(t, t_prev) pairs of the scheduler's spacing for `steps` steps; t_prev < 0 is the end (abar = final)."""
    scheduler.set_timesteps(steps)
    jump = scheduler.config.num_train_timesteps // steps
    return [(int(t), int(t) - jump) for t in scheduler.timesteps]


@torch.no_grad()
def ddim_sample(
    denoise: Denoiser, noise: torch.Tensor, scheduler: DDIMScheduler, steps: int, prediction: Prediction | None = None
) -> torch.Tensor:
    """Run `steps` DDIM steps from `noise` (B, C, H, W) with `denoise(x_t, t)`; returns x_0 in the model's space."""
    prediction = prediction or scheduler.config.prediction_type
    final = float(scheduler.final_alpha_cumprod)
    x = noise
    for t, t_prev in schedule(scheduler, steps):
        tt = torch.full((len(x),), t, dtype=torch.long, device=x.device)
        out = denoise(x, tt)
        x = ddim_step(x, out, tt, torch.full_like(tt, t_prev), scheduler.alphas_cumprod, prediction, final)
    return x


def cfg_denoiser(unet: UNet2DConditionModel, text: torch.Tensor, uncond: torch.Tensor, w: float) -> Denoiser:
    """The teacher's classifier-free guidance: two evaluations per step, out_u + w (out_c - out_u)."""

    def denoise(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        both = unet(torch.cat([x, x]), torch.cat([t, t]), encoder_hidden_states=torch.cat([uncond, text])).sample
        out_u, out_c = both.chunk(2)
        return cfg_target(out_u, out_c, torch.full((len(x),), w, device=x.device))

    return denoise


def guided_denoiser(unet: UNet2DConditionModel, text: torch.Tensor, w: float) -> Denoiser:
    """A guidance-conditioned student: one evaluation per step at CFG scale `w`."""

    def denoise(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return guided_forward(unet, x, t, text, torch.full((len(x),), w, device=x.device))

    return denoise
