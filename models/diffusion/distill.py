"""Progressive (step) distillation and guidance distillation math: batched DDIM, targets, conversions, weighting."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import torch
from diffusers import UNet2DConditionModel

Prediction = Literal["epsilon", "v_prediction"]
# (x_t, t) -> model output of the given prediction type; t is a (B,) long tensor
Denoiser = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


@dataclass(frozen=True)
class Coefs:
    """alpha_t = sqrt(abar_t), sigma_t = sqrt(1 - abar_t), shaped (B, 1, 1, 1) to broadcast over images."""

    alpha: torch.Tensor
    sigma: torch.Tensor


def coefs(alphas_cumprod: torch.Tensor, t: torch.Tensor, final_alpha: float = 1.0) -> Coefs:
    """Coefficients at integer timesteps `t` (B,); t < 0 means the end of sampling (abar = `final_alpha`)."""
    ac = alphas_cumprod.to(device=t.device, dtype=torch.float64)  # the scheduler keeps it on the CPU
    abar = torch.where(t >= 0, ac[t.clamp(min=0)], torch.full_like(ac[:1], final_alpha).expand(t.shape))
    shape = (-1, 1, 1, 1)
    return Coefs(alpha=abar.sqrt().view(shape), sigma=(1 - abar).sqrt().view(shape))


def x0_from(x_t: torch.Tensor, out: torch.Tensor, c: Coefs, prediction: Prediction) -> torch.Tensor:
    if prediction == "v_prediction":
        return (c.alpha * x_t - c.sigma * out).to(x_t.dtype)
    return ((x_t - c.sigma * out) / c.alpha).to(x_t.dtype)


def eps_from(x_t: torch.Tensor, out: torch.Tensor, c: Coefs, prediction: Prediction) -> torch.Tensor:
    if prediction == "v_prediction":
        return (c.sigma * x_t + c.alpha * out).to(x_t.dtype)
    return out


def eps_from_x0(x_t: torch.Tensor, x0: torch.Tensor, c: Coefs) -> torch.Tensor:
    return ((x_t - c.alpha * x0) / c.sigma).to(x_t.dtype)


def v_from(x0: torch.Tensor, eps: torch.Tensor, c: Coefs) -> torch.Tensor:
    """v = alpha * eps - sigma * x0 (Salimans & Ho)."""
    return (c.alpha * eps - c.sigma * x0).to(x0.dtype)


def q_sample(x0: torch.Tensor, eps: torch.Tensor, c: Coefs) -> torch.Tensor:
    """x_t = alpha * x0 + sigma * eps."""
    return (c.alpha * x0 + c.sigma * eps).to(x0.dtype)


def ddim_step(
    x_t: torch.Tensor,
    out: torch.Tensor,
    t: torch.Tensor,
    t_prev: torch.Tensor,
    alphas_cumprod: torch.Tensor,
    prediction: Prediction,
    final_alpha: float = 1.0,
) -> torch.Tensor:
    """Deterministic DDIM (eta 0, no clipping) from per-sample `t` to `t_prev` (B,); t_prev < 0 ends at abar=final_alpha."""
    c, c_prev = coefs(alphas_cumprod, t), coefs(alphas_cumprod, t_prev, final_alpha)
    x0, eps = x0_from(x_t, out, c, prediction), eps_from(x_t, out, c, prediction)
    return (c_prev.alpha * x0 + c_prev.sigma * eps).to(x_t.dtype)


@dataclass(frozen=True)
class DistillTarget:
    """The student's regression target at (x_t, t) for a jump to t - 2*step: x0, eps and v forms."""

    x0: torch.Tensor
    eps: torch.Tensor
    v: torch.Tensor
    x_end: torch.Tensor  # where two teacher DDIM steps land


@torch.no_grad()
def two_step_target(
    teacher: Denoiser,
    x_t: torch.Tensor,
    t: torch.Tensor,
    t_mid: torch.Tensor,
    t_end: torch.Tensor,
    alphas_cumprod: torch.Tensor,
    prediction: Prediction,
    final_alpha: float = 1.0,
) -> DistillTarget:
    """Salimans & Ho Alg. 2: teacher DDIM steps t -> t_mid -> t_end, then x0 such that one DDIM step t -> t_end lands there.

    x_target = (x_end - (sigma_end / sigma_t) x_t) / (alpha_end - (sigma_end / sigma_t) alpha_t). The grids are the
    caller's: diffusers' DDIM steps by T // N, and 1000 is not a multiple of 16 or 32, so take t_end = t - T // N_student
    (where the student's sampler goes) and t_mid = t - T // N_teacher. t_end < 0 is the end of sampling.
    """
    if not ((t > t_mid) & (t_mid > t_end) & (t_mid >= 0)).all():
        raise ValueError("two_step_target needs t > t_mid > t_end per sample, with t_mid >= 0")
    x_mid = ddim_step(x_t, teacher(x_t, t), t, t_mid, alphas_cumprod, prediction, final_alpha)
    mid_out = teacher(x_mid, t_mid)
    x_end = ddim_step(x_mid, mid_out, t_mid, t_end, alphas_cumprod, prediction, final_alpha)
    c, ce = coefs(alphas_cumprod, t), coefs(alphas_cumprod, t_end, final_alpha)
    ratio = ce.sigma / c.sigma
    x0 = ((x_end - ratio * x_t) / (ce.alpha - ratio * c.alpha)).to(x_t.dtype)
    eps = eps_from_x0(x_t, x0, c)
    return DistillTarget(x0=x0, eps=eps, v=v_from(x0, eps, c), x_end=x_end)


def truncated_snr_loss(x0_pred: torch.Tensor, x0_target: torch.Tensor, c: Coefs) -> torch.Tensor:
    """mean over the batch of max(snr, 1) * MSE_x = max(MSE_x, MSE_eps) per sample (snr = alpha^2 / sigma^2)."""
    mse_x = (x0_pred - x0_target).pow(2).flatten(1).mean(1)
    snr = (c.alpha.flatten() / c.sigma.flatten()).pow(2)
    return (snr.clamp(min=1.0).to(mse_x.dtype) * mse_x).mean()


def guidance_embedding(w: torch.Tensor, dim: int) -> torch.Tensor:
    """Sinusoidal embedding of guidance weights (B,) -> (B, dim), as diffusers' LCM pipeline computes it (w * 1000)."""
    w = w.float() * 1000.0
    half = dim // 2
    freqs = torch.exp(torch.arange(half, dtype=torch.float32) * -(math.log(10000.0) / (half - 1)))
    emb = w[:, None] * freqs[None, :]
    emb = torch.cat([torch.sin(emb), torch.cos(emb)], dim=1)
    return torch.nn.functional.pad(emb, (0, dim % 2))


def guided_student(teacher: UNet2DConditionModel, cond_dim: int = 64, zero_init: bool = True) -> UNet2DConditionModel:
    """The teacher with `time_cond_proj_dim=cond_dim` (w's embedding is projected and added to the time embedding).

    All teacher weights are copied; the new `time_embedding.cond_proj` is zeroed by default so the student starts as
    the teacher's conditional model, and random (diffusers' init) with `zero_init=False`.
    """
    config = {k: v for k, v in teacher.config.items() if not k.startswith("_")}
    student = UNet2DConditionModel(**{**config, "time_cond_proj_dim": cond_dim})
    missing, unexpected = student.load_state_dict(teacher.state_dict(), strict=False)
    if unexpected or set(missing) != {"time_embedding.cond_proj.weight"}:
        raise RuntimeError(f"guided student init: missing {missing}, unexpected {unexpected}")
    if zero_init:
        torch.nn.init.zeros_(student.time_embedding.cond_proj.weight)
    return student.to(dtype=teacher.dtype)


def guided_forward(
    unet: UNet2DConditionModel, x_t: torch.Tensor, t: torch.Tensor, text: torch.Tensor, w: torch.Tensor, **kw: Any
) -> torch.Tensor:
    """One evaluation of a guidance-conditioned UNet at CFG scales `w` (B,), the w of `cfg_target`.

    The embedded value is w - 1, as `StableDiffusionPipeline` does for a UNet with `time_cond_proj_dim` (and as
    diffusers' LCM script's w is), so a student trained here samples in that pipeline at `guidance_scale=w`.
    """
    cond = guidance_embedding(w - 1, unet.config.time_cond_proj_dim).to(x_t.dtype)
    return unet(x_t, t, encoder_hidden_states=text, timestep_cond=cond, **kw).sample


def cfg_target(out_uncond: torch.Tensor, out_cond: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """Classifier-free guidance: out_u + w (out_c - out_u), per-sample w (B,); linear, so valid for eps or v."""
    w = w.view(-1, *([1] * (out_cond.dim() - 1))).to(out_cond.dtype)
    return out_uncond + w * (out_cond - out_uncond)
