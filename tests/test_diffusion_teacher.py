"""The tiny teacher: identity autoencoder, UNet layout, save and load through StableDiffusionPipeline, sampling."""

from __future__ import annotations

import pytest
import torch

from models.diffusion.pruning import param_count, stage_features
from models.diffusion.teacher import (
    AutoencoderKL,
    StableDiffusionPipeline,
    TinyTeacherConfig,
    build_tiny_teacher,
    ddim_scheduler,
    load_sd_components,
    save_teacher,
    tiny_unet,
)
from models.diffusion.vae import identity_autoencoder

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_identity_autoencoder_passes_pixels_through():
    torch.manual_seed(0)
    x = torch.rand(2, 3, 32, 32) * 2 - 1
    vae = identity_autoencoder()
    with torch.no_grad():
        z = vae.encode(x).latent_dist.sample()
        y = vae.decode(z).sample
        random = AutoencoderKL(**{k: v for k, v in vae.config.items() if not k.startswith("_")})
        y_random = random.decode(random.encode(x).latent_dist.mode()).sample
    assert (z - x).abs().max() < 1e-4 and (y - x).abs().max() < 1e-4
    assert (y_random - x).abs().max() > 0.1  # the same architecture with its default init is no identity


def test_tiny_unet_layout_and_size():
    unet = tiny_unet(TinyTeacherConfig())
    assert 1.3e6 < param_count(unet) < 2.0e6
    x, t, text = torch.randn(1, 3, 32, 32), torch.tensor([3]), torch.randn(1, 4, 64)
    with torch.no_grad():
        feats = stage_features(unet, x, t, text).features
    sizes = {name: f.shape[-1] for name, f in feats.items()}
    attn = [i for i, b in enumerate(unet.down_blocks) if getattr(b, "has_cross_attention", False)]
    # a down stage attends at its input resolution, the previous stage's output
    assert [32 if i == 0 else sizes[f"down.{i - 1}"] for i in attn] == [16, 8]
    assert sizes["down.0"] == 16 and sizes["mid"] == 8  # 32 px in, three stages


def test_trailing_v_prediction_scheduler():
    sched = ddim_scheduler("v_prediction", "trailing")
    sched.set_timesteps(4)
    assert sched.timesteps.tolist() == [999, 749, 499, 249]
    assert sched.config.prediction_type == "v_prediction" and not sched.config.clip_sample


def test_saved_teacher_loads_in_diffusers_and_samples(tmp_path):
    teacher = build_tiny_teacher(tmp_path / "tok")
    save_teacher(teacher, tmp_path / "model")
    pipe = StableDiffusionPipeline.from_pretrained(
        tmp_path / "model", safety_checker=None, feature_extractor=None, requires_safety_checker=False
    )
    assert pipe.vae_scale_factor == 1 and pipe.scheduler.config.timestep_spacing == "trailing"
    gen = torch.Generator().manual_seed(0)
    images = pipe("a red circle", num_inference_steps=2, height=32, width=32, output_type="pt", generator=gen).images
    assert images.shape == (1, 3, 32, 32) and torch.isfinite(images).all()
    loaded = load_sd_components(tmp_path / "model")
    for a, b in zip(loaded.unet.state_dict().values(), teacher.unet.state_dict().values(), strict=True):
        assert torch.equal(a, b)
    assert len(loaded.tokenizer) == len(teacher.tokenizer)
