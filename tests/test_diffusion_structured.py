"""Diffusers-valid pruning units: each student computes what the ablation computes, saves and loads, and is smaller."""

from __future__ import annotations

import pytest
import torch

from models.diffusion.pruning import bk_sdm_student, param_count, remove_blocks
from models.diffusion.structured import (
    Calibration,
    preset_units,
    pruned_config,
    pruned_student,
    pruning_units,
    sensitivity,
    single_blocks,
)
from models.diffusion.teacher import UNet2DConditionModel
from tests.distill_fixtures import unet_inputs

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _inputs(seed: int = 0) -> Calibration:
    return Calibration(*unet_inputs(seed))


def _out(unet: torch.nn.Module, c: Calibration) -> torch.Tensor:
    with torch.no_grad():
        return unet(c.sample, c.timesteps, encoder_hidden_states=c.text).sample


def test_every_unit_and_their_union_compute_what_the_ablation_computes(unet_teacher):
    units = pruning_units(unet_teacher)
    assert set(units) == {
        "stage.0",
        "stage.1",
        "stage.2",
        "attn.down.1",
        "attn.down.2",
        "attn.up.0",
        "attn.up.1",
        "mid",
    }
    c = _inputs()
    for combo in [[u] for u in units] + [list(units)]:
        student = pruned_student(unet_teacher, combo)
        ablated = remove_blocks(unet_teacher, [b for u in combo for b in units[u]])
        assert torch.allclose(_out(student, c), _out(ablated, c), atol=1e-6), combo
        assert param_count(student) == param_count(ablated) < param_count(unet_teacher), combo


def test_bk_base_preset_is_bk_sdm_base_and_small_drops_the_mid_block(unet_teacher):
    base = pruned_student(unet_teacher, preset_units(unet_teacher, "bk-base"))
    reference = bk_sdm_student(unet_teacher)
    assert base.config.layers_per_block == 1
    for (k, a), (k2, b) in zip(base.state_dict().items(), reference.state_dict().items(), strict=True):
        assert k == k2 and torch.equal(a, b)
    small = pruned_student(unet_teacher, preset_units(unet_teacher, "bk-small"))
    assert small.mid_block is None and param_count(small) < param_count(base)


def test_mixed_units_save_and_load_with_from_pretrained(unet_teacher, tmp_path):
    units = ["stage.1", "attn.up.0", "mid"]
    config = pruned_config(unet_teacher, units)
    assert config["layers_per_block"] == [2, 1, 2] and config["up_block_types"][0] == "UpBlock2D"
    student = pruned_student(unet_teacher, units)
    student.save_pretrained(tmp_path / "unet")
    loaded = UNet2DConditionModel.from_pretrained(tmp_path / "unet", local_files_only=True)
    c = _inputs(1)
    assert torch.equal(_out(loaded, c), _out(student, c))
    assert [len(b.resnets) for b in loaded.down_blocks] == [2, 1, 2] and loaded.mid_block is None


def test_unknown_units_are_refused(unet_teacher):
    with pytest.raises(ValueError, match="down.1.0.attn"):  # one attention of a stage that keeps another: no config
        pruned_student(unet_teacher, ["down.1.0.attn"])
    with pytest.raises(ValueError, match="attn.down.0"):
        pruned_student(unet_teacher, ["attn.down.0"])  # stage 0 has no attention


def test_sensitivity_ranks_by_change_per_parameter(unet_teacher):
    rows = sensitivity(unet_teacher, _inputs(), single_blocks(unet_teacher), "block", repeats=1)
    assert {r.name for r in rows} == set(single_blocks(unet_teacher))
    assert all(r.change > 0 and r.params_saved > 0 for r in rows)
    scores = [r.score for r in rows]
    assert scores == sorted(scores)
    r = rows[0]
    assert r.score == pytest.approx(r.change / r.param_fraction)
    assert r.param_fraction == pytest.approx(r.params_saved / param_count(unet_teacher))
