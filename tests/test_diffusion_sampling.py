"""Our batched DDIM sampler reproduces StableDiffusionPipeline for the CFG teacher and the guidance-conditioned student."""

from __future__ import annotations

import pytest
import torch

from models.diffusion.distill import guided_student
from models.diffusion.sampling import cfg_denoiser, ddim_sample, guided_denoiser
from models.diffusion.teacher import build_tiny_teacher, to_pipeline

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _pipeline_images(pipe, noise: torch.Tensor, w: float) -> torch.Tensor:
    images = pipe("a red circle", num_inference_steps=3, guidance_scale=w, latents=noise, output_type="pt").images
    return images * 2 - 1  # the pipeline's postprocess maps [-1, 1] to [0, 1] (and clamps)


def test_sampler_matches_pipeline_for_teacher_and_guided_student(tmp_path):
    teacher = build_tiny_teacher(tmp_path / "tok")
    pipe = to_pipeline(teacher)
    pipe.set_progress_bar_config(disable=True)
    noise = torch.randn(1, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    text, uncond = pipe.encode_prompt("a red circle", "cpu", 1, True)
    ours = ddim_sample(cfg_denoiser(teacher.unet, text, uncond, 5.0), noise, teacher.scheduler, 3)
    assert torch.allclose(ours.clamp(-1, 1), _pipeline_images(pipe, noise, 5.0), atol=1e-4)

    pipe.unet = guided_student(teacher.unet, cond_dim=32, zero_init=False).eval()
    student = ddim_sample(guided_denoiser(pipe.unet, text, 5.0), noise, teacher.scheduler, 3)
    assert torch.allclose(student.clamp(-1, 1), _pipeline_images(pipe, noise, 5.0), atol=1e-4)
    assert not torch.allclose(student.clamp(-1, 1), _pipeline_images(pipe, noise, 3.0), atol=1e-3)
