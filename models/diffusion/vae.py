"""An `AutoencoderKL` whose weights make encode and decode the identity (to ~1e-6), so a pixel-space UNet fits SD's pipeline."""

from __future__ import annotations

import torch
from diffusers import AutoencoderKL
from torch import nn

_K = 1000.0  # constant channels that dominate GroupNorm's variance, so the norm is a fixed scale to ~(|x|/K)^2


def identity_autoencoder(channels: int = 3) -> AutoencoderKL:
    """One-stage AutoencoderKL (scale factor 1, latent = image, scaling_factor 1) set to pass pixels through.

    Construction: conv_in writes (x, -x, K, -K); every residual branch (resnets' conv2, attention out-projections) is
    zero, so blocks pass their input; GroupNorm then divides by ~K/2, undone by its affine weight; conv_out takes
    silu(h) - silu(-h) = h exactly. The encoder's log-variance is -30 (the clamp), so sampling adds ~3e-7 noise.
    """
    width = 2 * channels + 2
    vae = AutoencoderKL(
        in_channels=channels,
        out_channels=channels,
        down_block_types=("DownEncoderBlock2D",),
        up_block_types=("UpDecoderBlock2D",),
        block_out_channels=(width,),
        layers_per_block=1,
        latent_channels=channels,
        norm_num_groups=1,
        sample_size=32,
        scaling_factor=1.0,
    )
    with torch.no_grad():
        _zero_residual_branches(vae)
        _set_pass_through(vae.encoder.conv_in, vae.encoder.conv_norm_out, vae.encoder.conv_out, channels, logvar=True)
        _set_pass_through(vae.decoder.conv_in, vae.decoder.conv_norm_out, vae.decoder.conv_out, channels, logvar=False)
        _set_identity_1x1(vae.quant_conv)
        _set_identity_1x1(vae.post_quant_conv)
    return vae


def _zero_residual_branches(vae: AutoencoderKL) -> None:
    for name, module in vae.named_modules():
        if name.endswith("conv2") or name.endswith("to_out.0"):
            module.weight.zero_()
            module.bias.zero_()


def _set_identity_1x1(conv: nn.Conv2d) -> None:
    conv.weight.zero_()
    conv.bias.zero_()
    for i in range(conv.out_channels):
        conv.weight[i, i, 0, 0] = 1.0


def _set_pass_through(conv_in: nn.Conv2d, norm: nn.GroupNorm, conv_out: nn.Conv2d, c: int, logvar: bool) -> None:
    conv_in.weight.zero_()
    conv_in.bias.zero_()
    mid = conv_in.kernel_size[0] // 2
    for i in range(c):
        conv_in.weight[2 * i, i, mid, mid] = 1.0
        conv_in.weight[2 * i + 1, i, mid, mid] = -1.0
    conv_in.bias[2 * c], conv_in.bias[2 * c + 1] = _K, -_K
    # the group variance is ~2 K^2 / (2c + 2), so GroupNorm scales x by sqrt((2c + 2) / 2) / K: the weight undoes it
    norm.weight.fill_(_K * (2.0 / (2 * c + 2)) ** 0.5)
    norm.bias.zero_()
    conv_out.weight.zero_()
    conv_out.bias.zero_()
    for i in range(c):
        conv_out.weight[i, 2 * i, mid, mid] = 1.0
        conv_out.weight[i, 2 * i + 1, mid, mid] = -1.0
    if logvar:
        conv_out.bias[c : 2 * c] = -30.0
