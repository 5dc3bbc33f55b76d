"""The text-to-image chain's checks pass on sound saved pipelines and fail on broken ones (tiny pipelines, no training)."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from models.diffusion.teacher import build_tiny_teacher, save_teacher
from models.training.attribute_cnn import AttributeCNN
from pipelines.checks.diffusion import near_teacher, params_reduced, prompt_fidelity, unet_params
from pipelines.training.card import ModelDir
from pipelines.training.trainers.shapes_classifier import LABELS, MAX_OBJECTS
from pipelines.training.unet_distill import CHAIN_FILE
from tests.distill_fixtures import TINY, teacher_dir

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def teacher(tmp_path_factory) -> Path:
    return teacher_dir(tmp_path_factory.mktemp("teacher"))


def _copy(src: Path, dst: Path, card: dict | None = None, record: dict | None = None) -> Path:
    """A model directory with the teacher's files, optionally another card and a distilled student's sampling record."""
    shutil.copytree(src, dst)
    if card is not None:
        (dst / "card.json").write_text(json.dumps(card))
    if record is not None:
        (dst / "model" / CHAIN_FILE).write_text(json.dumps(record))
    return dst


def test_params_reduced_passes_on_a_smaller_unet_and_fails_on_the_teacher_itself(teacher, tmp_path):
    small = tmp_path / "small"
    save_teacher(build_tiny_teacher(tmp_path / "tok", replace(TINY, layers_per_block=1)), small / "model")
    passed = params_reduced(small, teacher, 0.8)
    assert passed.passed, passed.problems
    assert passed.metadata["student_params"] == unet_params(small) < unet_params(teacher)
    same = params_reduced(teacher, teacher, 0.8)
    assert not same.passed and same.metadata["fraction"] == 1.0


def test_params_reduced_fails_on_a_larger_student(teacher, tmp_path):
    wide = tmp_path / "wide"
    save_teacher(build_tiny_teacher(tmp_path / "tok", replace(TINY, layers_per_block=3)), wide / "model")
    assert not params_reduced(wide, teacher, 0.8).passed


def test_near_teacher_passes_on_the_teachers_own_weights(teacher, tmp_path):
    same = near_teacher(_copy(teacher, tmp_path / "copy"), teacher, max_mse=1e-8, steps=8)
    assert same.passed and same.metadata["mse"] == 0.0
    assert (same.metadata["student_steps"], same.metadata["teacher_steps"]) == (8, 8)


def test_near_teacher_fails_on_a_student_with_other_weights(teacher, tmp_path):
    other = teacher_dir(tmp_path / "other", seed=1)
    result = near_teacher(other, teacher, max_mse=1e-3, steps=4)
    assert not result.passed and result.metadata["mse"] > 1e-3


def test_a_baked_step_student_is_compared_at_twice_its_steps_and_its_baked_scale(teacher, tmp_path):
    """The teacher's weights posing as a 4-step baked student: it samples 4 conditional steps, the teacher 8 with CFG
    at the baked w (not the configured one or steps), so the samples differ and a tight bound fails."""
    card = {"trainer": "unet_step_distill", "config": {"target_steps": 4}}
    student = _copy(teacher, tmp_path / "baked", card, {"steps": 4, "guided": False, "baked_guidance": 6.0})
    result = near_teacher(student, teacher, max_mse=1e-6, w=2.0, steps=16)
    assert (result.metadata["student_steps"], result.metadata["teacher_steps"], result.metadata["w"]) == (4, 8, 6.0)
    assert not result.passed


def _classifier_dir(root: Path, colour_bias: dict[str, float]) -> Path:
    """A committed shapes_classifier directory whose CNN answers the same colours whatever the image (zero head
    weights, the biases set): prompt fidelity is then known exactly, the share of prompts of its top colour."""
    heads = {head: len(names) for head, names in LABELS.items()} | {"objects": MAX_OBJECTS}
    model = AttributeCNN(heads, width=8)
    with torch.no_grad():
        model.heads["colour"].weight.zero_()
        model.heads["colour"].bias.fill_(-5.0)
        for name, value in colour_bias.items():
            model.heads["colour"].bias[LABELS["colour"].index(name)] = value
    out = ModelDir(root)
    model.save_pretrained(out.model)
    out.write_card({"trainer": "shapes_classifier", "config": {"image_size": 16}})
    out.commit()
    return root


def test_prompt_fidelity_fails_when_the_colour_does_not_follow_the_prompt(teacher, tmp_path):
    """A classifier that sees red in every sample (as in the samples of a model that ignores its prompts) scores 1/6
    on the corpus' six colours x six shapes: under the default floor, above a floor under chance."""
    always_red = _classifier_dir(tmp_path / "red", {"red": 5.0})
    result = prompt_fidelity(teacher, always_red, floor=0.3, steps=2)
    assert not result.passed and result.metadata["fidelity_colour"] == round(1 / 6, 4)
    assert result.metadata["fidelity_samples"] == 36 and result.metadata["steps"] == 2
    assert prompt_fidelity(teacher, always_red, floor=0.1, steps=2).passed


def test_prompt_fidelity_samples_a_baked_student_at_its_own_steps_and_scale(teacher, tmp_path):
    student = _copy(teacher, tmp_path / "baked", record={"steps": 4, "guided": False, "baked_guidance": 6.0})
    result = prompt_fidelity(student, _classifier_dir(tmp_path / "c", {"blue": 5.0}), floor=0.1, w=2.0, steps=16, n=6)
    assert (result.metadata["steps"], result.metadata["w"], result.metadata["fidelity_samples"]) == (4, 6.0, 6)


def test_the_assets_fidelity_check_warns_under_the_floor_only_when_asked(teacher, tmp_path):
    """fidelity_warn changes the severity of a share under the floor, not the floor or the verdict."""
    from dagster import AssetCheckSeverity

    from assets.training.diffusion import TeacherTrainConfig, fidelity_check
    from assets.training.launch import TrainingResource

    _classifier_dir(tmp_path / "models" / "shapes_classifier", {"red": 5.0})
    training = TrainingResource(models_root=str(tmp_path / "models"))
    for warn, severity in ((False, AssetCheckSeverity.ERROR), (True, AssetCheckSeverity.WARN)):
        result = fidelity_check(teacher, training, TeacherTrainConfig(check_steps=2, fidelity_warn=warn))
        assert not result.passed and result.severity == severity
        assert result.metadata["floor"].value == 0.3 and result.metadata["fidelity_colour"].value == round(1 / 6, 4)
    passing = fidelity_check(teacher, training, TeacherTrainConfig(check_steps=2, min_fidelity=0.1, fidelity_warn=True))
    assert passing.passed
