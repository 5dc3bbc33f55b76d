"""Retrieval batches from shards: images and captions, each sample's hard negatives, encoded for one or more models."""

from __future__ import annotations

import functools
import io
import json
import logging
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import torch
from PIL import Image

from models.retrieval.scorers import BlipPreprocess, ClipPreprocess
from pipelines.loaders import BatchLoader, LoaderConfig, Sample, ShardSet, open_shards
from pipelines.negatives import NegativesConfig, generate_negatives_many

Preprocess = ClipPreprocess | BlipPreprocess
log = logging.getLogger(__name__)


def sample_negatives(sample: Sample) -> list[tuple[str, str]]:
    """``(kind, text)`` of the sample's json ``negatives`` (what retrieval_negatives writes); none without a json."""
    if "json" not in sample:
        return []
    record = json.loads(sample["json"])
    return [(str(n["kind"]), str(n["text"])) for n in record.get("negatives") or [] if n.get("text")]


def has_negatives(shards: ShardSet, peek: int = 32) -> bool:
    """Whether one of the first ``peek`` samples of ``shards`` carries json ``negatives``."""
    import webdataset as wds

    for i, sample in enumerate(wds.WebDataset(shards.urls[:1], shardshuffle=False, empty_check=False)):
        if sample_negatives(sample):
            return True
        if i + 1 >= peek:
            break
    return False


def require_negatives(shards: ShardSet, peek: int = 32) -> None:
    """Raise unless one of the first ``peek`` samples of ``shards`` carries json ``negatives``: a NegCLIP term on data
    without them (a plain img2dataset folder) would train as 0 while the run claims hard negatives."""
    if not has_negatives(shards, peek):
        raise ValueError(
            f"{shards.url}: its first {peek} samples carry no json 'negatives', so hard_negative_weight > 0 would train "
            f"nothing: build them (shardsmith build retrieval_negatives --source {shards.url} --out OUT) and train on "
            "OUT/retrieval_negatives, --set generate_negatives=true, or --set hard_negative_weight=0"
        )


def generated_negatives(shards: ShardSet, hard_negative_weight: float, generate: bool) -> NegativesConfig | None:
    """The rules that build the hard negatives from the captions while batching (``retrieval_negatives``' defaults:
    3 per caption, replace-att, swap-att, replace-count, open vocabulary, seed 0) when the NegCLIP term is on and the
    data carries none; None when it is off or the data has its own. Without ``generate`` such data is refused."""
    if not hard_negative_weight or has_negatives(shards):
        return None
    if not generate:
        require_negatives(shards)
    log.warning("%s carries no json negatives: building them from the captions as batches are made", shards.url)
    return NegativesConfig()


@functools.lru_cache(maxsize=1 << 16)
def _caption_negatives(caption: str, rules: NegativesConfig) -> tuple[tuple[str, str], ...]:
    return tuple((n.kind, n.text) for n in generate_negatives_many([caption], rules)[0])


def with_generated_negatives(items: list[dict[str, Any]], rules: NegativesConfig) -> list[dict[str, Any]]:
    """``items`` with the negatives of those that carry none built from their captions (a caption's negatives are a
    function of the caption and the rules alone, so the batch and its order do not change them)."""
    return [
        item if item["negatives"] else {**item, "negatives": list(_caption_negatives(item["caption"], rules))}
        for item in items
    ]


@dataclass(frozen=True)
class PairEncoder:
    """``map_sample`` for the loader: the image preprocessed for every model (by role), the caption, the negatives."""

    models: Mapping[str, Preprocess]

    def __call__(self, sample: Sample) -> dict[str, Any]:
        image = Image.open(io.BytesIO(sample["jpg"])).convert("RGB")
        return {
            "key": sample["__key__"],
            "caption": sample["txt"].decode("utf-8").strip(),
            "negatives": sample_negatives(sample),
            "pixels": {role: p.image(image) for role, p in self.models.items()},
        }


@dataclass(frozen=True)
class PairCollate:
    """A batch: per model role ``{pixel_values (B, 3, S, S), text, neg_text}``; ``neg_mask`` (B, K) says which of
    each sample's first K negatives exist (``neg_text`` rows are those, sample-major); ``neg_owner`` and
    ``neg_kinds`` name each flat negative's sample and kind; ``keys`` and ``captions`` are lists. With ``generate``,
    samples without negatives get them from their captions (``with_generated_negatives``)."""

    models: Mapping[str, Preprocess]
    negatives_per_caption: int = 3
    generate: NegativesConfig | None = None

    def __call__(self, items: list[dict[str, Any]]) -> dict[str, Any]:
        if self.generate is not None:
            items = with_generated_negatives(items, self.generate)
        k = self.negatives_per_caption
        negs = [item["negatives"][:k] for item in items]
        mask = torch.zeros(len(items), k, dtype=torch.bool)
        for i, n in enumerate(negs):
            mask[i, : len(n)] = True
        flat = [text for n in negs for _, text in n]
        batch: dict[str, Any] = {}
        for role, p in self.models.items():
            batch[role] = {
                "pixel_values": torch.stack([item["pixels"][role] for item in items]),
                "text": p.text([item["caption"] for item in items]),
                "neg_text": p.text(flat) if flat else None,
            }
        batch.update(
            neg_mask=mask,
            neg_owner=torch.tensor([i for i, n in enumerate(negs) for _ in n], dtype=torch.long),
            neg_kinds=[kind for n in negs for kind, _ in n],
            keys=[item["key"] for item in items],
            captions=[item["caption"] for item in items],
        )
        return batch


def pair_loader(
    shards: ShardSet,
    models: Mapping[str, Preprocess],
    config: LoaderConfig,
    negatives_per_caption: int = 3,
    start_batch: int = 0,
    generate: NegativesConfig | None = None,
) -> BatchLoader:
    """Batches of ``PairCollate`` from ``shards`` (resampled for training, one pass for evaluation)."""
    collate = PairCollate(models, negatives_per_caption, generate)
    return BatchLoader(shards, config, PairEncoder(models), collate, start_batch)


def one_pass(shards: ShardSet, models: Mapping[str, Preprocess], batch_size: int, limit: int | None) -> Iterator[dict]:
    """Every sample once in tar order (at most ``limit`` of them), batched: what evaluation and the index read."""
    config = LoaderConfig(batch_size, resampled=False, shuffle=0, required=("jpg", "txt"))
    seen = 0
    for batch in pair_loader(shards, models, config):
        if limit is not None and seen >= limit:
            return
        if limit is not None and seen + len(batch["keys"]) > limit:
            batch = _head(batch, limit - seen)
        seen += len(batch["keys"])
        yield batch


def _head(batch: dict[str, Any], n: int) -> dict[str, Any]:
    """The first ``n`` samples of a collated batch (negatives of later samples dropped)."""
    keep = batch["neg_owner"] < n
    out: dict[str, Any] = {}
    for role, value in batch.items():
        if isinstance(value, dict):
            neg = value["neg_text"]
            out[role] = {
                "pixel_values": value["pixel_values"][:n],
                "text": {k: v[:n] for k, v in value["text"].items()},
                "neg_text": {k: v[keep] for k, v in neg.items()} if neg is not None and keep.any() else None,
            }
    kinds = [kind for kind, k in zip(batch["neg_kinds"], keep.tolist(), strict=True) if k]
    out.update(
        neg_mask=batch["neg_mask"][:n],
        neg_owner=batch["neg_owner"][keep],
        neg_kinds=kinds,
        keys=batch["keys"][:n],
        captions=batch["captions"][:n],
    )
    return out


def scatter_negatives(flat: torch.Tensor | None, mask: torch.Tensor, dim: int) -> torch.Tensor:
    """(B, K, D) negative features with the flat (M, D) rows placed where ``mask`` (B, K) is True (zeros elsewhere)."""
    b, k = mask.shape
    out = torch.zeros(b * k, dim, device=mask.device, dtype=flat.dtype if flat is not None else torch.float32)
    if flat is not None:
        out[mask.reshape(-1)] = flat
    return out.reshape(b, k, dim)


def paired_batches(main: BatchLoader, replay: BatchLoader | None) -> Iterator[dict[str, Any]]:
    """``{"main": batch, "replay": batch}``: one replay batch beside each training batch (both resumable streams)."""
    replay_iter = iter(replay) if replay is not None else None
    for batch in main:
        yield {"main": batch, "replay": next(replay_iter) if replay_iter is not None else None}


def raw_images(shards: ShardSet, keys: list[str]) -> dict[str, Image.Image]:
    """The decoded images of ``keys`` from ``shards`` (one scan in tar order, stopping when all are found)."""
    import webdataset as wds

    wanted, found = set(keys), {}
    for sample in wds.WebDataset(shards.urls, shardshuffle=False):
        if sample["__key__"] in wanted and "jpg" in sample:
            found[sample["__key__"]] = Image.open(io.BytesIO(sample["jpg"])).convert("RGB")
            if len(found) == len(wanted):
                break
    return found


def any_shards(url: str) -> ShardSet:
    """A dataset's committed shards (``open_shards``) or, for a plain folder of WebDataset tars without commit markers
    or sizes.json (shards from elsewhere), every ``*.tar`` in name order with its sample count read from the tar."""
    try:
        return open_shards(url)
    except FileNotFoundError:
        pass
    import tarfile

    from pipelines.loaders import ShardInfo
    from pipelines.store.fs import join, open_fs

    fs, root = open_fs(url)
    names = sorted(p.rsplit("/", 1)[-1] for p in fs.ls(root, detail=False) if p.endswith(".tar"))
    if not names:
        raise FileNotFoundError(f"{url} holds no committed dataset shards and no .tar files")
    shards = []
    for name in names:
        with fs.open(join(root, name), "rb") as f, tarfile.open(fileobj=f, mode="r|") as tar:
            keys = {m.name.split(".", 1)[0] for m in tar if m.isfile()}
        shards.append(ShardInfo(name[: -len(".tar")], join(url.rstrip("/"), name), len(keys), "", ""))
    return ShardSet(url, tuple(shards))
