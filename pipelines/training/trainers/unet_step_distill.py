"""``unet_step_distill``: one stage of progressive distillation (Salimans & Ho): N student DDIM steps do 2N teacher steps."""

from __future__ import annotations

# isort: off
import models.compat  # noqa: F401  (torchvision's ops before diffusers imports transformers' image utils)

# isort: on
import copy
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from diffusers import UNet2DConditionModel
from pydantic import model_validator

from models.diffusion.distill import (
    Denoiser,
    coefs,
    eps_from_x0,
    q_sample,
    truncated_snr_loss,
    two_step_target,
    v_from,
    x0_from,
)
from models.diffusion.sampling import schedule
from pipelines.loaders import ShardSet
from pipelines.training.base import Trainer, TrainerConfig
from pipelines.training.card import ModelDir
from pipelines.training.registry import register
from pipelines.training.unet_distill import (
    Advance,
    ChainSampling,
    PathPool,
    States,
    chain_sampling,
    denoiser_for,
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
    from diffusers import StableDiffusionPipeline

PREDICTION = "v_prediction"  # the students' parameterisation (Salimans & Ho), whatever the teacher's


class StepDistillConfig(TrainerConfig):
    """``target_steps``: the student's DDIM steps; its teacher takes twice as many (chain 32 -> 16 -> 8 -> 4 by running
    this trainer once per stage with the previous stage as ``--teacher``). ``guidance``: with a two-evaluation teacher,
    the CFG scale the student distils (baked into its weights: it samples with one conditional evaluation); with a
    guided teacher (``unet_cfg_distill``), w is drawn from ``guidance_range`` per sample and stays the student's input,
    and ``guidance`` is only the scale of the final metrics and the sample sheet.

    ``states``: where the student's inputs x_t come from. ``data``: the training images noised to t (Salimans & Ho);
    ``trajectories``: the teacher's own DDIM paths from noise on the student's grid (``trajectories`` of them, on the
    data's captions, drawn once when training starts), the states the student meets when it samples; ``mix``: half of
    each batch from each. The target is the same in all three: where two teacher DDIM steps from x_t land."""

    steps: int = 300
    batch_size: int = 16
    lr: float = 1e-4
    warmup_steps: int = 0
    target_steps: int = 16
    guidance: float = 4.0  # t2i_teacher's sampling default
    guidance_range: tuple[float, float] = (2.0, 14.0)
    eval_prompts: int = 8
    states: States = "data"
    trajectories: int = 256

    @model_validator(mode="after")
    def _valid(self) -> StepDistillConfig:
        if not 1 <= self.target_steps <= 500:
            raise ValueError(
                f"target_steps must be in [1, 500] (the teacher takes 2x on 1000 timesteps), got {self.target_steps}"
            )
        low, high = self.guidance_range
        if not 1.0 <= low <= high or self.guidance < 1.0:
            raise ValueError("guidance and guidance_range need 1 <= w (and low <= high)")
        return self


def student_sampling(teacher: ChainSampling, config: StepDistillConfig) -> ChainSampling:
    """The student samples in ``target_steps`` steps; guided if its teacher is, else with the teacher's guidance baked in."""
    if teacher.guided:
        return ChainSampling(config.target_steps, guided=True)
    baked = teacher.baked_guidance if teacher.baked_guidance is not None else config.guidance
    return ChainSampling(config.target_steps, guided=False, baked_guidance=baked)


def check_teacher(teacher: ChainSampling, config: StepDistillConfig) -> None:
    """A step-distilled teacher only samples in its own steps: it must take exactly 2 * target_steps."""
    if teacher.steps is not None and teacher.steps != 2 * config.target_steps:
        raise ValueError(
            f"the teacher was distilled for {teacher.steps} steps, so this stage's target_steps must be "
            f"{teacher.steps // 2} (2N -> N), got {config.target_steps}"
        )


def two_teacher_steps(total: int, n: int, ac: torch.Tensor, prediction: str, final: float) -> Advance:
    """A path on the student's N-step grid: at t two teacher DDIM steps (t -> t - T/2N -> t - T/N, `two_step_target`),
    whose x0 target is stored and whose end is the next state, as the student's sampler will step."""

    def advance(denoise: Denoiser, x: torch.Tensor, t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        target = two_step_target(denoise, x, t, t - total // (2 * n), t - total // n, ac, prediction, final)
        return target.x0, target.x_end

    return advance


@dataclass
class StepDistillTask:
    """Per batch: t on the student's trailing grid, x_t from the data (noised) and/or from the teacher's own sampling
    paths (``states``), the target from two teacher DDIM steps."""

    model: UNet2DConditionModel
    pipe: StableDiffusionPipeline
    teacher: ChainSampling
    shards: ShardSet
    config: StepDistillConfig

    def __post_init__(self) -> None:
        n = self.config.target_steps
        self.grid = torch.tensor([t for t, _ in schedule(student_scheduler(self.pipe, PREDICTION), n)])
        self.total = int(self.pipe.scheduler.config.num_train_timesteps)
        self.cond_dim = self.model.config.time_cond_proj_dim
        self.pool: PathPool | None = None

    def _pool(self, device: torch.device) -> PathPool:
        """Built on first use (on the batches' device) from the seed alone, so a resumed run rebuilds the same pool."""
        if self.pool is None:
            c, pipe = self.config, pipe_on(self.pipe, device)
            captions = path_captions(self.shards, c.trajectories, c.seed)
            w = path_weights(len(captions), self.teacher.guided, c.guidance_range, self._fixed_w(), c.seed)
            advance = self._advance(pipe, pipe.scheduler.alphas_cumprod.to(device))
            self.pool = sample_paths(pipe, self.teacher, captions, w, self.grid, advance, c.seed, device)
        return self.pool

    def _advance(self, pipe: StableDiffusionPipeline, ac: torch.Tensor) -> Advance:
        sched = pipe.scheduler
        return two_teacher_steps(self.total, self.config.target_steps, ac, sched.config.prediction_type,
                                 float(sched.final_alpha_cumprod))  # fmt: skip

    def _fixed_w(self) -> float:
        """An unguided teacher's w: 1 for a baked student (its output is already guided), else ``guidance``."""
        return 1.0 if self.teacher.baked_guidance is not None else self.config.guidance

    def batches(self, start_batch: int) -> Iterator[Any]:
        c = self.config
        return train_batches(
            self.shards, image_size(self.pipe), c.batch_size, c.seed, c.shuffle, c.workers, start_batch
        )

    def _w(self, n: int, device: torch.device) -> torch.Tensor:
        if self.teacher.guided:
            return uniform_w(n, *self.config.guidance_range, device)
        return torch.full((n,), self._fixed_w(), device=device)

    def loss(self, model: torch.nn.Module, batch: dict[str, Any]) -> dict[str, torch.Tensor]:
        pixels = batch["pixels"]
        pipe, device = pipe_on(self.pipe, pixels.device), pixels.device
        ac = pipe.scheduler.alphas_cumprod.to(device)
        states = self.config.states
        n_pool = pool_share(states, len(pixels))
        parts = []
        if n_pool < len(pixels):
            parts.append(self._from_data(pipe, pixels[n_pool:], batch["captions"][n_pool:], ac))
        if n_pool:
            parts.append(self._pool(device).draw(n_pool, device))
        x_t, t, text, w, x0_target = (torch.cat(p) for p in zip(*parts, strict=True))
        c = coefs(ac, t)
        out = student_forward(model, self.cond_dim, x_t, t, text, w)
        loss = truncated_snr_loss(x0_from(x_t, out, c, PREDICTION).float(), x0_target.float(), c)
        with torch.no_grad():
            v_target = v_from(x0_target, eps_from_x0(x_t, x0_target, c), c)
        return {"loss": loss, "v_mse": (out.float() - v_target.float()).pow(2).mean().detach()}

    def _from_data(
        self, pipe: StableDiffusionPipeline, pixels: torch.Tensor, captions: list[str], ac: torch.Tensor
    ) -> tuple[torch.Tensor, ...]:
        """Salimans & Ho: images noised to t on the student's grid; the target from two teacher steps from there."""
        device, n = pixels.device, len(pixels)
        x0 = latents_of(pipe, pixels)
        text, uncond = encode_text(pipe, captions, device)
        t = self.grid[torch.randint(len(self.grid), (n,))].to(device)
        x_t = q_sample(x0, torch.randn_like(x0), coefs(ac, t))
        w = self._w(n, device)
        x0_target, _ = self._advance(pipe, ac)(denoiser_for(pipe.unet, self.teacher, text, uncond, w), x_t, t)
        return x_t, t, text, w, x0_target


@register
class UnetStepDistill(Trainer):
    name = "unet_step_distill"
    Config = StepDistillConfig
    description = (
        "One progressive-distillation stage: a student initialised from --teacher (teacher, pruned, CFG-distilled or a "
        "previous stage) samples in target_steps DDIM steps (v-prediction, trailing) what the teacher does in twice as many."
    )
    needs_teacher = True
    config: StepDistillConfig

    def build(self) -> torch.nn.Module:
        if self.inputs.parent is not None:
            raise ValueError("unet_step_distill starts from its --teacher; --from is not used")
        self.pipe = load_teacher(self.inputs.teacher)
        self.teacher = chain_sampling(self.inputs.teacher)
        check_teacher(self.teacher, self.config)
        self.sampling = student_sampling(self.teacher, self.config)
        self._eval: tuple[list[str], list[tuple[str, torch.Tensor]]] | None = None
        return copy.deepcopy(self.pipe.unet).requires_grad_(True).train()

    def task(self, model: torch.nn.Module) -> StepDistillTask:
        return StepDistillTask(model, self.pipe, self.teacher, self.inputs.data[0], self.config)

    def save(self, model: torch.nn.Module, directory: Path) -> None:
        save_student(self.pipe, model, PREDICTION, self.sampling, directory)

    @torch.no_grad()
    def evaluate(self, model: torch.nn.Module) -> dict[str, float]:
        """From fixed noise and prompts: the MSE of the student's N-step samples to the teacher's 2N-step samples,
        against the teacher's own N-step samples (the naive baseline); UNet evaluations per image, counted."""
        c, n = self.config, self.config.target_steps
        device = model_device(model)
        pipe = pipe_on(self.pipe, device)
        captions = eval_captions(self.inputs.data[0], c.eval_prompts)
        prompts, noise = encode_text(pipe, captions, device), fixed_noise(pipe, len(captions), c.seed, device)
        teacher_pred = pipe.scheduler.config.prediction_type
        reference = sample_model(pipe, pipe.unet, self.teacher, prompts, noise, 2 * n, c.guidance, teacher_pred)
        student = sample_model(pipe, model, self.sampling, prompts, noise, n, c.guidance, PREDICTION)
        naive = sample_model(pipe, pipe.unet, self.teacher, prompts, noise, n, c.guidance, teacher_pred)
        self._eval = (captions, [(f"teacher {2 * n}", reference.images), (f"student {n}", student.images),
                                 (f"teacher {n}", naive.images)])  # fmt: skip
        return {
            "mse_student_to_teacher": mse(student.images, reference.images),
            "mse_naive_to_teacher": mse(naive.images, reference.images),
            "student_steps": float(n),
            "teacher_steps": float(2 * n),
            "student_evals_per_image": student.evals_per_image,
            "teacher_evals_per_image": reference.evals_per_image,
            "eval_prompts": float(len(captions)),
            "guidance": c.guidance,
        }

    def sample_sheet(self, model: torch.nn.Module, path: Path) -> Path | None:
        """One row per evaluation prompt: the teacher at 2N steps, the student at N, the teacher at N (same noise)."""
        if self._eval is None:
            self.evaluate(model)
        captions, rows = self._eval
        return sheet(rows, captions, path)


def run_stages(
    data: Sequence[str], teacher: str, out_root: str, stages: Sequence[int] = (16, 8, 4), **config: Any
) -> list[ModelDir]:
    """The progressive chain, one run (one model directory, ``out_root/steps-N``) per stage: each stage's student is
    the next stage's teacher. A rerun skips committed stages and resumes an interrupted one."""
    from pipelines.training.run import TrainSpec, run  # run imports the registry, which imports this module

    done = []
    for n in stages:
        spec = TrainSpec(
            "unet_step_distill", tuple(data), f"{out_root}/steps-{n}", {**config, "target_steps": n}, teacher
        )
        done.append(run(spec))
        teacher = str(done[-1].path)
    return done
