"""A batch-invariant Grounding DINO forward: each image's result does not depend on what else is in its batch."""

from __future__ import annotations

import contextvars
import types

import torch
import torch.nn.functional as F
from torch import nn

from models import compat

compat.ensure_torchvision()

from groundingdino.models.GroundingDINO import transformer as gd_transformer  # noqa: E402
from groundingdino.models.GroundingDINO.bertwarper import generate_masks_with_special_tokens_and_transfer_map  # noqa: E402
from groundingdino.models.GroundingDINO.transformer_vanilla import TransformerEncoderLayer  # noqa: E402
from groundingdino.util.misc import NestedTensor, inverse_sigmoid  # noqa: E402

# Upstream (groundingdino-py 0.4.0) batching is not batch-invariant, for four reasons fixed here:
# 1. the text-enhancer layers tile the (bs,L,L) sub-sentence mask in the wrong order for bs > 1 (see below);
# 2. the Swin backbone and the GroupNorm of input_proj see the zero padding of smaller images, which changes
#    their features everywhere: so backbone + input_proj run per image (same-size images together), and
#    only their outputs are padded;
# 3. padded memory positions get a constant logit in the two-stage top-k and can take query slots from real
#    positions: their logits are set to -inf before the top-k;
# 4. the decoder's query position embedding is computed from reference points scaled to the padded canvas
#    (valid_ratios), so it changes with padding: it is computed from the unscaled points, as at batch size 1.
# With these, forward_batch on one image equals GroundingDINO.forward, and on a padded batch it equals
# per-image runs up to float rounding. Pinned to groundingdino-py 0.4.0's GroundingDINO.forward.


_upstream_sineembed = gd_transformer.gen_sineembed_for_position
_query_ratios: contextvars.ContextVar[torch.Tensor | None] = contextvars.ContextVar("gd_query_ratios", default=None)


def _sineembed_unpadded(pos_tensor: torch.Tensor) -> torch.Tensor:
    """Fix 4: within forward_batch, undo the valid-ratio scaling (nq, bs, 4) before the sine embedding."""
    ratios = _query_ratios.get()
    return _upstream_sineembed(pos_tensor if ratios is None else pos_tensor / ratios)


gd_transformer.gen_sineembed_for_position = _sineembed_unpadded  # pass-through outside forward_batch


def make_batch_invariant(model: nn.Module) -> nn.Module:
    """Applies fixes 1 and 3 in place (instance level; the groundingdino classes are not touched). Idempotent."""
    for layer in model.modules():
        if isinstance(layer, TransformerEncoderLayer):
            layer.forward = types.MethodType(_text_layer_forward, layer)
    if not isinstance(model.transformer.enc_out_class_embed, _MaskedClassEmbed):
        model.transformer.enc_out_class_embed = _MaskedClassEmbed(model.transformer.enc_out_class_embed)
    return model


def _text_layer_forward(
    self: TransformerEncoderLayer,
    src: torch.Tensor,
    src_mask: torch.Tensor | None = None,
    src_key_padding_mask: torch.Tensor | None = None,
    pos: torch.Tensor | None = None,
) -> torch.Tensor:
    """Upstream's text-enhancer layer, with the mask tiled b-major: upstream's `repeat(nhead,1,1)` gives index
    h*bs+b where nn.MultiheadAttention reads b*nhead+h, mixing the captions' masks. Same as upstream at bs == 1."""
    if src_mask is not None and src_mask.dim() == 3 and src_mask.shape[0] == src.shape[1]:
        src_mask = src_mask.repeat_interleave(self.nhead, dim=0)
    q = k = self.with_pos_embed(src, pos)
    src = self.norm1(src + self.dropout1(self.self_attn(q, k, value=src, attn_mask=src_mask)[0]))
    return self.norm2(src + self.dropout2(self.linear2(self.dropout(self.activation(self.linear1(src))))))


class _MaskedClassEmbed(nn.Module):
    """Wraps the two-stage ContrastiveEmbed (no weights): padded memory positions never enter the top-k."""

    def __init__(self, inner: nn.Module) -> None:
        super().__init__()
        self.inner = inner
        self.padding: torch.Tensor | None = None  # (bs, sum of h*w) True on padding, set around each forward

    def forward(self, x: torch.Tensor, text_dict: dict) -> torch.Tensor:
        out = self.inner(x, text_dict)
        if self.padding is not None:
            out = out.masked_fill(self.padding[..., None], float("-inf"))
        return out


@torch.inference_mode()
def forward_batch(model: nn.Module, images: list[torch.Tensor], captions: list[str]) -> dict[str, torch.Tensor]:
    """images: normalized (3,h,w) tensors of any sizes on the model's device; one caption per image.
    Returns pred_logits (B, queries, 256) and pred_boxes (B, queries, 4) cxcywh relative to each unpadded image."""
    text_dict = _encode_text(model, captions, images[0].device)
    per_image = _image_levels_by_shape(model, images)
    srcs, masks = _pad_levels(per_image)
    poss = [model.backbone[1](NestedTensor(src, mask)).to(src.dtype) for src, mask in zip(srcs, masks, strict=True)]
    class_embed = model.transformer.enc_out_class_embed
    class_embed.padding = torch.cat([m.flatten(1) for m in masks], dim=1)
    ratios = model.transformer.get_valid_ratio(masks[0])  # (bs, 2) w, h: as the decoder computes them
    token = _query_ratios.set(torch.cat([ratios, ratios], -1)[None])
    try:
        hs, reference, _, _, _ = model.transformer(srcs, masks, None, poss, None, None, text_dict)
    finally:
        class_embed.padding = None
        _query_ratios.reset(token)
    boxes = (model.bbox_embed[-1](hs[-1]) + inverse_sigmoid(reference[len(hs) - 1])).sigmoid()
    return {"pred_logits": model.class_embed[-1](hs[-1], text_dict), "pred_boxes": boxes}


def _encode_text(model: nn.Module, captions: list[str], device: torch.device) -> dict[str, torch.Tensor]:
    """The text half of GroundingDINO.forward (sub-sentence masks, BERT, feat_map, truncation to max_text_len)."""
    tokenized = model.tokenizer(captions, padding="longest", return_tensors="pt").to(device)
    self_attention, position_ids, _ = generate_masks_with_special_tokens_and_transfer_map(
        tokenized, model.specical_tokens, model.tokenizer
    )
    n = model.max_text_len
    for key in ("input_ids", "attention_mask", "token_type_ids"):
        tokenized[key] = tokenized[key][:, :n]
    self_attention, position_ids = self_attention[:, :n, :n], position_ids[:, :n]
    encoder_inputs = {k: v for k, v in tokenized.items() if k != "attention_mask"}
    if model.sub_sentence_present:
        encoder_inputs |= {"attention_mask": self_attention, "position_ids": position_ids}
    else:
        encoder_inputs["attention_mask"] = tokenized["attention_mask"]
    encoded = model.feat_map(model.bert(**encoder_inputs)["last_hidden_state"])
    return {
        "encoded_text": encoded,
        "text_token_mask": tokenized["attention_mask"].bool(),
        "position_ids": position_ids,
        "text_self_attention_masks": self_attention,
    }


def _image_levels_by_shape(model: nn.Module, images: list[torch.Tensor]) -> list[list[torch.Tensor]]:
    """Per image, its (256, h_l, w_l) map per feature level; images of one shape share a backbone call (no padding)."""
    by_shape: dict[tuple[int, ...], list[int]] = {}
    for i, image in enumerate(images):
        by_shape.setdefault(tuple(image.shape), []).append(i)
    out: list[list[torch.Tensor]] = [[] for _ in images]
    for indices in by_shape.values():
        levels = _image_levels(model, torch.stack([images[i] for i in indices]))
        for j, i in enumerate(indices):
            out[i] = [level[j] for level in levels]
    return out


def _image_levels(model: nn.Module, images: torch.Tensor) -> list[torch.Tensor]:
    """Backbone + input projections of same-size unpadded images (n,3,h,w): one (n, 256, h_l, w_l) map per level."""
    mask = torch.zeros((images.shape[0], *images.shape[2:]), dtype=torch.bool, device=images.device)
    features = [f.tensors for f in model.backbone[0](NestedTensor(images, mask)).values()]
    levels = [proj(f) for proj, f in zip(model.input_proj, features, strict=False)]
    for proj in list(model.input_proj)[len(features) :]:
        levels.append(proj(features[-1] if len(levels) == len(features) else levels[-1]))
    return levels


def _pad_levels(per_image: list[list[torch.Tensor]]) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """Zero-pads each level to the batch's largest size; masks are True on padding."""
    srcs, masks = [], []
    for maps in zip(*per_image, strict=True):
        h, w = max(m.shape[1] for m in maps), max(m.shape[2] for m in maps)
        srcs.append(torch.stack([F.pad(m, (0, w - m.shape[2], 0, h - m.shape[1])) for m in maps]))
        mask = torch.ones((len(maps), h, w), dtype=torch.bool, device=maps[0].device)
        for i, m in enumerate(maps):
            mask[i, : m.shape[1], : m.shape[2]] = False
        masks.append(mask)
    return srcs, masks
