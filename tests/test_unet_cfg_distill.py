"""unet_cfg_distill on a tiny teacher, and composed with unet_step_distill: one UNet evaluation per step, loading, loss."""

from __future__ import annotations

import pytest
import torch
from diffusers import DDIMScheduler

from pipelines.training.run import TrainSpec, resolve, run
from pipelines.training.unet_distill import (
    ChainSampling,
    chain_sampling,
    encode_text,
    fixed_noise,
    path_captions,
    sample_model,
)
from tests.distill_fixtures import TRAIN, losses_on_a_fixed_batch, shapes_corpus, teacher_dir
from tests.resume import UNET_FILE, killed_and_resumed, same_weights

pytestmark = pytest.mark.usefixtures("one_torch_thread")
CFG = {**TRAIN, "cond_dim": 16, "sample_steps": 4, "eval_guidance": [5.0]}


@pytest.fixture(scope="module")
def chain(tmp_path_factory):
    root = tmp_path_factory.mktemp("cfg_distill")
    teacher, data = teacher_dir(root / "teacher"), shapes_corpus(root / "shapes")
    guided = run(TrainSpec("unet_cfg_distill", (str(data),), str(root / "guided"), CFG, str(teacher)))
    return {"teacher": teacher, "data": data, "guided": guided, "root": root}


def _pipeline(model_dir):
    from diffusers import StableDiffusionPipeline  # after models.compat (imported by pipelines.training)

    pipe = StableDiffusionPipeline.from_pretrained(
        str(model_dir / "model"), local_files_only=True, safety_checker=None, requires_safety_checker=False
    )
    pipe.set_progress_bar_config(disable=True)
    return pipe


def _unet_calls(pipe, steps: int, w: float) -> list[int]:
    """The batch size of every UNet call while the diffusers pipeline samples one image."""
    calls: list[int] = []
    hook = pipe.unet.register_forward_pre_hook(lambda m, a, kw: calls.append(int((a or (kw["sample"],))[0].shape[0])),
                                               with_kwargs=True)  # fmt: skip
    try:
        pipe("a small plain red circle", num_inference_steps=steps, guidance_scale=w, output_type="pt")
    finally:
        hook.remove()
    return calls


def test_loss_is_finite_and_falls_on_a_fixed_batch(chain, tmp_path):
    spec = TrainSpec("unet_cfg_distill", (str(chain["data"]),), str(tmp_path / "x"), CFG, str(chain["teacher"]))
    losses = losses_on_a_fixed_batch(spec, steps=8, lr=1e-3)
    assert losses[-1] < 0.7 * losses[0], losses


def test_the_guided_student_runs_one_evaluation_per_step_where_the_teacher_runs_two(chain):
    teacher, student = _pipeline(chain["teacher"]), _pipeline(chain["guided"].path)
    assert teacher.unet.config.time_cond_proj_dim is None and student.unet.config.time_cond_proj_dim == 16
    assert _unet_calls(teacher, 3, 5.0) == [2, 2, 2]  # CFG: conditional and unconditional in one doubled batch
    assert _unet_calls(student, 3, 5.0) == [1, 1, 1]
    assert chain_sampling(chain["guided"].path) == ChainSampling(steps=None, guided=True)


def test_the_diffusers_pipeline_at_guidance_w_samples_as_the_metrics_do(chain):
    """diffusers embeds w - 1 for a UNet with time_cond_proj_dim: its images at guidance_scale=w are ours at w, not
    ours at another w."""
    pipe = _pipeline(chain["guided"].path)
    noise = fixed_noise(pipe, 1, 0, torch.device("cpu"))
    prompts = encode_text(pipe, ["a large striped blue star"], torch.device("cpu"))
    sampling = chain_sampling(chain["guided"].path)
    pred = pipe.scheduler.config.prediction_type
    theirs = pipe(
        "a large striped blue star", num_inference_steps=3, guidance_scale=6.0, latents=noise, output_type="pt"
    )
    at_6 = sample_model(pipe, pipe.unet, sampling, prompts, noise, 3, 6.0, pred).images
    at_12 = sample_model(pipe, pipe.unet, sampling, prompts, noise, 3, 12.0, pred).images
    assert torch.allclose(at_6, theirs.images * 2 - 1, atol=1e-4)
    assert not torch.allclose(at_12, at_6, atol=1e-4)  # w really is an input of the trained student


def test_metrics_compare_one_evaluation_with_the_teachers_two(chain):
    m = chain["guided"].card()["final_metrics"]
    assert (m["student_evals_per_image"], m["teacher_evals_per_image"]) == (4.0, 8.0)  # 4 steps x 1 vs 4 x 2
    assert m["mse_student_to_teacher_w5"] == m["mse_student_to_teacher"] and m["mse_naive_to_teacher"] > 0
    assert chain["guided"].card()["parents"]["teacher"]["path"] == str(chain["teacher"])


def test_guidance_is_distilled_from_a_two_evaluation_teacher_only(chain, tmp_path):
    spec = TrainSpec("unet_cfg_distill", (str(chain["data"]),), str(tmp_path / "x"), CFG, str(chain["guided"].path))
    with pytest.raises(ValueError, match="already samples in one evaluation"):
        resolve(spec).trainer.build()
    with pytest.raises(ValueError, match="guidance_range"):
        resolve(TrainSpec("unet_cfg_distill", (str(chain["data"]),), str(tmp_path / "y"),
                          {**CFG, "guidance_range": [14, 2]}, str(chain["teacher"])))  # fmt: skip


@pytest.mark.slow
def test_guidance_then_step_distillation_gives_few_steps_of_one_evaluation(chain):
    """Meng et al.'s order: the guided student is the progressive stage's teacher; the stage keeps w as an input."""
    stage = run(TrainSpec("unet_step_distill", (str(chain["data"]),), str(chain["root"] / "steps-2"),
                          {**TRAIN, "target_steps": 2, "guidance": 5.0}, str(chain["guided"].path)))  # fmt: skip
    assert chain_sampling(stage.path) == ChainSampling(steps=2, guided=True)
    m = stage.card()["final_metrics"]
    assert (m["student_evals_per_image"], m["teacher_evals_per_image"]) == (2.0, 4.0)  # 2 x 1 vs 4 x 1
    pipe = _pipeline(stage.path)
    assert pipe.unet.config.time_cond_proj_dim == 16 and _unet_calls(pipe, 2, 5.0) == [1, 1]
    assert stage.card()["parents"]["teacher"]["trainer"] == "unet_cfg_distill"


def test_the_cfg_path_pool_is_the_teachers_guided_ddim_sampling(chain, tmp_path):
    """states=trajectories: each pool path is diffusers' trailing DDIM with two-evaluation CFG at the path's w from the
    pool's noise, and each stored target is the teacher's CFG output at that state; the loss then ignores the images."""
    spec = TrainSpec("unet_cfg_distill", (str(chain["data"]),), str(tmp_path / "p"),
                     {**CFG, "states": "trajectories", "trajectories": 3}, str(chain["teacher"]))  # fmt: skip
    trainer = resolve(spec).trainer
    model = trainer.build()
    task = trainer.task(model)
    pool = task._pool(torch.device("cpu"))
    assert pool.x_t.shape[:2] == (3, 4) and pool.t.tolist() == [999, 749, 499, 249]
    assert ((pool.w >= 2.0) & (pool.w <= 14.0)).all() and len(set(pool.w.tolist())) == 3
    pipe = trainer.pipe
    text, uncond = encode_text(pipe, path_captions(task.shards, 3, 0), torch.device("cpu"))
    scheduler = DDIMScheduler.from_config(pipe.scheduler.config, timestep_spacing="trailing")
    scheduler.set_timesteps(4)
    x = pool.x_t[:, 0]
    for k, s in enumerate(scheduler.timesteps.tolist()):
        assert torch.allclose(pool.x_t[:, k], x, atol=1e-3)
        both = pipe.unet(torch.cat([x, x]), torch.full((6,), s), encoder_hidden_states=torch.cat([uncond, text])).sample
        out_u, out_c = both.chunk(2)
        out = out_u + pool.w.view(-1, 1, 1, 1) * (out_c - out_u)
        assert torch.allclose(pool.target[:, k], out, atol=1e-3)
        x = scheduler.step(out, s, x).prev_sample
    batch = next(task.batches(0))
    losses = []
    for pixels in (batch["pixels"], batch["pixels"].flip(0).roll(3, dims=-1)):
        torch.manual_seed(1)
        losses.append(float(task.loss(model, {**batch, "pixels": pixels})["loss"].detach()))
    assert losses[0] == losses[1]


@pytest.mark.slow
def test_a_killed_guided_student_resumes_and_ends_where_an_unkilled_one_ends(chain, tmp_path):
    """The w of each batch comes from torch's global generator: the checkpoint restores it, so the resumed run draws
    the same weights and ends on the same UNet as the unkilled one."""
    from safetensors.torch import load_file

    spec = TrainSpec("unet_cfg_distill", (str(chain["data"]),), str(tmp_path / "k"), CFG, str(chain["teacher"]))
    done = killed_and_resumed(spec, 3)
    assert done.card()["resumed_from"] == 2
    assert same_weights(done.model / UNET_FILE, chain["guided"].model / UNET_FILE)
    cond = load_file(str(done.model / UNET_FILE))["time_embedding.cond_proj.weight"]
    assert bool(cond.abs().sum() > 0)  # it trained w's projection from its zero init
