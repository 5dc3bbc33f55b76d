"""Grounding DINO behind the Detector interface: batched, padded forward and predict()-style post-processing."""

from __future__ import annotations

import contextlib
import io
import logging
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from models import compat
from models.detection.gd_batch import forward_batch, make_batch_invariant
from models.registry import file_sha256, model_id, register, resolve_checkpoint
from models.types import Detections, ModelSpec

compat.ensure_torchvision()

import groundingdino.datasets.transforms as gd_transforms  # noqa: E402
from groundingdino.models import build_model  # noqa: E402
from groundingdino.util.misc import clean_state_dict  # noqa: E402
from groundingdino.util.slconfig import SLConfig  # noqa: E402

log = logging.getLogger(__name__)
_MEAN = torch.tensor([0.485, 0.456, 0.406]).view(3, 1, 1)
_STD = torch.tensor([0.229, 0.224, 0.225]).view(3, 1, 1)
_DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


def build_grounding_dino_module(
    config: str | os.PathLike[str], text_encoder: str | os.PathLike[str] | None, device: str
) -> torch.nn.Module:
    """The architecture of an SLConfig .py file, with random detector weights; `text_encoder` (a local BERT
    directory) replaces the config's `text_encoder_type`, so no hub download happens."""
    args = SLConfig.fromfile(str(config))
    args.device = device
    if text_encoder is not None:
        args.text_encoder_type = str(text_encoder)
    with contextlib.redirect_stdout(io.StringIO()) as printed:  # GD prints the text encoder path
        model = build_model(args)
    log.debug(printed.getvalue().strip())
    return model


def load_grounding_dino(
    config: str | os.PathLike[str],
    checkpoint: str | os.PathLike[str],
    text_encoder: str | os.PathLike[str] | None,
    device: str,
) -> torch.nn.Module:
    """groundingdino.util.inference.load_model, made strict where it matters: loads {"model": state_dict} with
    weights_only=True and raises on missing keys (load_model's strict=False would silently keep random weights)."""
    model = build_grounding_dino_module(config, text_encoder, device="cpu")
    state = torch.load(checkpoint, map_location="cpu", weights_only=True)["model"]
    result = model.load_state_dict(clean_state_dict(state), strict=False)
    if result.missing_keys:
        raise RuntimeError(f"{checkpoint} lacks {len(result.missing_keys)} weights, e.g. {result.missing_keys[:5]}")
    if result.unexpected_keys:  # the released swint_ogc checkpoint carries label_enc.weight, unused at inference
        log.info("ignored checkpoint keys: %s", result.unexpected_keys)
    return model.eval().to(device)


@dataclass(frozen=True)
class _Caption:
    """A tokenized caption: char offsets per token and the sub-phrase index per token (-1: [CLS], [SEP], '.', '?')."""

    text: str
    offsets: list[tuple[int, int]]
    segment: torch.Tensor


class GroundingDinoDetector:
    """Detector over a loaded Grounding DINO. Images are resized like GD's demo transform (shorter side
    `spec.image_size`, longer side capped at `spec.max_size`); a batch shares one padded, masked transformer
    forward (gd_batch.forward_batch), so an image's detections do not depend on its batch."""

    def __init__(self, model: torch.nn.Module, spec: ModelSpec, checkpoint_sha256: str) -> None:
        self.spec = spec
        self.checkpoint_sha256 = checkpoint_sha256
        self._model = make_batch_invariant(model)
        self._separators = set(model.specical_tokens)
        if not model.tokenizer.is_fast:
            raise TypeError("phrase extraction needs a fast tokenizer (character offsets)")

    @property
    def model_id(self) -> str:
        return model_id("groundingdino", self.spec, self.checkpoint_sha256)

    def detect(self, images: list[np.ndarray], prompts: list[str]) -> list[Detections]:
        """images: HWC uint8 RGB of any sizes; prompts: one caption per image, categories separated by " . ".
        Boxes are XYXY pixels of each input image; runs `spec.batch_size` images per forward."""
        if len(images) != len(prompts):
            raise ValueError(f"{len(images)} images but {len(prompts)} prompts")
        step = self.spec.batch_size
        return [
            d
            for i in range(0, len(images), step)
            for d in self._detect_batch(images[i : i + step], prompts[i : i + step])
        ]

    @torch.inference_mode()
    def _detect_batch(self, images: list[np.ndarray], prompts: list[str]) -> list[Detections]:
        captions = [self._tokenize(p) for p in prompts]
        tensors = [self._preprocess(im).to(self.spec.device) for im in images]
        with self._autocast():
            out = forward_batch(self._model, tensors, [c.text for c in captions])
        logits = out["pred_logits"].float().sigmoid().cpu()  # (B, queries, 256 text positions)
        boxes = out["pred_boxes"].float().cpu()  # (B, queries, 4) cxcywh, relative to each unpadded image
        return [
            self._postprocess(lg, bx, c, im.shape[:2])
            for lg, bx, c, im in zip(logits, boxes, captions, images, strict=True)
        ]

    def _preprocess(self, image: np.ndarray) -> torch.Tensor:
        """HWC uint8 RGB -> (3,h,w) float normalized, resized exactly like groundingdino's demo transform."""
        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            raise ValueError(f"expected HWC uint8 RGB, got {image.shape} {image.dtype}")
        resized, _ = gd_transforms.resize(Image.fromarray(image), None, self.spec.image_size, self.spec.max_size)
        tensor = torch.from_numpy(np.asarray(resized).copy()).permute(2, 0, 1).float().div_(255)
        return (tensor - _MEAN) / _STD

    def _tokenize(self, prompt: str) -> _Caption:
        text = prompt.lower().strip()
        if not text.strip(". "):
            raise ValueError(f"empty detection prompt {prompt!r}")
        text = text if text.endswith(".") else text + "."  # groundingdino.util.inference.preprocess_caption
        enc = self._model.tokenizer(text, return_offsets_mapping=True)
        segment, current = [], 0
        for token in enc["input_ids"][: self._model.max_text_len]:
            if token in self._separators:
                segment.append(-1)
                current += 1
            else:
                segment.append(current)
        return _Caption(text, [tuple(o) for o in enc["offset_mapping"]], torch.tensor(segment))

    def _postprocess(
        self, logits: torch.Tensor, boxes: torch.Tensor, caption: _Caption, hw: tuple[int, int]
    ) -> Detections:
        """Like groundingdino.util.inference.predict: keep queries whose best token score > box_threshold; then
        order by score (stable), not by query slot, since near-tied top-k proposals may swap slots between runs."""
        scores = logits.max(dim=1).values
        keep = torch.nonzero(scores > self.spec.box_threshold).flatten()
        keep = keep[torch.argsort(scores[keep], descending=True, stable=True)]
        h, w = hw
        cx, cy, bw, bh = (boxes[keep] * torch.tensor([w, h, w, h])).unbind(-1)
        xyxy = torch.stack([cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2], dim=-1)
        xyxy = torch.minimum(xyxy.clamp(min=0), torch.tensor([w, h, w, h], dtype=xyxy.dtype))
        phrases = [self._phrase(token_scores, caption) for token_scores in logits[keep]]
        return Detections(xyxy.numpy().astype(np.float32), scores[keep].numpy().astype(np.float32), phrases)

    def _phrase(self, token_scores: torch.Tensor, caption: _Caption) -> str:
        """The caption's text for the tokens above text_threshold within the sub-phrase of the best-scoring token.

        GD's get_phrases_from_posmap decodes every token above the threshold across the whole caption, which
        joins sub-phrases ("cat dog") and, at low thresholds, [CLS]/[SEP]; this returns a substring of the caption."""
        segment = caption.segment
        scores = token_scores[: len(segment)].masked_fill(segment < 0, float("-inf"))
        best = int(scores.argmax())
        chosen = ((segment == segment[best]) & (scores > self.spec.text_threshold)).nonzero().flatten().tolist()
        first, last = min(chosen + [best]), max(chosen + [best])
        return caption.text[caption.offsets[first][0] : caption.offsets[last][1]]

    def _autocast(self) -> contextlib.AbstractContextManager[None]:
        if self.spec.device == "cuda" and self.spec.dtype != "float32":
            return torch.autocast("cuda", dtype=_DTYPES[self.spec.dtype])
        return contextlib.nullcontext()


@register("grounding_dino")
def build_grounding_dino(spec: ModelSpec) -> GroundingDinoDetector:
    """Loads the checkpoint of `spec` (tiny or production, same loader) into a GroundingDinoDetector."""
    if spec.config is None:
        raise ValueError("grounding_dino needs spec.config (an SLConfig .py such as GroundingDINO_SwinT_OGC.py)")
    checkpoint = resolve_checkpoint(spec.checkpoint)
    sha256 = file_sha256(checkpoint, spec.sha256)
    model = load_grounding_dino(Path(spec.config), checkpoint, spec.text_encoder, spec.device)
    return GroundingDinoDetector(model, spec, sha256)
