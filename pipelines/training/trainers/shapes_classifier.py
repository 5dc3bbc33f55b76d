"""``shapes_classifier``: which shapes, colours, patterns and sizes a shapes scene holds, and how many objects."""

from __future__ import annotations

import functools
import io
import itertools
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from models.training.attribute_cnn import AttributeCNN
from pipelines.loaders import BatchLoader, LoaderConfig, Sample, ShardSet, open_shards
from pipelines.sources.shapes import COLOURS, GENERAL_COLOURS, GENERAL_SHAPES, PATTERNS, SHAPES, SIZES
from pipelines.training.base import Trainer, TrainerConfig
from pipelines.training.registry import register

LABELS: dict[str, tuple[str, ...]] = {
    "shape": SHAPES + GENERAL_SHAPES,
    "colour": tuple(COLOURS) + tuple(GENERAL_COLOURS),
    "pattern": PATTERNS,
    "size": tuple(SIZES),
}
MAX_OBJECTS = 3


class ShapesClassifierConfig(TrainerConfig):
    steps: int = 300
    lr: float = 3e-3
    width: int = 32
    image_size: int = 64
    eval_data: str | None = None  # a held-out shapes dir (e.g. --split test); default: the training data, one pass
    eval_samples: int = 512


def scene_objects(record: dict[str, Any]) -> list[dict[str, Any]]:
    """The ground-truth objects of a shapes record, read as written by the source or as ingest nests it (``source``)."""
    objects = record.get("objects", record.get("source", {}).get("objects"))
    if not isinstance(objects, list):
        raise KeyError(f"{record.get('key')}: no shapes ground truth (objects) in its json")
    return objects


def encode_sample(sample: Sample, image_size: int) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """(image (3, S, S) float in [0, 1], targets): multi-hot per attribute group, and objects - 1 as a class index."""
    image = Image.open(io.BytesIO(sample["jpg"])).convert("RGB")
    if image.size != (image_size, image_size):
        image = image.resize((image_size, image_size), Image.Resampling.BILINEAR)
    pixels = torch.from_numpy(np.asarray(image, dtype=np.float32) / 255.0).permute(2, 0, 1)
    objects = scene_objects(json.loads(sample["json"]))
    targets = {head: torch.zeros(len(names)) for head, names in LABELS.items()}
    for o in objects:
        for head, names in LABELS.items():
            targets[head][names.index(o[head])] = 1.0
    targets["objects"] = torch.tensor(min(len(objects), MAX_OBJECTS) - 1)
    return pixels, targets


def collate(items: list[tuple[torch.Tensor, dict[str, torch.Tensor]]]) -> dict[str, Any]:
    return {
        "images": torch.stack([i for i, _ in items]),
        "targets": {head: torch.stack([t[head] for _, t in items]) for head in items[0][1]},
    }


@dataclass
class ClassifierTask:
    model: torch.nn.Module
    shards: ShardSet
    config: ShapesClassifierConfig

    def batches(self, start_batch: int) -> Iterator[Any]:
        c = self.config
        loader_config = LoaderConfig(c.batch_size, c.seed, True, c.shuffle, c.workers, required=("jpg", "json"))
        return iter(BatchLoader(self.shards, loader_config, self._encode, collate, start_batch))

    @property
    def _encode(self):
        return functools.partial(encode_sample, image_size=self.config.image_size)

    def loss(self, model: torch.nn.Module, batch: dict[str, Any]) -> dict[str, torch.Tensor]:
        logits, targets = model(batch["images"]), batch["targets"]
        terms = {
            head: F.binary_cross_entropy_with_logits(logits[head].float(), targets[head].float()) for head in LABELS
        }
        terms["objects"] = F.cross_entropy(logits["objects"].float(), targets["objects"])
        terms["loss"] = sum(terms.values())
        return terms


@register
class ShapesClassifier(Trainer):
    name = "shapes_classifier"
    Config = ShapesClassifierConfig
    description = "A small CNN that names the shapes, colours, patterns, sizes and object count of a shapes scene."
    config: ShapesClassifierConfig

    def build(self) -> torch.nn.Module:
        if self.inputs.parent is not None:
            return AttributeCNN.from_pretrained(self.inputs.parent / "model").train()
        heads = {head: len(names) for head, names in LABELS.items()} | {"objects": MAX_OBJECTS}
        return AttributeCNN(heads, self.config.width)

    def task(self, model: torch.nn.Module) -> ClassifierTask:
        return ClassifierTask(model, self.inputs.data[0], self.config)

    def save(self, model: torch.nn.Module, directory: Path) -> None:
        model.save_pretrained(directory)

    def _eval_batches(self) -> Iterator[dict[str, Any]]:
        c = self.config
        shards = open_shards(c.eval_data) if c.eval_data else self.inputs.data[0]
        config = LoaderConfig(
            c.batch_size, c.seed, resampled=False, shuffle=0, required=("jpg", "json"), split_by_node=False
        )  # the main process evaluates the whole set
        loader = BatchLoader(shards, config, functools.partial(encode_sample, image_size=c.image_size), collate)
        return itertools.islice(loader, max(1, c.eval_samples // c.batch_size))

    @torch.no_grad()
    def evaluate(self, model: torch.nn.Module) -> dict[str, float]:
        """Per head: label accuracy (each multi-hot entry right) and exact match (the whole set right); object count
        accuracy; ``exact`` is every head right at once."""
        correct: dict[str, float] = {}
        n = 0
        for batch in self._eval_batches():
            logits, targets = model(batch["images"]), batch["targets"]
            all_right = torch.ones(len(batch["images"]), dtype=torch.bool)
            for head in LABELS:
                pred = logits[head] > 0
                right = pred == targets[head].bool()
                correct[f"{head}_label_acc"] = (
                    correct.get(f"{head}_label_acc", 0.0) + right.float().mean(1).sum().item()
                )
                correct[f"{head}_exact"] = correct.get(f"{head}_exact", 0.0) + right.all(1).sum().item()
                all_right &= right.all(1)
            objects_right = logits["objects"].argmax(1) == targets["objects"]
            correct["objects_acc"] = correct.get("objects_acc", 0.0) + objects_right.sum().item()
            correct["exact"] = correct.get("exact", 0.0) + (all_right & objects_right).sum().item()
            n += len(batch["images"])
        return {k: round(v / max(1, n), 4) for k, v in sorted(correct.items())} | {"eval_samples": n}

    @torch.no_grad()
    def sample_sheet(self, model: torch.nn.Module, path: Path) -> Path:
        """Sixteen evaluation scenes, each titled with the predicted shapes and colours."""
        from pipelines.draw import contact_sheet

        batch = next(iter(self._eval_batches()))
        logits = model(batch["images"][:16])
        tiles = []
        for i, image in enumerate(batch["images"][:16]):
            names = [LABELS[h][j] for h in ("colour", "shape") for j in torch.nonzero(logits[h][i] > 0).flatten()]
            pil = Image.fromarray((image.permute(1, 2, 0).numpy() * 255).astype(np.uint8))
            tiles.append((pil.resize((128, 128), Image.Resampling.NEAREST), " ".join(names) or "-"))
        path.parent.mkdir(parents=True, exist_ok=True)
        contact_sheet(tiles, cell=128, cols=4).save(path)
        return path
