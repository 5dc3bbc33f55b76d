"""Retrieval evaluation on any folder of jpg + txt shards: recall@1/5/10 both ways, SugarCrepe accuracy per kind."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from models.retrieval.metrics import negative_accuracy, recall_at_k
from models.retrieval.scorers import BlipScorer, ClipScorer, load_scorer
from pipelines.loaders import ShardSet
from pipelines.training.retrieval_data import Preprocess, any_shards, one_pass, raw_images

Scorer = ClipScorer | BlipScorer


@dataclass(frozen=True)
class RetrievalEval:
    """``recall``: ``i2t_r@k`` / ``t2i_r@k`` among ``samples`` images; ``negatives``: ``{kind: {accuracy, n}}``;
    ``negative_scorer``: ``cosine`` (dual encoder) or ``itm`` (a fusion model's matching head)."""

    samples: int
    recall: dict[str, float]
    negatives: dict[str, dict[str, float]] = field(default_factory=dict)
    negative_scorer: str = "cosine"

    def metrics(self) -> dict[str, float]:
        """Flat figures for metrics.jsonl and the card: recall keys, ``<kind>_acc`` and ``<kind>_n``, ``eval_samples``."""
        out: dict[str, float] = dict(self.recall)
        for kind, v in self.negatives.items():
            out[f"{kind}_acc"] = round(v["accuracy"], 4)
            out[f"{kind}_n"] = v["n"]
        out["eval_samples"] = float(self.samples)
        return out


@torch.no_grad()
def evaluate_scorer(
    scorer: Scorer, preprocess: Preprocess, shards: ShardSet, limit: int | None = None, batch_size: int = 64
) -> RetrievalEval:
    """One pass over ``shards`` (the first ``limit`` samples): gallery features, then recall and negative accuracy."""
    device = next(scorer.model.parameters()).device
    images, texts, negs, owners, kinds, itm = [], [], [], [], [], defaultdict(list)
    seen = 0
    for batch in one_pass(shards, {"model": preprocess}, batch_size, limit):
        b = _to(batch["model"], device)
        images.append(scorer.image_features(b["pixel_values"]))
        texts.append(scorer.text_features(b["text"]))
        if b["neg_text"] is not None:
            owner = batch["neg_owner"]
            if isinstance(scorer, BlipScorer):
                _itm_correct(scorer, b, owner.to(device), batch["neg_kinds"], itm)
            negs.append(scorer.text_features(b["neg_text"]))
            owners += (owner + seen).tolist()
            kinds += batch["neg_kinds"]
        seen += len(batch["keys"])
    if not images:
        raise ValueError(f"{shards.url}: no sample with jpg and txt to evaluate")
    img, txt = torch.cat(images).cpu(), torch.cat(texts).cpu()
    recall = {k: round(v, 4) for k, v in recall_at_k(img, txt).items()}
    if isinstance(scorer, BlipScorer):
        neg = {k: {"accuracy": sum(v) / len(v), "n": float(len(v))} for k, v in sorted(itm.items())}
        return RetrievalEval(seen, recall, neg, "itm")
    neg = negative_accuracy(img, txt, torch.cat(negs).cpu(), owners, kinds) if negs else {}
    return RetrievalEval(seen, recall, neg, "cosine")


def _itm_correct(scorer: BlipScorer, b: dict[str, Any], owner: torch.Tensor, kinds: list[str], out: dict) -> None:
    """SugarCrepe with the matching head: the image's ITM logit for its caption above the one for the negative."""
    pixels = b["pixel_values"][owner]
    pos = scorer.matched_logits(pixels, {k: v[owner] for k, v in b["text"].items()})
    neg = scorer.matched_logits(pixels, b["neg_text"])
    for kind, ok in zip(kinds, (pos > neg).tolist(), strict=True):
        out[kind].append(ok)


def _to(value: Any, device: torch.device) -> Any:
    if isinstance(value, torch.Tensor):
        return value.to(device)
    if isinstance(value, dict):
        return {k: _to(v, device) for k, v in value.items()}
    return value


def evaluate_retrieval(
    model_dir: str | Path, data: str, limit: int | None = None, batch_size: int = 64, device: str = "cpu"
) -> RetrievalEval:
    """Evaluate a saved retrieval model (a model directory or its ``model/`` folder) on the shards of ``data`` (a
    dataset directory, or any folder of WebDataset tars)."""
    scorer, preprocess = load_scorer(model_dir, device)
    return evaluate_scorer(scorer, preprocess, any_shards(data), limit, batch_size)


@torch.no_grad()
def retrieval_sheet(scorer: Scorer, preprocess: Preprocess, shards: ShardSet, path: Path, n: int = 8) -> Path:
    """For each of the first ``n`` captions, the image it retrieves among those ``n`` images, titled with a tick when
    it is the caption's own image and with the caption (what a sample sheet shows of a retrieval model)."""
    from PIL import Image

    from pipelines.draw import contact_sheet

    batch = next(one_pass(shards, {"model": preprocess}, n, n))
    device = next(scorer.model.parameters()).device
    b = _to(batch["model"], device)
    best = (scorer.text_features(b["text"]) @ scorer.image_features(b["pixel_values"]).T).argmax(1).tolist()
    images = raw_images(shards, batch["keys"])
    tiles = []
    for i, j in enumerate(best):
        tiles.append(
            (
                images[batch["keys"][j]].resize((192, 192), Image.Resampling.NEAREST),
                f"{'ok' if i == j else 'x '} {batch['captions'][i]}",
            )
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    contact_sheet(tiles, cell=192, cols=4).save(path)
    return path
