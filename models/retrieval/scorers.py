"""One face for the retrieval models that trainers, eval and the index use: open_clip dual encoders and BLIP ITM.

A ``Preprocess`` (image transform + tokenizer) is light and picklable, so loader workers carry it; a ``Scorer`` holds
the model and turns preprocessed batches into unit features and (I, T) image-text logits."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from PIL import Image

from models.retrieval.blip import itc_features, itm_matched_logits, itm_pair_logits
from models.retrieval.clip import CONFIG_FILE

Text = dict[str, torch.Tensor]  # tokenizer output: input_ids (T, L) and, for BLIP, attention_mask (T, L)


@dataclass(frozen=True)
class ClipPreprocess:
    """open_clip's eval transform and tokenizer: ``image(PIL) -> (3, S, S)``, ``text(list) -> {input_ids (T, L)}``."""

    transform: Any
    tokenizer: Any

    def image(self, image: Image.Image) -> torch.Tensor:
        return self.transform(image.convert("RGB"))

    def text(self, texts: list[str]) -> Text:
        return {"input_ids": self.tokenizer(texts)}


@dataclass(frozen=True)
class BlipPreprocess:
    """A ``BlipProcessor``'s image processor and WordPiece tokenizer; captions padded to the batch's longest."""

    processor: Any
    max_length: int = 64

    def image(self, image: Image.Image) -> torch.Tensor:
        return self.processor.image_processor(image.convert("RGB"), return_tensors="pt")["pixel_values"][0]

    def text(self, texts: list[str]) -> Text:
        out = self.processor.tokenizer(
            texts, padding=True, truncation=True, max_length=self.max_length, return_tensors="pt"
        )
        return {"input_ids": out["input_ids"], "attention_mask": out["attention_mask"]}


class ClipScorer:
    """An open_clip model: unit features from ``encode_image``/``encode_text``; logits are its scaled cosines."""

    kind = "open_clip"

    def __init__(self, model: torch.nn.Module) -> None:
        self.model = model

    def image_features(self, pixel_values: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.model.encode_image(pixel_values), dim=-1)

    def text_features(self, text: Text) -> torch.Tensor:
        return F.normalize(self.model.encode_text(text["input_ids"]), dim=-1)

    def pair_logits(self, pixel_values: torch.Tensor, text: Text) -> torch.Tensor:
        scale = self.model.logit_scale.exp()
        return scale * self.image_features(pixel_values) @ self.text_features(text).T


class BlipScorer:
    """A BLIP ITM model: features are its contrastive (ITC) projections; logits are its fusion matching scores."""

    kind = "blip"

    def __init__(self, model: torch.nn.Module) -> None:
        self.model = model

    def image_features(self, pixel_values: torch.Tensor) -> torch.Tensor:
        embeds = self.model.vision_model(pixel_values=pixel_values).last_hidden_state
        return F.normalize(self.model.vision_proj(embeds[:, 0, :]), dim=-1)

    def text_features(self, text: Text) -> torch.Tensor:
        embeds = self.model.text_encoder(**text).last_hidden_state
        return F.normalize(self.model.text_proj(embeds[:, 0, :]), dim=-1)

    def features(self, pixel_values: torch.Tensor, text: Text) -> tuple[torch.Tensor, torch.Tensor]:
        return itc_features(self.model, pixel_values, text["input_ids"], text["attention_mask"])

    def pair_logits(self, pixel_values: torch.Tensor, text: Text) -> torch.Tensor:
        """(I, T) ITM logits of every image against every caption (I * T fusion passes)."""
        return itm_pair_logits(self.model, pixel_values, text["input_ids"], text["attention_mask"])

    def matched_logits(self, pixel_values: torch.Tensor, text: Text) -> torch.Tensor:
        """(N,) ITM logits of aligned pairs: image n with caption n."""
        embeds = self.model.vision_model(pixel_values=pixel_values).last_hidden_state
        return itm_matched_logits(self.model, embeds, text["input_ids"], text["attention_mask"])


def model_kind(path: str | Path) -> str:
    """``open_clip`` for an open_clip local-dir, ``blip`` for a transformers BLIP folder; else an error."""
    path = Path(path)
    if (path / CONFIG_FILE).exists():
        return "open_clip"
    config = path / "config.json"
    if config.exists() and json.loads(config.read_text()).get("model_type") == "blip":
        return "blip"
    raise ValueError(f"{path} is neither an open_clip local-dir ({CONFIG_FILE}) nor a BLIP folder (config.json)")


def load_scorer(
    path: str | Path, device: str = "cpu"
) -> tuple[ClipScorer | BlipScorer, ClipPreprocess | BlipPreprocess]:
    """A saved retrieval model (its folder of weights, or a model directory holding ``model/``) in eval mode."""
    path = Path(path)
    if (path / "model").is_dir():
        path = path / "model"
    if model_kind(path) == "open_clip":
        from models.retrieval.clip import load_clip

        model, transform, tokenizer = load_clip(path, device)
        return ClipScorer(model), ClipPreprocess(transform, tokenizer)
    from models.retrieval.blip import load_blip

    model, processor = load_blip(path, device)
    return BlipScorer(model), BlipPreprocess(processor, _blip_max_length(model))


def _blip_max_length(model: torch.nn.Module) -> int:
    return int(min(64, model.config.text_config.max_position_embeddings))


def clip_preprocess(cfg: dict[str, Any]) -> ClipPreprocess:
    """The eval transform and tokenizer open_clip's ``local-dir`` loader gives a model of ``cfg`` (saved by save_clip)."""
    import open_clip

    transform = open_clip.image_transform(cfg["vision_cfg"]["image_size"], is_train=False)
    tokenizer = open_clip.tokenizer.SimpleTokenizer(context_length=cfg["text_cfg"]["context_length"])
    return ClipPreprocess(transform, tokenizer)
