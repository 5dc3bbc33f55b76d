"""t2i_teacher and unet_prune on a tiny shapes corpus: falling losses, diffusers loading, parameters, resume, generate."""

from __future__ import annotations

import json

import pytest
import torch
from click.testing import CliRunner
from PIL import Image

from models.diffusion.distill import guided_student
from models.diffusion.pruning import bk_sdm_student, param_count
from models.diffusion.structured import pruned_student
from models.diffusion.teacher import StableDiffusionPipeline, UNet2DConditionModel, load_sd_components
from models.training import read_metrics
from pipelines.cli import main
from pipelines.sources.shapes import ShapesConfig, write_shapes_source
from pipelines.training.run import TrainSpec, run
from pipelines.training.t2i_generate import prompt_fidelity, sampling_defaults
from tests.distill_fixtures import UNET_TINY, losses_on_a_fixed_batch
from tests.resume import UNET_FILE, killed_and_resumed, same_weights

pytestmark = pytest.mark.usefixtures("one_torch_thread")

TINY = {  # its UNet is tests/distill_fixtures.UNET_TINY, which the pruning unit tests build with random weights
    "steps": 4, "batch_size": 4, "resolution": UNET_TINY.sample_size,
    "block_out_channels": list(UNET_TINY.block_out_channels), "text_hidden": UNET_TINY.text_hidden,
    "text_layers": 1, "n_merges": 100, "checkpoint_every": 2, "log_every": 1, "shuffle": 8, "eval_samples": 4,
    "warmup_steps": 1, "lr": 3e-3, "sample_steps": 2, "cpu_threads": 1,
}  # fmt: skip
PRUNE = {k: TINY[k] for k in ("steps", "batch_size", "resolution", "checkpoint_every", "log_every", "shuffle",
                              "eval_samples", "warmup_steps", "sample_steps", "cpu_threads")}  # fmt: skip
PRUNE |= {"calib_prompts": 2, "calib_timesteps": [500], "latency_repeats": 1, "steps": 2, "checkpoint_every": 1}


@pytest.fixture(scope="module")
def shapes(tmp_path_factory):
    root = tmp_path_factory.mktemp("t2i_shapes")
    write_shapes_source(str(root / "train"), ShapesConfig(n=16, seed=0, shards=2, size=32))
    return root / "train"


@pytest.fixture(scope="module")
def teacher(shapes, tmp_path_factory):
    return run(TrainSpec("t2i_teacher", (str(shapes),), str(tmp_path_factory.mktemp("m") / "teacher"), TINY))


@pytest.fixture(scope="module")
def pruned(shapes, teacher, tmp_path_factory):
    out = tmp_path_factory.mktemp("m") / "pruned"
    return run(TrainSpec("unet_prune", (str(shapes),), str(out), PRUNE, teacher=str(teacher.path)))


def test_teacher_loss_falls_on_a_fixed_batch(shapes, tmp_path):
    spec = TrainSpec("t2i_teacher", (str(shapes),), str(tmp_path / "x"), TINY)
    losses = losses_on_a_fixed_batch(spec, steps=4, lr=3e-3, optimizer=torch.optim.AdamW)
    assert losses[-1] < losses[0], losses


def test_teacher_loads_in_stable_diffusion_pipeline_and_writes_its_sheet(teacher):
    pipe = StableDiffusionPipeline.from_pretrained(
        teacher.model, safety_checker=None, feature_extractor=None, requires_safety_checker=False
    )
    assert pipe.scheduler.config.prediction_type == "v_prediction" and pipe.unet.config.sample_size == 16
    gen = torch.Generator().manual_seed(0)
    images = pipe("a red circle", num_inference_steps=2, height=16, width=16, output_type="pt", generator=gen).images
    assert images.shape == (1, 3, 16, 16) and torch.isfinite(images).all()
    card = teacher.card()
    assert card["trainer"] == "t2i_teacher" and card["config"]["sample_steps"] == 2
    metrics = card["final_metrics"]
    assert metrics["val_samples"] == 4 and 0 < metrics["val_loss"] < 10 and "val_loss_t100" in metrics
    assert Image.open(teacher.samples / "sheet.png").size[0] > 0
    steps = [r for r in read_metrics(teacher.metrics) if "loss" in r]
    assert len(steps) == 4 and all(r["loss"] == r["loss"] for r in steps)


FOREIGN = ["a photo of two teal hexagons beside a maroon ring", "an image showing a navy crescent",
           "a picture of three olive crosses above a coral pentagon " + "drawn by hand " * 40]  # fmt: skip


def _img2dataset_folder(root, captions: list[str]):
    """img2dataset's layout (tar, ``_stats.json`` with ``successes``, no sizes.json) of non-square 24 x 18 jpgs, json
    without any shardsmith field."""
    import io

    from pipelines.store.tarfmt import TarSink

    root.mkdir()
    with (root / "00000.tar").open("wb") as f:
        sink = TarSink(f)
        for i, caption in enumerate(captions):
            jpg = io.BytesIO()
            Image.new("RGB", (24, 18), (40 * i, 128, 128)).save(jpg, format="JPEG")
            meta = {"url": f"https://example.invalid/{i}.jpg", "status": "success", "width": 24, "height": 18}
            sink.add(f"{i:09d}", {"jpg": jpg.getvalue(), "txt": caption.encode(), "json": json.dumps(meta).encode()})
        sink.close()
    (root / "00000_stats.json").write_text(json.dumps({"count": len(captions), "successes": len(captions)}))
    return root


def test_chain_on_foreign_img2dataset_data_samples_its_sheet_from_the_datas_captions(teacher, tmp_path):
    data = str(_img2dataset_folder(tmp_path / "foreign", FOREIGN * 2))
    config = {**TINY, "steps": 2, "checkpoint_every": 2}
    model = run(TrainSpec("t2i_teacher", (data,), str(tmp_path / "t"), config))
    expected = [c.strip() for c in FOREIGN]  # distinct, in tar order
    assert json.loads((model.samples / "sheet_prompts.json").read_text()) == expected
    prune = {**PRUNE, "steps": 1, "checkpoint_every": 1}
    pruned = run(TrainSpec("unet_prune", (data,), str(tmp_path / "p"), prune, teacher=str(teacher.path)))
    assert json.loads((pruned.samples / "sheet_prompts.json").read_text()) == expected
    assert pruned.card()["final_metrics"]["sample_mse_to_teacher"] >= 0


@pytest.mark.slow
def test_teacher_resumes_after_a_kill_and_ends_where_an_unkilled_run_ends(shapes, teacher, tmp_path):
    spec = TrainSpec("t2i_teacher", (str(shapes),), str(tmp_path / "killed"), TINY)
    done = killed_and_resumed(spec, 3)
    assert done.card()["resumed_from"] == 2
    assert same_weights(done.model / UNET_FILE, teacher.model / UNET_FILE)


def test_pruned_student_is_bk_sdm_base_saved_as_a_diffusers_pipeline(pruned, teacher):
    t = load_sd_components(teacher.model)
    unet = UNet2DConditionModel.from_pretrained(pruned.model / "unet", local_files_only=True)
    assert unet.config.layers_per_block == 1 and param_count(unet) == param_count(bk_sdm_student(t.unet))
    m = pruned.card()["final_metrics"]
    assert m["teacher_params"] == param_count(t.unet) and m["student_params"] == param_count(unet)
    assert m["param_reduction"] == pytest.approx(1 - param_count(unet) / param_count(t.unet), abs=1e-4)
    assert m["param_reduction"] > 0.25 and m["sample_mse_to_teacher"] >= 0
    pipe = StableDiffusionPipeline.from_pretrained(
        pruned.model, safety_checker=None, feature_extractor=None, requires_safety_checker=False
    )
    assert param_count(pipe.unet) == param_count(unet)
    assert pruned.card()["parents"]["teacher"]["card_sha256"] == teacher.card_sha256()
    terms = [r for r in read_metrics(pruned.metrics) if "loss" in r]
    assert all({"task", "output", "features"} <= set(r) for r in terms)
    w = pruned.card()["config"]["kd_weights"]  # the default, (1, 1, 0.1) on normalised features
    assert w == [1.0, 1.0, 0.1] and pruned.card()["config"]["kd_feature_norm"]
    assert all(
        r["loss"] == pytest.approx(w[0] * r["task"] + w[1] * r["output"] + w[2] * r["features"], rel=1e-4)
        for r in terms
    )


@pytest.mark.slow
def test_pruned_student_resumes_after_a_kill_and_ends_where_an_unkilled_run_ends(shapes, teacher, pruned, tmp_path):
    """Killed after step 1 and resumed; without the single-block table (it changes the card, not the training)."""
    config = {**PRUNE, "analysis": "units"}
    spec = TrainSpec("unet_prune", (str(shapes),), str(tmp_path / "killed"), config, teacher=str(teacher.path))
    done = killed_and_resumed(spec, 1)
    assert done.card()["resumed_from"] == 1
    assert same_weights(done.model / UNET_FILE, pruned.model / UNET_FILE)


def test_sensitivity_table_and_plot_cover_every_block(pruned, teacher):
    record = json.loads((pruned.samples / "sensitivity.json").read_text())
    assert record["chosen"] == ["stage.0", "stage.1", "stage.2"]
    names = {r["name"] for r in record["blocks"]}
    assert "mid" in names and "down.1.0.attn" in names and "up.2.1.resnet" in names
    assert {r["name"] for r in record["units"]} >= {"stage.0", "attn.up.0", "mid"}
    assert "| stage.0 |" in (pruned.samples / "sensitivity.md").read_text()
    assert Image.open(pruned.samples / "sensitivity.png").size[0] > 0


@pytest.mark.slow
def test_lowest_units_student_drops_what_the_analysis_ranks_cheapest(shapes, teacher, tmp_path):
    spec = TrainSpec("unet_prune", (str(shapes),), str(tmp_path / "low"), {**PRUNE, "steps": 1, "blocks": "lowest:2",
                     "kd": False, "analysis": "units"}, teacher=str(teacher.path))  # fmt: skip
    done = run(spec)
    record = json.loads((done.samples / "sensitivity.json").read_text())
    assert record["chosen"] == [r["name"] for r in record["units"][:2]]
    rows = [r for r in read_metrics(done.metrics) if "loss" in r]
    assert rows and all("output" not in r and r["loss"] == r["task"] for r in rows)  # kd=false: task loss only
    assert record["blocks"] == []  # analysis=units
    unet = UNet2DConditionModel.from_pretrained(done.model / "unet", local_files_only=True)
    assert param_count(unet) == param_count(pruned_student(load_sd_components(teacher.model).unet, record["chosen"]))
    with pytest.raises(ValueError, match="lowest:99"):
        run(TrainSpec("unet_prune", (str(shapes),), str(tmp_path / "bad"), {**PRUNE, "blocks": "lowest:99"},
                      teacher=str(teacher.path)))  # fmt: skip
    with pytest.raises(ValueError, match="down.1.0.attn"):  # one attention of a stage: no diffusers config
        run(TrainSpec("unet_prune", (str(shapes),), str(tmp_path / "bad2"), {**PRUNE, "blocks": ["down.1.0.attn"]},
                      teacher=str(teacher.path)))  # fmt: skip


def test_pruned_loss_falls_on_a_fixed_batch(shapes, teacher, tmp_path):
    config = {**PRUNE, "analysis": "units"}
    spec = TrainSpec("unet_prune", (str(shapes),), str(tmp_path / "x"), config, teacher=str(teacher.path))
    losses = losses_on_a_fixed_batch(spec, steps=4, lr=3e-3, optimizer=torch.optim.AdamW)
    assert losses[-1] < losses[0], losses


def test_generate_writes_images_and_sheet_for_teacher_and_student(teacher, pruned, tmp_path):
    for model in (teacher, pruned):
        out = tmp_path / model.path.name
        args = ["generate", str(model.path), "--prompt", "a red circle", "--prompt", "a blue square", "--n", "2",
                "--out", str(out)]  # fmt: skip
        result = CliRunner().invoke(main, args)
        assert result.exit_code == 0, result.output
        assert "2 steps" in result.output  # the card's sample_steps
        assert sorted(p.name for p in out.iterdir()) == ["0000.png", "0001.png", "0002.png", "0003.png", "sheet.png"]
        first, second = (Image.open(out / f"000{i}.png") for i in (0, 1))
        assert first.size == (16, 16) and first.tobytes() != second.tobytes()  # other noise, other image


def test_generate_runs_a_guided_student_with_one_evaluation_per_step(teacher, tmp_path):
    """A guidance-distilled student's directory: `time_cond_proj_dim` in its UNet, `guidance_range` in its card."""
    parts = load_sd_components(teacher.model)
    student = tmp_path / "guided"
    pipe = StableDiffusionPipeline(parts.vae, parts.text_encoder, parts.tokenizer, guided_student(parts.unet, 32),
                                   parts.scheduler, None, None, requires_safety_checker=False)  # fmt: skip
    pipe.save_pretrained(student / "model")
    (student / "card.json").write_text(json.dumps({"trainer": "unet_cfg_distill",
                                                   "config": {"sample_steps": 3, "guidance_range": [2, 14]}}))  # fmt: skip
    result = CliRunner().invoke(main, ["generate", str(student), "--prompt", "a red circle", "--n", "1", "--out",
                                       str(tmp_path / "g")])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "3 steps, guidance 8.0, 3 UNet evaluations each" in result.output
    assert (tmp_path / "g" / "0000.png").exists() and (tmp_path / "g" / "sheet.png").exists()


def test_sampling_defaults_read_each_trainers_keys():
    assert sampling_defaults({"sample_steps": 8, "guidance": 3.0}, guided=False) == (8, 3.0)
    assert sampling_defaults({"target_steps": [16, 8, 4]}, guided=False) == (4, 4.0)
    assert sampling_defaults({"guidance_range": [2, 14]}, guided=True) == (32, 8.0)
    assert sampling_defaults({}, guided=False) == (32, 4.0)


def test_prompt_fidelity_with_a_shapes_classifier_model_dir(shapes, teacher, tmp_path):
    config = {"steps": 1, "batch_size": 4, "width": 8, "image_size": 32, "eval_samples": 4, "cpu_threads": 1}
    classifier = run(TrainSpec("shapes_classifier", (str(shapes),), str(tmp_path / "cls"), config))
    scores = prompt_fidelity(load_sd_components(teacher.model), classifier.path, steps=2, guidance=4.0, n=4)
    assert scores["fidelity_samples"] == 4
    assert all(0 <= scores[k] <= 1 for k in ("fidelity_colour", "fidelity_shape", "fidelity_both"))
    assert scores["fidelity_both"] <= min(scores["fidelity_colour"], scores["fidelity_shape"])


def test_pruned_student_refuses_a_resolution_other_than_its_teachers(shapes, teacher, tmp_path):
    config = {**PRUNE, "resolution": 2 * PRUNE["resolution"]}  # trained on 2x images it would learn other scales
    with pytest.raises(ValueError, match="the teacher's images are"):
        run(TrainSpec("unet_prune", (str(shapes),), str(tmp_path / "x"), config, teacher=str(teacher.path)))
