"""The hard-negative loader: (images, captions, negatives) batches from retrieval_negatives shards (NegCLIP style)."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

import torch
import webdataset as wds
from PIL import Image


def _collate(n_neg: int) -> Callable[[list[tuple[Any, str, dict]]], tuple[Any, list[str], list[list[str]]]]:
    def collate(samples: list[tuple[Any, str, dict]]) -> tuple[Any, list[str], list[list[str]]]:
        images = [s[0] for s in samples]
        stacked = torch.stack(images) if images and isinstance(images[0], torch.Tensor) else images
        negatives = [[n["text"] for n in s[2].get("negatives", [])][:n_neg] for s in samples]
        return stacked, [s[1] for s in samples], negatives

    return collate


def negatives_loader(
    urls: str | Sequence[str],
    batch_size: int,
    transform: Callable[[Image.Image], Any] | None = None,
    negatives_per_caption: int = 3,
    shuffle: int = 0,
    seed: int = 0,
) -> Iterator[tuple[Any, list[str], list[list[str]]]]:
    """Yield ``(images, captions, negatives)`` batches from retrieval_negatives shards for hard-negative contrastive
    training (NegCLIP style): ``images`` stacked when ``transform`` returns tensors, ``negatives[i]`` the hard-negative
    captions of ``captions[i]`` (at most ``negatives_per_caption``). ``urls``: a brace pattern, a list, or one tar."""
    pipeline = wds.WebDataset(urls, shardshuffle=bool(shuffle), seed=seed, handler=wds.reraise_exception)
    if shuffle:
        pipeline = pipeline.shuffle(shuffle, seed=seed)
    pipeline = pipeline.decode("pil").to_tuple("jpg", "txt", "json")
    if transform is not None:
        pipeline = pipeline.map_tuple(transform, lambda t: t, lambda j: j)
    return iter(pipeline.batched(batch_size, collation_fn=_collate(negatives_per_caption), partial=True))
