"""Progressive and guidance distillation math: batched DDIM vs diffusers, two-step targets, conversions, guidance."""

from __future__ import annotations

import pytest
import torch

from models.diffusion.distill import (
    cfg_target,
    coefs,
    ddim_step,
    eps_from,
    eps_from_x0,
    guidance_embedding,
    guided_forward,
    guided_student,
    q_sample,
    truncated_snr_loss,
    two_step_target,
    v_from,
    x0_from,
)
from models.diffusion.teacher import TinyTeacherConfig, ddim_scheduler, tiny_unet

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _random_teacher(seed: int = 0):
    """A fixed random nonlinear denoiser (x_t, t) -> output, standing in for a UNet."""
    g = torch.Generator().manual_seed(seed)
    w = torch.randn(3, 3, generator=g, dtype=torch.float64)

    def teacher(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return torch.tanh(torch.einsum("oc,bchw->bohw", w.to(x.dtype), x)) + (t.float() / 1000).view(-1, 1, 1, 1)

    return teacher


@pytest.mark.parametrize("prediction", ["epsilon", "v_prediction"])
@pytest.mark.parametrize("spacing", ["trailing", "leading"])
def test_batched_ddim_step_equals_diffusers(prediction, spacing):
    sched = ddim_scheduler(prediction, spacing)
    sched.set_timesteps(4)
    steps = sched.timesteps
    t = steps.repeat(2)  # every step of the schedule, the last one (to abar = 1) included
    t_prev = t - sched.config.num_train_timesteps // 4
    g = torch.Generator().manual_seed(1)
    x, out = torch.randn(len(t), 3, 8, 8, generator=g), torch.randn(len(t), 3, 8, 8, generator=g)
    batched = ddim_step(x, out, t, t_prev, sched.alphas_cumprod, prediction)
    for i in range(len(t)):
        ref = sched.step(out[i : i + 1], int(t[i]), x[i : i + 1]).prev_sample
        assert torch.allclose(batched[i : i + 1], ref, atol=1e-5), (i, int(t[i]))
    wrong = ddim_step(x, out, t, t_prev, sched.alphas_cumprod, "epsilon" if prediction != "epsilon" else "v_prediction")
    assert not torch.allclose(wrong, batched, atol=1e-3)


def test_conversions_round_trip():
    ac = ddim_scheduler().alphas_cumprod
    t = torch.tensor([0, 250, 999])
    c = coefs(ac, t)
    g = torch.Generator().manual_seed(2)
    x0, eps = torch.randn(3, 3, 4, 4, generator=g), torch.randn(3, 3, 4, 4, generator=g)
    x_t, v = q_sample(x0, eps, c), v_from(x0, eps, c)
    assert torch.allclose(x0_from(x_t, v, c, "v_prediction"), x0, atol=1e-5)
    assert torch.allclose(eps_from(x_t, v, c, "v_prediction"), eps, atol=1e-4)
    assert torch.allclose(x0_from(x_t, eps, c, "epsilon")[1:], x0[1:], atol=1e-4)  # eps -> x0 is ill-posed at t=0
    assert torch.allclose(eps_from_x0(x_t, x0, c), eps, atol=1e-3)


@pytest.mark.parametrize("prediction", ["epsilon", "v_prediction"])
def test_one_student_step_on_the_target_lands_where_two_teacher_steps_land(prediction):
    ac = ddim_scheduler().alphas_cumprod.double()
    teacher = _random_teacher()
    t, step = torch.tensor([999, 750, 500, 250, 125]), 125  # the last pair ends at t = -125: abar = 1
    x_t = torch.randn(5, 3, 6, 6, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    target = two_step_target(teacher, x_t, t, t - step, t - 2 * step, ac, prediction)
    student_out = target.v if prediction == "v_prediction" else target.eps
    landed = ddim_step(x_t, student_out, t, t - 2 * step, ac, prediction)
    assert torch.allclose(landed, target.x_end, atol=1e-8)
    one_teacher_step = ddim_step(x_t, teacher(x_t, t), t, t - 2 * step, ac, prediction)
    assert not torch.allclose(one_teacher_step, target.x_end, atol=1e-3)  # the target is not the naive jump
    with pytest.raises(ValueError, match="t_mid"):
        two_step_target(teacher, x_t, t, t - 2 * step, t - step, ac, prediction)  # grid out of order


def test_truncated_snr_loss_is_max_of_x_and_eps_mse():
    ac = ddim_scheduler().alphas_cumprod
    t = torch.tensor([5, 900])  # high and low SNR
    c = coefs(ac, t)
    g = torch.Generator().manual_seed(4)
    x_t, x0, x0_hat = (torch.randn(2, 3, 4, 4, generator=g) for _ in range(3))
    mse_x = (x0_hat - x0).pow(2).flatten(1).mean(1)
    mse_eps = (eps_from_x0(x_t, x0_hat, c) - eps_from_x0(x_t, x0, c)).pow(2).flatten(1).mean(1)
    expected = torch.maximum(mse_x, mse_eps).mean()
    assert torch.allclose(truncated_snr_loss(x0_hat, x0, c), expected, rtol=1e-4)
    assert mse_eps[0] > mse_x[0] and mse_x[1] > mse_eps[1]  # each branch of the max is exercised


def test_guidance_embedding_matches_diffusers_lcm():
    from diffusers import LatentConsistencyModelPipeline

    w = torch.tensor([2.0, 7.5, 14.0])
    ref = LatentConsistencyModelPipeline.get_guidance_scale_embedding(None, w, embedding_dim=33)
    assert torch.allclose(guidance_embedding(w, 33), ref, atol=1e-6)


def test_guided_student_starts_as_teacher_and_w_changes_its_output():
    torch.manual_seed(0)
    teacher = tiny_unet(TinyTeacherConfig()).eval()
    x, t, text = torch.randn(2, 3, 32, 32), torch.tensor([100, 600]), torch.randn(2, 5, 64)
    with torch.no_grad():
        ref = teacher(x, t, text).sample
        zero = guided_student(teacher, cond_dim=32).eval()
        assert torch.allclose(guided_forward(zero, x, t, text, torch.tensor([2.0, 9.0])), ref, atol=1e-5)
        live = guided_student(teacher, cond_dim=32, zero_init=False).eval()
        a = guided_forward(live, x, t, text, torch.tensor([2.0, 2.0]))
        b = guided_forward(live, x, t, text, torch.tensor([8.0, 8.0]))
    assert not torch.allclose(a, b, atol=1e-4)


def test_cfg_target():
    u, c = torch.zeros(2, 1, 2, 2), torch.ones(2, 1, 2, 2)
    out = cfg_target(u, c, torch.tensor([2.0, 7.5]))
    assert torch.equal(out[0], torch.full((1, 2, 2), 2.0)) and torch.equal(out[1], torch.full((1, 2, 2), 7.5))
    assert torch.allclose(cfg_target(u + 0.3, c, torch.tensor([1.0, 1.0])), c)  # w = 1 is the conditional model
