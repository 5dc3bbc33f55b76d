"""Zero-shot attribute scoring with open_clip, and the tiny random-weight CLIP that tests load through the same loader."""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from models.cache import cache_root

TINY_CLIP_NAME = "shardsmith-tiny-clip-random"  # the id says the weights are random
_TINY_VERSION = "v1"  # bump when the tiny architecture changes
_TINY_CONFIG = {
    "embed_dim": 32,
    "vision_cfg": {"image_size": 64, "layers": 1, "width": 32, "head_width": 16, "patch_size": 16},
    "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 1},
}


@dataclass(frozen=True)
class ClipConfig:
    """``model``: an open_clip architecture name (e.g. "ViT-B-32"); ``pretrained``: a local checkpoint path."""

    model: str
    pretrained: str
    device: str = "cpu"
    batch_size: int = 16


def _register_tiny(root: Path) -> None:
    import open_clip

    import models  # noqa: F401  (torchvision compat, before open_clip imports torchvision)

    config = root / f"{TINY_CLIP_NAME}.json"
    if not config.exists():
        root.mkdir(parents=True, exist_ok=True)
        tmp = config.with_name(f".{config.name}.{os.getpid()}")
        tmp.write_text(json.dumps(_TINY_CONFIG))
        os.replace(tmp, config)
    open_clip.add_model_config(config)


def tiny_clip(cache_dir: str | os.PathLike[str] | None = None) -> ClipConfig:
    """The tiny CLIP (a real open_clip architecture, random weights, seed 0): built into the cache on first use."""
    import open_clip

    root = cache_root(cache_dir) / "open_clip" / _TINY_VERSION
    _register_tiny(root)
    ckpt = root / f"{TINY_CLIP_NAME}.pt"
    if not ckpt.exists():
        torch.manual_seed(0)
        model = open_clip.create_model(TINY_CLIP_NAME)
        tmp = ckpt.with_name(f".{ckpt.name}.{os.getpid()}")
        torch.save(model.state_dict(), tmp)
        os.replace(tmp, ckpt)
    return ClipConfig(TINY_CLIP_NAME, str(ckpt))


class ClipScorer:
    """Scores images against option prompt sets: for each attribute, a softmax over its options' mean text embeddings."""

    def __init__(self, config: ClipConfig) -> None:
        import open_clip

        import models  # noqa: F401

        if config.model == TINY_CLIP_NAME:
            _register_tiny(Path(config.pretrained).parent)
        self.config = config
        model, _, preprocess = open_clip.create_model_and_transforms(
            config.model, pretrained=config.pretrained, device=config.device
        )
        self.model, self.preprocess = model.eval(), preprocess
        self.tokenizer = open_clip.get_tokenizer(config.model)
        digest = hashlib.sha256(Path(config.pretrained).read_bytes()).hexdigest()[:8]
        self.model_id = f"open_clip-{config.model}(sha256:{digest})"
        self._text: dict[tuple[str, ...], torch.Tensor] = {}

    @torch.no_grad()
    def _option_embeddings(self, options: dict[str, tuple[str, ...]]) -> torch.Tensor:
        """(n_options, dim) unit vectors: each option's prompts encoded, normalised, averaged, normalised again."""
        rows = []
        for prompts in options.values():
            key = tuple(prompts)
            if key not in self._text:
                emb = self.model.encode_text(self.tokenizer(list(prompts)).to(self.config.device))
                emb = torch.nn.functional.normalize(emb, dim=-1).mean(0)
                self._text[key] = torch.nn.functional.normalize(emb, dim=-1)
            rows.append(self._text[key])
        return torch.stack(rows)

    @torch.no_grad()
    def encode_images(self, images: list[np.ndarray]) -> torch.Tensor:
        """(n, dim) unit image embeddings of HWC uint8 RGB images."""
        from PIL import Image

        out = []
        for i in range(0, len(images), self.config.batch_size):
            batch = torch.stack([self.preprocess(Image.fromarray(a)) for a in images[i : i + self.config.batch_size]])
            out.append(torch.nn.functional.normalize(self.model.encode_image(batch.to(self.config.device)), dim=-1))
        return torch.cat(out) if out else torch.zeros(0)

    @torch.no_grad()
    def probabilities(
        self, images: list[np.ndarray], attributes: dict[str, dict[str, tuple[str, ...]]]
    ) -> list[dict[str, dict[str, float]]]:
        """For each image, attribute -> option -> probability (the options of one attribute sum to 1)."""
        if not images:
            return []
        feats = self.encode_images(images)
        scale = float(self.model.logit_scale.exp())
        result: list[dict[str, dict[str, float]]] = [{} for _ in images]
        for name, options in attributes.items():
            probs = (scale * feats @ self._option_embeddings(options).T).softmax(dim=-1)
            for row, p in zip(result, probs.tolist(), strict=True):
                row[name] = dict(zip(options, p, strict=True))
        return result
