"""BK-SDM block removal: fewer parameters, same shapes, teacher weights kept, SD-1.5's -33%, ablations, stage KD."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch

from models.diffusion.pruning import (
    bk_sdm_config,
    bk_sdm_losses,
    bk_sdm_student,
    param_count,
    removable_blocks,
    remove_blocks,
    stage_features,
)
from models.diffusion.teacher import UNet2DConditionModel, tiny_unet
from tests.distill_fixtures import UNET_TINY, unet_inputs

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_students_are_smaller_with_the_same_output_shape(unet_teacher):
    base, small = bk_sdm_student(unet_teacher, keep_mid=True), bk_sdm_student(unet_teacher, keep_mid=False)
    assert param_count(small) < param_count(base) < param_count(unet_teacher)
    assert small.mid_block is None and base.mid_block is not None
    assert [len(b.resnets) for b in base.down_blocks] == [1, 1, 1]
    assert [len(b.resnets) for b in base.up_blocks] == [2, 2, 2]
    x, t, text = unet_inputs()
    with torch.no_grad():
        assert base(x, t, text).sample.shape == small(x, t, text).sample.shape == x.shape


def test_kept_blocks_carry_the_teachers_weights(unet_teacher):
    student = bk_sdm_student(unet_teacher)
    t_sd, s_sd = unet_teacher.state_dict(), student.state_dict()
    for i in range(3):
        for kind in ("resnets", "attentions"):
            if f"up_blocks.{i}.{kind}.0.norm.weight" not in s_sd and kind == "attentions":
                continue
            for j, tj in ((0, 0), (1, 2)):  # student pair j <- teacher pair 0 or 2
                prefix_s, prefix_t = f"up_blocks.{i}.{kind}.{j}.", f"up_blocks.{i}.{kind}.{tj}."
                keys = [k for k in s_sd if k.startswith(prefix_s)]
                assert keys, prefix_s
                assert all(torch.equal(s_sd[k], t_sd[prefix_t + k[len(prefix_s) :]]) for k in keys)
    # the middle up pair was really dropped: student pair 1 differs from teacher pair 1
    assert not torch.equal(s_sd["up_blocks.1.resnets.1.conv2.weight"], t_sd["up_blocks.1.resnets.1.conv2.weight"])
    down = [k for k in s_sd if k.startswith("down_blocks.") or k.startswith("mid_block.") or k.startswith("conv_")]
    assert all(torch.equal(s_sd[k], t_sd[k]) for k in down)


def test_sd15_bk_sdm_base_removes_about_a_third():
    kw = dict(
        sample_size=64,
        block_out_channels=(320, 640, 1280, 1280),
        layers_per_block=2,
        cross_attention_dim=768,
        attention_head_dim=8,
        down_block_types=("CrossAttnDownBlock2D",) * 3 + ("DownBlock2D",),
        up_block_types=("UpBlock2D",) + ("CrossAttnUpBlock2D",) * 3,
    )
    with torch.device("meta"):
        sd = UNet2DConditionModel(**kw)
        base = UNet2DConditionModel(**bk_sdm_config(sd.config, keep_mid=True))
        small = UNet2DConditionModel(**bk_sdm_config(sd.config, keep_mid=False))
    assert 0.85e9 < param_count(sd) < 0.87e9  # SD-1.5's 0.86B
    assert 0.30 < 1 - param_count(base) / param_count(sd) < 0.36  # BK-SDM-Base: 0.58B
    assert param_count(small) < param_count(base) - 0.05e9


def test_remove_blocks_ablates_one_block(unet_teacher):
    names = removable_blocks(unet_teacher)
    assert {"down.1.1", "up.2.1", "mid", "down.1.0.attn"} <= set(names) and "down.1.0" not in names
    x, t, text = unet_inputs()
    with torch.no_grad():
        ref = unet_teacher(x, t, text).sample
        for name in ("down.1.1", "up.2.1.resnet", "up.0.1.attn", "mid"):
            pruned = remove_blocks(unet_teacher, [name])
            out = pruned(x, t, text).sample
            assert out.shape == ref.shape and not torch.allclose(out, ref), name
            assert param_count(pruned) < param_count(unet_teacher), name
        assert torch.equal(unet_teacher(x, t, text).sample, ref)  # the input UNet is untouched
    every = remove_blocks(unet_teacher, names)
    assert param_count(every) < param_count(unet_teacher) / 4
    with pytest.raises(ValueError, match="down.1.0"):
        remove_blocks(unet_teacher, ["down.1.0"])  # its resnet changes channels: no identity fits


def test_stage_features_and_kd_losses(unet_teacher):
    x, t, text = unet_inputs()
    student = bk_sdm_student(unet_teacher)
    with torch.no_grad():
        ft, fs = stage_features(unet_teacher, x, t, text), stage_features(student, x, t, text)
        assert torch.allclose(ft.sample, unet_teacher(x, t, text).sample)
    assert set(ft.features) == set(fs.features) == {"down.0", "down.1", "down.2", "mid", "up.0", "up.1", "up.2"}
    assert all(ft.features[k].shape == fs.features[k].shape for k in ft.features)
    target = torch.randn_like(x)
    same = bk_sdm_losses(ft, ft, target)
    kd = bk_sdm_losses(fs, ft, target)
    assert same.output == 0 and same.features == 0 and same.task > 0
    assert kd.output > 0 and kd.features > 0
    assert torch.allclose(kd.total, kd.task + kd.output + kd.features)


def test_small_student_saves_and_loads_as_diffusers(unet_teacher, tmp_path):
    student = bk_sdm_student(unet_teacher, keep_mid=False)
    student.save_pretrained(tmp_path / "unet")
    loaded = UNet2DConditionModel.from_pretrained(tmp_path / "unet", local_files_only=True)
    assert loaded.mid_block is None and loaded.config.layers_per_block == 1
    assert all(
        torch.equal(a, b) for a, b in zip(loaded.state_dict().values(), student.state_dict().values(), strict=True)
    )


def test_bk_sdm_needs_two_pairs_per_stage():
    one = tiny_unet(replace(UNET_TINY, layers_per_block=1))
    with pytest.raises(ValueError, match="layers_per_block=2"):
        bk_sdm_config(one.config)


def test_normalised_feature_loss_does_not_depend_on_the_activations_scale(unet_teacher):
    x, t, text = unet_inputs()
    with torch.no_grad():
        ft, fs = stage_features(unet_teacher, x, t, text), stage_features(bk_sdm_student(unet_teacher), x, t, text)

    def scaled(o, k):
        return type(o)(sample=o.sample, features={n: f * k for n, f in o.features.items()})

    target = torch.randn_like(x)
    plain, big = bk_sdm_losses(fs, ft, target), bk_sdm_losses(scaled(fs, 10.0), scaled(ft, 10.0), target)
    assert torch.allclose(big.features, 100 * plain.features)  # BK-SDM's unnormalised MSE grows with the scale
    norm = bk_sdm_losses(fs, ft, target, feature_norm=True)
    norm_big = bk_sdm_losses(scaled(fs, 10.0), scaled(ft, 10.0), target, feature_norm=True)
    assert torch.allclose(norm.features, norm_big.features) and norm.features > 0
