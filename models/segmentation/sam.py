"""SAM behind the Segmenter interface: one image embedding per image, all its boxes prompted at once."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from functools import partial

import numpy as np
import torch

from models import compat
from models.registry import file_sha256, model_id, register, resolve_checkpoint
from models.types import Masks, ModelSpec

compat.ensure_torchvision()

from segment_anything import SamPredictor, sam_model_registry  # noqa: E402
from segment_anything.modeling import ImageEncoderViT, MaskDecoder, PromptEncoder, Sam, TwoWayTransformer  # noqa: E402

_DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


def _build_sam_vit_tiny() -> Sam:
    """SAM's architecture at tiny sizes (221K params): ViT embed 64, depth 2, image 256, prompt dim 32."""
    img_size, prompt_dim, patch = 256, 32, 16
    return Sam(
        image_encoder=ImageEncoderViT(
            depth=2,
            embed_dim=64,
            img_size=img_size,
            mlp_ratio=4,
            norm_layer=partial(torch.nn.LayerNorm, eps=1e-6),
            num_heads=2,
            patch_size=patch,
            qkv_bias=True,
            use_rel_pos=True,
            global_attn_indexes=(1,),
            window_size=4,
            out_chans=prompt_dim,
        ),
        prompt_encoder=PromptEncoder(
            embed_dim=prompt_dim,
            image_embedding_size=(img_size // patch, img_size // patch),
            input_image_size=(img_size, img_size),
            mask_in_chans=16,
        ),
        mask_decoder=MaskDecoder(
            num_multimask_outputs=3,
            transformer=TwoWayTransformer(depth=2, embedding_dim=prompt_dim, mlp_dim=64, num_heads=2),
            transformer_dim=prompt_dim,
            iou_head_depth=3,
            iou_head_hidden_dim=32,
        ),
        pixel_mean=[123.675, 116.28, 103.53],
        pixel_std=[58.395, 57.12, 57.375],
    )


_ARCHITECTURES: dict[str, Callable[[], Sam]] = {
    "vit_h": partial(sam_model_registry["vit_h"], checkpoint=None),
    "vit_l": partial(sam_model_registry["vit_l"], checkpoint=None),
    "vit_b": partial(sam_model_registry["vit_b"], checkpoint=None),
    "vit_tiny": _build_sam_vit_tiny,
}


def build_sam_module(variant: str) -> Sam:
    """SAM `variant` with random weights (segment_anything's builders, never given a checkpoint to torch.load)."""
    if variant not in _ARCHITECTURES:
        raise KeyError(f"unknown SAM variant {variant!r}; known: {sorted(_ARCHITECTURES)}")
    return _ARCHITECTURES[variant]()


def load_sam(variant: str, checkpoint: str, device: str) -> Sam:
    """SAM `variant` with the state_dict at `checkpoint` (torch.load weights_only=True, strict keys), in eval mode."""
    model = build_sam_module(variant)
    model.load_state_dict(torch.load(checkpoint, map_location="cpu", weights_only=True), strict=True)
    return model.eval().to(device)


class SamSegmenter:
    """Segmenter over a loaded SAM: masks for up to `spec.batch_size` boxes per mask-decoder call."""

    def __init__(self, model: Sam, spec: ModelSpec, checkpoint_sha256: str) -> None:
        self.spec = spec
        self.checkpoint_sha256 = checkpoint_sha256
        self._predictor = SamPredictor(model)  # resizes to model.image_encoder.img_size

    @property
    def model_id(self) -> str:
        return model_id("sam", self.spec, self.checkpoint_sha256)

    @torch.inference_mode()
    def segment(self, image: np.ndarray, boxes: np.ndarray) -> Masks:
        """image: HWC uint8 RGB; boxes: (N,4) XYXY pixels of that image. Masks (N,H,W) bool + predicted IoU (N,)."""
        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            raise ValueError(f"expected HWC uint8 RGB, got {image.shape} {image.dtype}")
        boxes = np.asarray(boxes, dtype=np.float32).reshape(-1, 4)
        h, w = image.shape[:2]
        if len(boxes) == 0:
            return Masks(np.zeros((0, h, w), dtype=bool), np.zeros(0, dtype=np.float32))
        with self._autocast():
            self._predictor.set_image(image, image_format="RGB")
            try:
                chunks = [
                    self._predict(boxes[i : i + self.spec.batch_size])
                    for i in range(0, len(boxes), self.spec.batch_size)
                ]
            finally:
                self._predictor.reset_image()
        return Masks(np.concatenate([m for m, _ in chunks]), np.concatenate([s for _, s in chunks]))

    def _predict(self, boxes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        prompts = torch.as_tensor(boxes, device=self._predictor.device)
        prompts = self._predictor.transform.apply_boxes_torch(prompts, self._predictor.original_size)
        masks, iou, _ = self._predictor.predict_torch(None, None, boxes=prompts, multimask_output=False)
        return masks[:, 0].cpu().numpy(), iou[:, 0].float().cpu().numpy()

    def _autocast(self) -> contextlib.AbstractContextManager[None]:
        if self.spec.device == "cuda" and self.spec.dtype != "float32":
            return torch.autocast("cuda", dtype=_DTYPES[self.spec.dtype])
        return contextlib.nullcontext()


@register("sam")
def build_sam(spec: ModelSpec) -> SamSegmenter:
    """Loads the checkpoint of `spec` (tiny or production, same loader) into a SamSegmenter."""
    checkpoint = resolve_checkpoint(spec.checkpoint)
    sha256 = file_sha256(checkpoint, spec.sha256)
    return SamSegmenter(load_sam(spec.variant, str(checkpoint), spec.device), spec, sha256)
