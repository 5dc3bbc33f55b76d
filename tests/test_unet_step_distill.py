"""unet_step_distill on a tiny teacher: the 2-step target vs diffusers' DDIM, falling loss, resume, diffusers loading."""

from __future__ import annotations

import pytest
import torch
from diffusers import DDIMScheduler
from safetensors.torch import load_file

from models.diffusion.distill import coefs, eps_from_x0, two_step_target, v_from
from models.diffusion.sampling import cfg_denoiser
from pipelines.training.run import TrainSpec, resolve, run
from pipelines.training.unet_distill import (
    ChainSampling,
    chain_sampling,
    encode_text,
    fixed_noise,
    load_teacher,
    path_captions,
    sample_model,
)
from tests.distill_fixtures import TRAIN, losses_on_a_fixed_batch, shapes_corpus, teacher_dir
from tests.resume import UNET_FILE, killed_and_resumed, same_weights

pytestmark = pytest.mark.usefixtures("one_torch_thread")
STAGE = {**TRAIN, "target_steps": 2}


@pytest.fixture(scope="module")
def chain(tmp_path_factory):
    root = tmp_path_factory.mktemp("step_distill")
    return {"teacher": teacher_dir(root / "teacher"), "data": shapes_corpus(root / "shapes")}


@pytest.fixture(scope="module")
def student(chain, tmp_path_factory):
    out = tmp_path_factory.mktemp("students") / "steps-2"
    return run(TrainSpec("unet_step_distill", (str(chain["data"]),), str(out), STAGE, str(chain["teacher"])))


def test_loss_is_finite_and_falls_on_a_fixed_batch(chain, tmp_path):
    spec = TrainSpec("unet_step_distill", (str(chain["data"]),), str(tmp_path / "x"), STAGE, str(chain["teacher"]))
    losses = losses_on_a_fixed_batch(spec, steps=8, lr=1e-3)
    assert losses[-1] < 0.7 * losses[0], losses


def test_the_two_step_target_is_where_two_ddim_steps_of_diffusers_scheduler_land(chain):
    """For each student step of a 2-step trailing grid: two steps of diffusers' 4-step DDIM with the real UNet land at
    the target's end point, and one step of the 2-step DDIM (v-prediction) on the target's v lands there too."""
    pipe = load_teacher(chain["teacher"])
    text = encode_text(pipe, ["a small plain red circle"], torch.device("cpu"))[0]

    def teacher(x, t):
        return pipe.unet(x, t, encoder_hidden_states=text).sample

    fine = DDIMScheduler.from_config(pipe.scheduler.config, timestep_spacing="trailing")
    coarse = DDIMScheduler.from_config(fine.config, prediction_type="v_prediction")
    fine.set_timesteps(4)
    coarse.set_timesteps(2)
    x_t = torch.randn(1, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    ac, pred = fine.alphas_cumprod, fine.config.prediction_type
    for t in coarse.timesteps.tolist():
        tt = torch.tensor([t])
        target = two_step_target(teacher, x_t, tt, tt - 250, tt - 500, ac, pred, float(fine.final_alpha_cumprod))
        i = fine.timesteps.tolist().index(t)
        x = x_t
        for s in fine.timesteps[i : i + 2].tolist():
            x = fine.step(teacher(x, torch.tensor([s])), s, x).prev_sample
        assert torch.allclose(target.x_end, x, atol=1e-5)
        assert torch.allclose(coarse.step(target.v, t, x_t).prev_sample, x, atol=1e-4)
        naive = DDIMScheduler.from_config(fine.config)  # one teacher step over the same span: not the target
        naive.set_timesteps(2)
        assert not torch.allclose(naive.step(teacher(x_t, tt), t, x_t).prev_sample, x, atol=1e-3)


def test_student_loads_with_diffusers_and_its_pipeline_samples_as_the_metrics_do(chain, student):
    """A full StableDiffusionPipeline directory: DDIM, trailing, v-prediction; guidance baked in, so the pipeline at
    guidance_scale=1 (one evaluation a step) gives the images our sampler scored."""
    from diffusers import StableDiffusionPipeline  # after models.compat (imported by pipelines.training)

    pipe = StableDiffusionPipeline.from_pretrained(
        str(student.model), local_files_only=True, safety_checker=None, requires_safety_checker=False
    )
    pipe.set_progress_bar_config(disable=True)
    assert isinstance(pipe.scheduler, DDIMScheduler)
    assert (pipe.scheduler.config.timestep_spacing, pipe.scheduler.config.prediction_type) == (
        "trailing",
        "v_prediction",
    )
    assert pipe.unet.config.time_cond_proj_dim is None
    sampling = chain_sampling(student.path)
    assert sampling == ChainSampling(steps=2, guided=False, baked_guidance=4.0)
    noise = fixed_noise(pipe, 1, 0, torch.device("cpu"))
    prompts = encode_text(pipe, ["a large striped blue star"], torch.device("cpu"))
    ours = sample_model(pipe, pipe.unet, sampling, prompts, noise, 2, 4.0, "v_prediction")
    theirs = pipe(
        "a large striped blue star", num_inference_steps=2, guidance_scale=1.0, latents=noise, output_type="pt"
    )
    assert torch.allclose(ours.images, theirs.images * 2 - 1, atol=1e-4)
    assert ours.evals_per_image == 2.0


def test_card_names_the_teacher_and_the_metrics_count_evaluations(chain, student):
    card = student.card()
    teacher = card["parents"]["teacher"]
    assert teacher["path"] == str(chain["teacher"]) and teacher["trainer"] == "test_tiny_teacher"
    m = card["final_metrics"]
    assert (m["student_steps"], m["teacher_steps"]) == (2.0, 4.0)
    assert (m["student_evals_per_image"], m["teacher_evals_per_image"]) == (2.0, 8.0)  # 2 x 1 vs 4 x 2 (CFG)
    assert m["mse_student_to_teacher"] >= 0 and m["mse_naive_to_teacher"] > 0
    assert (student.samples / "sheet.png").exists() and card["steps"] == TRAIN["steps"]


def test_a_stage_takes_half_its_teachers_steps(chain, student, tmp_path):
    """The 2-step student may teach a 1-step stage, not another 2-step one."""
    ok = resolve(TrainSpec("unet_step_distill", (str(chain["data"]),), str(tmp_path / "a"),
                           {**STAGE, "target_steps": 1}, str(student.path)))  # fmt: skip
    ok.trainer.build()
    bad = resolve(TrainSpec("unet_step_distill", (str(chain["data"]),), str(tmp_path / "b"), STAGE, str(student.path)))
    with pytest.raises(ValueError, match="target_steps must be 1"):
        bad.trainer.build()


@pytest.mark.slow
def test_a_killed_stage_resumes_and_ends_where_an_unkilled_one_ends(chain, student, tmp_path):
    spec = TrainSpec("unet_step_distill", (str(chain["data"]),), str(tmp_path / "k"), STAGE, str(chain["teacher"]))
    done = killed_and_resumed(spec, 3)
    assert done.card()["resumed_from"] == 2
    assert same_weights(done.model / UNET_FILE, student.model / UNET_FILE)
    a, teacher = load_file(str(done.model / UNET_FILE)), load_file(str(chain["teacher"] / "model" / UNET_FILE))
    assert any(not torch.allclose(a[k], teacher[k]) for k in a)  # it trained: the student left its initialisation


def _task(chain, tmp_path, **config):
    spec = TrainSpec("unet_step_distill", (str(chain["data"]),), str(tmp_path / "t"), {**STAGE, **config},
                     str(chain["teacher"]))  # fmt: skip
    trainer = resolve(spec).trainer
    torch.manual_seed(0)
    model = trainer.build()
    return trainer, trainer.task(model)


def test_the_trajectory_pool_holds_the_teachers_own_ddim_path_and_its_targets(chain, tmp_path):
    """Each pool path is diffusers' 4-step trailing DDIM of the teacher (two-evaluation CFG at w = 4) from the pool's
    noise: the state at the student's second grid point is where two of those steps land, and one 2-step DDIM step
    (v-prediction) on the stored target from each state lands at the next state."""
    trainer, task = _task(chain, tmp_path, states="trajectories", trajectories=3)
    pool = task._pool(torch.device("cpu"))
    assert pool.x_t.shape[:2] == (3, 2) and pool.t.tolist() == [999, 499] and pool.w.tolist() == [4.0] * 3
    pipe = trainer.pipe
    captions = path_captions(task.shards, 3, 0)
    text, uncond = encode_text(pipe, captions, torch.device("cpu"))
    assert torch.equal(text, pool.text)
    teacher = cfg_denoiser(pipe.unet, text, uncond, 4.0)
    fine = DDIMScheduler.from_config(pipe.scheduler.config, timestep_spacing="trailing")
    fine.set_timesteps(4)
    noise = torch.randn(pool.x_t[:, 0].shape, generator=torch.Generator().manual_seed(20_000))
    assert torch.equal(pool.x_t[:, 0], noise)
    x = noise
    for s in fine.timesteps[:2].tolist():
        x = fine.step(teacher(x, torch.full((3,), s)), s, x).prev_sample
    assert torch.allclose(pool.x_t[:, 1], x, atol=1e-5)
    coarse = DDIMScheduler.from_config(fine.config, prediction_type="v_prediction")
    coarse.set_timesteps(2)
    c = coefs(pipe.scheduler.alphas_cumprod, torch.full((3,), 999))
    v = v_from(pool.target[:, 0], eps_from_x0(pool.x_t[:, 0], pool.target[:, 0], c), c)
    assert torch.allclose(coarse.step(v, 999, pool.x_t[:, 0]).prev_sample, pool.x_t[:, 1], atol=1e-4)


@pytest.mark.parametrize(("states", "depends_on_pixels"), [("data", True), ("trajectories", False), ("mix", True)])
def test_states_decides_where_x_t_comes_from(chain, tmp_path, states, depends_on_pixels):
    """With the same draws, the loss changes with the batch's images only when some of x_t comes from the data; the
    trajectory-only loss is the same on any images, and it is not the data loss."""
    trainer, task = _task(chain, tmp_path, states=states, trajectories=4)
    batch = next(task.batches(0))
    other = {**batch, "pixels": batch["pixels"].flip(0).roll(3, dims=-1)}

    def loss(b):
        torch.manual_seed(1)
        return float(task.loss(task.model, b)["loss"].detach())

    assert (loss(batch) != loss(other)) == depends_on_pixels
    _, data_task = _task(chain, tmp_path / "d", states="data")
    torch.manual_seed(1)
    data_loss = float(data_task.loss(data_task.model, batch)["loss"].detach())
    assert (loss(batch) != data_loss) == (states != "data")
