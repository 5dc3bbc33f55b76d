"""``unet_cfg_distill``: a guidance-conditioned student that gives the teacher's two-evaluation CFG output in one."""

from __future__ import annotations

# isort: off
import models.compat  # noqa: F401  (torchvision's ops before diffusers imports transformers' image utils)

# isort: on
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from diffusers import UNet2DConditionModel
from pydantic import model_validator

from models.diffusion.distill import Denoiser, cfg_target, coefs, ddim_step, guided_student, q_sample, x0_from
from models.diffusion.sampling import schedule
from pipelines.loaders import ShardSet
from pipelines.training.base import Trainer, TrainerConfig
from pipelines.training.registry import register
from pipelines.training.unet_distill import (
    Advance,
    ChainSampling,
    PathPool,
    States,
    chain_sampling,
    encode_text,
    eval_captions,
    fixed_noise,
    image_size,
    latents_of,
    load_teacher,
    model_device,
    mse,
    path_captions,
    path_weights,
    pipe_on,
    pool_share,
    sample_model,
    sample_paths,
    save_student,
    sheet,
    student_forward,
    student_scheduler,
    train_batches,
    uniform_w,
)

if TYPE_CHECKING:
    from diffusers import DDIMScheduler, StableDiffusionPipeline


class CfgDistillConfig(TrainerConfig):
    """w ~ U[``guidance_range``] per sample (Meng et al.: [2, 14]); the student's ``time_cond_proj_dim`` is
    ``cond_dim`` (diffusers' LCM script: 256). The final metrics and sheet sample ``sample_steps`` DDIM steps at each
    w of ``eval_guidance``. Compose with ``unet_step_distill --teacher THIS`` for few steps of one evaluation each.

    ``states``: where x_t comes from, as in ``unet_step_distill``: ``data`` (training images noised to any t, Meng et
    al.), ``trajectories`` (the teacher's own CFG sampling paths from noise at ``sample_steps`` trailing DDIM steps,
    ``trajectories`` of them on the data's captions, each at a w from ``guidance_range``; the states a guided sampler
    meets, which over-guided images make unlike noised data) or ``mix`` (half of each batch from each)."""

    steps: int = 300
    batch_size: int = 16
    lr: float = 1e-4
    warmup_steps: int = 0
    guidance_range: tuple[float, float] = (2.0, 14.0)
    cond_dim: int = 256
    sample_steps: int = 32
    eval_guidance: tuple[float, ...] = (3.0, 7.5)
    eval_prompts: int = 8
    states: States = "data"
    trajectories: int = 256

    @model_validator(mode="after")
    def _valid(self) -> CfgDistillConfig:
        low, high = self.guidance_range
        if not 1.0 <= low <= high:
            raise ValueError(f"guidance_range needs 1 <= low <= high, got {self.guidance_range}")
        if self.cond_dim < 2 or not self.eval_guidance or not 1 <= self.sample_steps <= 1000:
            raise ValueError("cond_dim >= 2, at least one eval_guidance, sample_steps in [1, 1000]")
        return self


@dataclass
class CfgDistillTask:
    """Per batch: t uniform over all timesteps (the student samples with any steps), w ~ U[range], target = the
    teacher's out_u + w (out_c - out_u); the loss is the MSE in the teacher's prediction space (v: (1 + SNR) x0-MSE)."""

    model: UNet2DConditionModel
    pipe: StableDiffusionPipeline
    shards: ShardSet
    config: CfgDistillConfig

    def __post_init__(self) -> None:
        self.pool: PathPool | None = None

    def _pool(self, device: torch.device) -> PathPool:
        """The teacher's CFG paths, built on first use from the seed alone (a resumed run rebuilds the same pool)."""
        if self.pool is None:
            c, pipe = self.config, pipe_on(self.pipe, device)
            captions = path_captions(self.shards, c.trajectories, c.seed)
            w = path_weights(len(captions), True, c.guidance_range, 1.0, c.seed)
            sched = student_scheduler(pipe, pipe.scheduler.config.prediction_type)
            grid = torch.tensor([t for t, _ in schedule(sched, c.sample_steps)])
            advance = one_teacher_step(sched, c.sample_steps, device)
            self.pool = sample_paths(
                pipe, ChainSampling(None, guided=False), captions, w, grid, advance, c.seed, device
            )
        return self.pool

    def batches(self, start_batch: int) -> Iterator[Any]:
        c = self.config
        return train_batches(
            self.shards, image_size(self.pipe), c.batch_size, c.seed, c.shuffle, c.workers, start_batch
        )

    @torch.no_grad()
    def _target(self, x_t: torch.Tensor, t: torch.Tensor, text: torch.Tensor, uncond: torch.Tensor, w: torch.Tensor):
        both = self.pipe.unet(torch.cat([x_t, x_t]), torch.cat([t, t]), encoder_hidden_states=torch.cat([uncond, text]))
        out_u, out_c = both.sample.chunk(2)
        return cfg_target(out_u, out_c, w)

    def loss(self, model: torch.nn.Module, batch: dict[str, Any]) -> dict[str, torch.Tensor]:
        pixels = batch["pixels"]
        pipe, device = pipe_on(self.pipe, pixels.device), pixels.device
        n_pool = pool_share(self.config.states, len(pixels))
        parts = []
        if n_pool < len(pixels):
            parts.append(self._from_data(pipe, pixels[n_pool:], batch["captions"][n_pool:]))
        if n_pool:
            parts.append(self._pool(device).draw(n_pool, device))
        x_t, t, text, w, target = (torch.cat(p) for p in zip(*parts, strict=True))
        c = coefs(pipe.scheduler.alphas_cumprod.to(device), t)
        out = student_forward(model, self.config.cond_dim, x_t, t, text, w).float()
        prediction, target = pipe.scheduler.config.prediction_type, target.float()
        x0_mse = (x0_from(x_t, out, c, prediction) - x0_from(x_t, target, c, prediction)).pow(2).mean()
        return {"loss": (out - target).pow(2).mean(), "x0_mse": x0_mse.detach()}

    def _from_data(self, pipe: StableDiffusionPipeline, pixels: torch.Tensor, captions: list[str]):
        """Meng et al.: images noised to t uniform over all timesteps, w ~ U[range], the teacher's CFG output there."""
        device, n = pixels.device, len(pixels)
        x0 = latents_of(pipe, pixels)
        text, uncond = encode_text(pipe, captions, device)
        t = torch.randint(int(pipe.scheduler.config.num_train_timesteps), (n,), device=device)
        x_t = q_sample(x0, torch.randn_like(x0), coefs(pipe.scheduler.alphas_cumprod.to(device), t))
        w = uniform_w(n, *self.config.guidance_range, device)
        return x_t, t, text, w, self._target(x_t, t, text, uncond, w)


def one_teacher_step(scheduler: DDIMScheduler, steps: int, device: torch.device) -> Advance:
    """A path of the teacher's CFG sampling: the CFG output at each grid point is the target, one DDIM step the next
    state (to t - T/N, as the samplers step)."""
    jump = int(scheduler.config.num_train_timesteps) // steps
    ac, final = scheduler.alphas_cumprod.to(device), float(scheduler.final_alpha_cumprod)
    prediction = scheduler.config.prediction_type

    def advance(denoise: Denoiser, x: torch.Tensor, t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        out = denoise(x, t)
        return out, ddim_step(x, out, t, t - jump, ac, prediction, final)

    return advance


@register
class UnetCfgDistill(Trainer):
    name = "unet_cfg_distill"
    Config = CfgDistillConfig
    description = (
        "Guidance distillation (Meng et al.): a student with the guidance weight w embedded into its time embedding "
        "(time_cond_proj_dim) gives --teacher's classifier-free guidance out_u + w (out_c - out_u) in one evaluation."
    )
    needs_teacher = True
    config: CfgDistillConfig

    def build(self) -> torch.nn.Module:
        if self.inputs.parent is not None:
            raise ValueError("unet_cfg_distill starts from its --teacher; --from is not used")
        teacher = chain_sampling(self.inputs.teacher)
        if teacher.guided or teacher.baked_guidance is not None:
            raise ValueError(f"{self.inputs.teacher} already samples in one evaluation: distil guidance from a "
                             "two-evaluation teacher (t2i_teacher or unet_prune), then step-distil the guided student")  # fmt: skip
        self.pipe, self.teacher = load_teacher(self.inputs.teacher), teacher
        self.sampling = ChainSampling(teacher.steps, guided=True)
        self._eval: tuple[list[str], list[tuple[str, torch.Tensor]]] | None = None
        return guided_student(self.pipe.unet, self.config.cond_dim).requires_grad_(True).train()

    def task(self, model: torch.nn.Module) -> CfgDistillTask:
        return CfgDistillTask(model, self.pipe, self.inputs.data[0], self.config)

    def save(self, model: torch.nn.Module, directory: Path) -> None:
        save_student(self.pipe, model, self.pipe.scheduler.config.prediction_type, self.sampling, directory)

    @torch.no_grad()
    def evaluate(self, model: torch.nn.Module) -> dict[str, float]:
        """Per w of ``eval_guidance``, from fixed noise and prompts at ``sample_steps``: the MSE of the student's
        one-evaluation samples to the teacher's two-evaluation CFG samples, against the teacher's one-evaluation
        (conditional, w = 1) samples as the naive baseline; UNet evaluations per image, counted."""
        c, steps = self.config, self.config.sample_steps
        device = model_device(model)
        pipe = pipe_on(self.pipe, device)
        captions = eval_captions(self.inputs.data[0], c.eval_prompts)
        prompts, noise = encode_text(pipe, captions, device), fixed_noise(pipe, len(captions), c.seed, device)
        pred = pipe.scheduler.config.prediction_type
        naive = sample_model(pipe, pipe.unet, self.teacher, prompts, noise, steps, 1.0, pred)
        metrics: dict[str, float] = {"sample_steps": float(steps), "eval_prompts": float(len(captions))}
        rows = [("teacher w=1", naive.images)]
        student_mse, naive_mse = [], []
        for w in c.eval_guidance:
            reference = sample_model(pipe, pipe.unet, self.teacher, prompts, noise, steps, w, pred)
            student = sample_model(pipe, model, self.sampling, prompts, noise, steps, w, pred)
            student_mse.append(mse(student.images, reference.images))
            naive_mse.append(mse(naive.images, reference.images))
            metrics |= {
                f"mse_student_to_teacher_w{w:g}": student_mse[-1],
                f"mse_naive_to_teacher_w{w:g}": naive_mse[-1],
            }
            metrics |= {
                "student_evals_per_image": student.evals_per_image,
                "teacher_evals_per_image": reference.evals_per_image,
            }
            rows += [(f"teacher cfg w={w:g}", reference.images), (f"student w={w:g}", student.images)]
        metrics["mse_student_to_teacher"] = round(sum(student_mse) / len(student_mse), 6)
        metrics["mse_naive_to_teacher"] = round(sum(naive_mse) / len(naive_mse), 6)
        self._eval = (captions, rows)
        return metrics

    def sample_sheet(self, model: torch.nn.Module, path: Path) -> Path | None:
        """One row per prompt: the teacher at w = 1, then per w the teacher's CFG and the student's one evaluation."""
        if self._eval is None:
            self.evaluate(model)
        captions, rows = self._eval
        return sheet(rows, captions, path)
