"""The fusion teacher: BLIP image-text matching (transformers), tiny by config or production weights by path.

A saved teacher is a folder that transformers loads as it is: ``BlipForImageTextRetrieval.from_pretrained(DIR)``
and ``BlipProcessor.from_pretrained(DIR)``. Its ITM head scores every (image, caption) pair of a batch, which is
what the student distils (ALBEF/BLIP-style fusion: each caption cross-attends to the image)."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import torch

SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


def train_wordpiece_tokenizer(captions: Iterable[str], vocab_size: int = 1000) -> Any:
    """A lower-cased BERT WordPiece tokenizer trained on ``captions`` with the ``tokenizers`` library (offline)."""
    from tokenizers import BertWordPieceTokenizer
    from transformers import BertTokenizerFast

    wp = BertWordPieceTokenizer(lowercase=True)
    wp.train_from_iterator(list(captions), vocab_size=vocab_size, min_frequency=1, special_tokens=SPECIALS)
    with tempfile.TemporaryDirectory() as tmp:
        wp.save_model(tmp)
        return BertTokenizerFast(vocab_file=str(Path(tmp) / "vocab.txt"), do_lower_case=True)


def tiny_blip_config(vocab_size: int, image_size: int = 64, width: int = 96, layers: int = 2) -> Any:
    """A BLIP config of the real architecture at test size: ViT ``width`` x ``layers``, patch 8, BERT the same."""
    from transformers import BlipConfig

    heads = max(1, width // 32)
    text = {
        "vocab_size": vocab_size,
        "hidden_size": width,
        "encoder_hidden_size": width,
        "intermediate_size": 2 * width,
        "num_hidden_layers": layers,
        "num_attention_heads": heads,
        "max_position_embeddings": 64,
        "pad_token_id": 0,
        "bos_token_id": 2,
        "sep_token_id": 3,
    }
    vision = {
        "hidden_size": width,
        "intermediate_size": 2 * width,
        "num_hidden_layers": layers,
        "num_attention_heads": heads,
        "image_size": image_size,
        "patch_size": 8,
    }
    return BlipConfig(text_config=text, vision_config=vision, image_text_hidden_size=width)


def build_tiny_blip(tokenizer: Any, image_size: int = 64, **sizes: int) -> tuple[torch.nn.Module, Any]:
    """``(model, processor)``: a randomly initialised ``BlipForImageTextRetrieval`` and its ``BlipProcessor``."""
    from transformers import BlipForImageTextRetrieval, BlipImageProcessor, BlipProcessor

    model = BlipForImageTextRetrieval(tiny_blip_config(len(tokenizer), image_size, **sizes))
    image_processor = BlipImageProcessor(size={"height": image_size, "width": image_size})
    return model, BlipProcessor(image_processor=image_processor, tokenizer=tokenizer)


def save_blip(model: torch.nn.Module, processor: Any, out: str | os.PathLike[str]) -> Path:
    path = Path(out)
    model.save_pretrained(path, safe_serialization=True)
    processor.save_pretrained(path)
    return path


def load_blip(path: str | os.PathLike[str], device: str = "cpu") -> tuple[torch.nn.Module, Any]:
    """``(model, processor)`` through transformers' own loaders; safetensors weights, no hub access."""
    from transformers import BlipForImageTextRetrieval, BlipProcessor

    model = BlipForImageTextRetrieval.from_pretrained(path, local_files_only=True, use_safetensors=True)
    processor = BlipProcessor.from_pretrained(path, local_files_only=True)
    return model.to(device).eval(), processor


def itm_pair_logits(
    model: torch.nn.Module, pixel_values: torch.Tensor, input_ids: torch.Tensor, attention_mask: torch.Tensor
) -> torch.Tensor:
    """(I, T) image-text matching logits (match minus no-match) for every image against every caption.

    The vision tower runs once per image; the fusion text encoder runs once per pair (I * T cross-attentions)."""
    image_embeds = model.vision_model(pixel_values=pixel_values).last_hidden_state
    n_img, n_txt = image_embeds.shape[0], input_ids.shape[0]
    embeds = image_embeds.repeat_interleave(n_txt, dim=0)
    ids = input_ids.repeat(n_img, 1)
    mask = attention_mask.repeat(n_img, 1)
    fused = model.text_encoder(
        input_ids=ids,
        attention_mask=mask,
        encoder_hidden_states=embeds,
        encoder_attention_mask=torch.ones(embeds.shape[:-1], dtype=torch.long, device=embeds.device),
    ).last_hidden_state
    logits = model.itm_head(fused[:, 0, :])
    return (logits[:, 1] - logits[:, 0]).reshape(n_img, n_txt)


def itc_features(
    model: torch.nn.Module, pixel_values: torch.Tensor, input_ids: torch.Tensor, attention_mask: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Unit image and text features of BLIP's contrastive heads (``vision_proj``, ``text_proj``), (I, E) and (T, E)."""
    image_embeds = model.vision_model(pixel_values=pixel_values).last_hidden_state
    text_embeds = model.text_encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
    img = torch.nn.functional.normalize(model.vision_proj(image_embeds[:, 0, :]), dim=-1)
    txt = torch.nn.functional.normalize(model.text_proj(text_embeds[:, 0, :]), dim=-1)
    return img, txt


def itm_matched_logits(
    model: torch.nn.Module, image_embeds: torch.Tensor, input_ids: torch.Tensor, attention_mask: torch.Tensor
) -> torch.Tensor:
    """(N,) image-text matching logits (match minus no-match) of N aligned pairs: ``image_embeds[n]`` (the vision
    tower's last hidden state, (N, P, W)) against caption ``input_ids[n]``."""
    fused = model.text_encoder(
        input_ids=input_ids,
        attention_mask=attention_mask,
        encoder_hidden_states=image_embeds,
        encoder_attention_mask=torch.ones(image_embeds.shape[:-1], dtype=torch.long, device=image_embeds.device),
    ).last_hidden_state
    logits = model.itm_head(fused[:, 0, :])
    return logits[:, 1] - logits[:, 0]
