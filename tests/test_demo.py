"""``make demo``: every asset, the text-to-image chain included, at settings its trainers accept; its check lines."""

from __future__ import annotations

import json

import pytest
from dagster import AssetCheckEvaluation, AssetKey, MetadataValue

from dagster_project.demo import DEMO_RUN_CONFIG, check_line, run_config
from pipelines.training.registry import trainer_class

TRAINERS = {  # each training asset's trainer (assets/training/*.py)
    "shapes_classifier": "shapes_classifier",
    "retrieval_teacher": "retrieval_teacher",
    "retrieval_student": "retrieval_student",
    "t2i_teacher": "t2i_teacher",
    "unet_pruned": "unet_prune",
    "unet_cfg_distilled": "unet_cfg_distill",
    **{f"{c}_{n}": "unet_step_distill" for c in ("unet_step_distilled", "unet_cfg_step_distilled") for n in (16, 8, 4)},
}


@pytest.fixture(scope="module")
def defs():
    from dagster_project.definitions import defs

    return defs


def test_the_demo_materializes_every_asset_the_text_to_image_chain_included(defs):
    selected = list(defs.assets)  # what the demo materializes
    keys = {k.to_user_string() for a in selected for k in a.keys}
    assert {"t2i_teacher", "unet_pruned", "unet_step_distilled_4", "unet_cfg_step_distilled_4"} <= keys
    assert set(run_config(selected)["ops"]) == set(DEMO_RUN_CONFIG["ops"]) == set(TRAINERS)


def test_every_demo_setting_is_a_valid_trainer_config(defs):
    for op, trainer in TRAINERS.items():
        config = DEMO_RUN_CONFIG["ops"][op]["config"]
        keys = {k: config[k] for k in ("steps", "batch_size") if k in config} | json.loads(config["settings"])
        trainer_class(trainer).Config.model_validate(keys)  # extra keys are an error


def test_the_chain_trains_at_the_teachers_resolution():
    def settings(op: str) -> dict:
        return json.loads(DEMO_RUN_CONFIG["ops"][op]["config"]["settings"])

    assert settings("unet_pruned")["resolution"] == settings("t2i_teacher")["resolution"]  # unet_prune refuses others


def test_a_check_line_names_the_verdict_and_the_figures_judged():
    check = AssetCheckEvaluation(
        asset_key=AssetKey("t2i_teacher"),
        check_name="prompt_fidelity",
        passed=False,
        metadata={"fidelity_colour": MetadataValue.float(0.25), "floor": MetadataValue.float(0.3),
                  "head": MetadataValue.text("colour")},
    )  # fmt: skip
    assert check_line(check) == "check t2i_teacher:prompt_fidelity: FAILED  [fidelity_colour 0.25, floor 0.3]"
