"""The text-to-image chain's assets load in the definitions, each stage downstream of its teacher, with its checks."""

from __future__ import annotations

import pytest
from dagster import AssetKey


@pytest.fixture(scope="module")
def chain():
    from dagster_project.definitions import defs

    return {
        a.key.to_user_string(): a for a in defs.assets if "unet" in a.key.to_user_string() or "t2i" in a.key.path[0]
    }


def _upstream(asset) -> set[str]:
    return {k.to_user_string() for k in asset.dependency_keys}


def test_every_stage_depends_on_its_teacher(chain):
    teachers = {
        "unet_pruned": "t2i_teacher",
        "unet_step_distilled_16": "t2i_teacher",
        "unet_step_distilled_8": "unet_step_distilled_16",
        "unet_step_distilled_4": "unet_step_distilled_8",
        "unet_cfg_distilled": "t2i_teacher",
        "unet_cfg_step_distilled_16": "unet_cfg_distilled",
        "unet_cfg_step_distilled_8": "unet_cfg_step_distilled_16",
        "unet_cfg_step_distilled_4": "unet_cfg_step_distilled_8",
    }
    assert set(chain) == {"t2i_teacher", *teachers}
    judged = {"t2i_teacher", "unet_pruned", "unet_step_distilled_4", "unet_cfg_step_distilled_4"}  # prompt_fidelity
    assert _upstream(chain["t2i_teacher"]) == {"shapes_corpus", "shapes_classifier"}
    for student, teacher in teachers.items():
        classifier = {"shapes_classifier"} if student in judged else set()
        assert _upstream(chain[student]) == {"shapes_corpus", teacher, *classifier}, student


def test_students_carry_the_checks(chain):
    def checks(name: str) -> set[str]:
        return {spec.name for spec in chain[name].check_specs if spec.asset_key == AssetKey(name)}

    assert checks("t2i_teacher") == {"loss_fell", "prompt_fidelity"}
    assert checks("unet_pruned") == {"loss_fell", "params_reduced", "near_teacher", "prompt_fidelity"}
    for name in ("unet_step_distilled_4", "unet_cfg_step_distilled_4"):
        assert checks(name) == {"loss_fell", "near_teacher", "prompt_fidelity"}, name
    for name in set(chain) - {"t2i_teacher", "unet_pruned", "unet_step_distilled_4", "unet_cfg_step_distilled_4"}:
        assert checks(name) == {"loss_fell", "near_teacher"}, name
