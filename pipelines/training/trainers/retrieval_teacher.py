"""``retrieval_teacher``: a BLIP image-text matching fusion model (ITC + ITM) or an open_clip dual encoder (contrastive
+ NegCLIP), fine-tuned on retrieval_negatives shards with their attribute-swapped captions; saved in its own format."""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import torch
import torch.nn.functional as F
import webdataset as wds
from pydantic import model_validator

from models.retrieval.blip import build_tiny_blip, itm_matched_logits, load_blip, save_blip, train_wordpiece_tokenizer
from models.retrieval.clip import CONFIG_FILE, build_clip, clip_config, load_clip, save_clip
from models.retrieval.losses import LossWeights, RetrievalStudentLoss, hard_negative_loss, itm_loss
from models.retrieval.scorers import BlipPreprocess, BlipScorer, ClipScorer, clip_preprocess
from pipelines.loaders import LoaderConfig, ShardSet, open_shards
from pipelines.training.base import Trainer, TrainerConfig
from pipelines.training.eval_retrieval import evaluate_scorer, retrieval_sheet
from pipelines.training.registry import register
from pipelines.training.retrieval_data import (
    Preprocess,
    generated_negatives,
    pair_loader,
    paired_batches,
    require_negatives,
    sample_negatives,
    scatter_negatives,
)


class RetrievalTeacherConfig(TrainerConfig):
    """``kind``: ``blip`` (fusion; tiny sizes below, or ``weights``: a transformers BLIP ITM folder) or ``open_clip``
    (``arch``, or ``weights``: an open_clip local-dir). Weights are read as safetensors only. A weight of 0 turns a
    term off: ``itc_weight`` (contrastive), ``itm_weight`` (BLIP only), ``hard_negative_weight`` (NegCLIP columns).

    The default teacher is the open_clip one: a student distils a BLIP teacher's ITM logits over all B x B pairs of its
    batch (B**2 fusion passes a step, several times the cost of the whole tiny student step on CPU), while the
    open_clip teacher costs one forward of B images and B captions; benchmarks/retrieval_floor.py runs the defaults."""

    kind: Literal["blip", "open_clip"] = "open_clip"
    arch: Literal["tiny", "mobile-s0"] = "tiny"
    weights: str | None = None
    image_size: int = 64
    width: int = 96
    layers: int = 2
    vocab_size: int = 1000
    tokenizer_captions: int = 20000  # captions (and negatives) the tiny BLIP's WordPiece vocabulary is trained on
    steps: int = 600
    batch_size: int = 64
    lr: float = 1e-3
    weight_decay: float = 0.05
    warmup_steps: int = 50
    itc_weight: float = 1.0
    itm_weight: float = 1.0
    hard_negative_weight: float = 1.0
    itc_temperature: float = 0.07  # BLIP's contrastive temperature
    negatives_per_caption: int = 3
    generate_negatives: bool = True  # data without json negatives: build them from its captions (else refused)
    eval_data: str | None = None
    eval_samples: int = 400

    @model_validator(mode="after")
    def _some_term(self) -> RetrievalTeacherConfig:
        """At least one loss term on, none negative."""
        if not any(getattr(self, k) > 0 for k in ("itc_weight", "itm_weight", "hard_negative_weight")):
            raise ValueError("every loss weight is 0: nothing to train")
        if any(getattr(self, k) < 0 for k in ("itc_weight", "itm_weight", "hard_negative_weight")):
            raise ValueError("loss weights are >= 0")
        if self.kind == "open_clip" and not (self.itc_weight or self.hard_negative_weight):
            raise ValueError("an open_clip teacher has no ITM head: it needs itc_weight or hard_negative_weight > 0")
        return self


def hardest_in_batch(sims: torch.Tensor, captions: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
    """For each image its most similar other caption, for each caption its most similar other image (index pairs
    ``(images, captions)``); a pair whose caption text is the image's own caption is never a negative."""
    same = torch.tensor([[a == b for b in captions] for a in captions], device=sims.device)
    masked = sims.detach().masked_fill(same, float("-inf"))
    rows = torch.isfinite(masked).any(1)
    i2t = torch.nonzero(rows).flatten()
    t2i = torch.nonzero(rows).flatten()  # the matrix's same-caption mask is symmetric: columns as rows
    images = torch.cat([i2t, masked[:, t2i].argmax(0)])
    texts = torch.cat([masked[i2t].argmax(1), t2i])
    return images, texts


@dataclass
class TeacherTask:
    model: torch.nn.Module
    config: RetrievalTeacherConfig
    shards: ShardSet
    preprocess: Preprocess

    def __post_init__(self) -> None:
        from open_clip.loss import ClipLoss  # after models/ made torchvision importable (models.compat)

        c = self.config
        self.clip_loss = ClipLoss()
        self.dual_loss = RetrievalStudentLoss(LossWeights(c.itc_weight, 0.0, c.hard_negative_weight, 0.0))

    def batches(self, start_batch: int) -> Iterator[Any]:
        c = self.config
        loader = LoaderConfig(c.batch_size, c.seed, True, c.shuffle, c.workers, required=("jpg", "txt"))
        generate = generated_negatives(self.shards, c.hard_negative_weight, c.generate_negatives)
        main = pair_loader(
            self.shards, {"teacher": self.preprocess}, loader, c.negatives_per_caption, start_batch, generate
        )
        return paired_batches(main, None)

    def loss(self, model: torch.nn.Module, batch: dict[str, Any]) -> dict[str, torch.Tensor]:
        if self.config.kind == "blip":
            return self._blip_loss(model, batch["main"])
        return self._clip_loss(model, batch["main"])

    def _clip_loss(self, model: torch.nn.Module, main: dict[str, Any]) -> dict[str, torch.Tensor]:
        """One forward through the (possibly DDP-wrapped) model: the images, the captions with their negatives."""
        c, t = self.config, main["teacher"]
        texts = [t["text"]["input_ids"]] + ([t["neg_text"]["input_ids"]] if t["neg_text"] is not None else [])
        out = model(image=t["pixel_values"], text=torch.cat(texts))
        img, txt, scale = (
            (out["image_features"], out["text_features"], out["logit_scale"]) if isinstance(out, dict) else out[:3]
        )
        b = img.shape[0]
        flat = txt[b:] if len(texts) > 1 else None
        negatives = scatter_negatives(flat, main["neg_mask"], img.shape[-1])
        terms = self.dual_loss(
            img, txt[:b], scale.clamp(max=100.0), negative_features=negatives, negative_mask=main["neg_mask"]
        )
        named = {"loss": terms["total"], "itc": terms["contrastive"], "hard_negative": terms["hard_negative"]}
        return {k: v for k, v in named.items() if k == "loss" or getattr(c, f"{k}_weight")}

    def _blip_loss(self, model: torch.nn.Module, main: dict[str, Any]) -> dict[str, torch.Tensor]:
        """ITC over the projections (with the swapped captions as extra columns), ITM on positives against the batch's
        hardest negatives both ways and the attribute-swapped captions of each image."""
        c, t = self.config, main["teacher"]
        embeds = model.vision_model(pixel_values=t["pixel_values"]).last_hidden_state
        scorer = BlipScorer(model)
        img = F.normalize(model.vision_proj(embeds[:, 0, :]), dim=-1)
        txt = scorer.text_features(t["text"])
        scale = torch.tensor(1.0 / c.itc_temperature, device=img.device)
        terms: dict[str, torch.Tensor] = {}
        if c.itc_weight:
            terms["itc"] = self.clip_loss(img, txt, scale)
        neg = t["neg_text"]
        if c.hard_negative_weight:
            flat = scorer.text_features(neg) if neg is not None else None
            negatives = scatter_negatives(flat, main["neg_mask"], txt.shape[-1])
            terms["hard_negative"] = hard_negative_loss(img, txt, negatives, main["neg_mask"], scale)
        if c.itm_weight:
            terms["itm"] = self._itm(model, embeds, t["text"], neg, main["neg_owner"], img @ txt.T, main["captions"])
        weights = {"itc": c.itc_weight, "hard_negative": c.hard_negative_weight, "itm": c.itm_weight}
        terms["loss"] = sum(weights[k] * v for k, v in terms.items())
        return terms

    def _itm(self, model, embeds, text, neg, owner, sims, captions) -> torch.Tensor:
        ids, mask = text["input_ids"], text["attention_mask"]
        pos = itm_matched_logits(model, embeds, ids, mask)
        images, texts = hardest_in_batch(sims, captions)
        negatives = [pos[:0]]  # a batch of one caption repeated has no in-batch negative
        if images.numel():
            negatives.append(itm_matched_logits(model, embeds[images], ids[texts], mask[texts]))
        if neg is not None:
            negatives.append(itm_matched_logits(model, embeds[owner], neg["input_ids"], neg["attention_mask"]))
        return itm_loss(pos, torch.cat(negatives))


def corpus_texts(shards: ShardSet, limit: int) -> list[str]:
    """Captions and their negatives of the first ``limit`` samples (what a tiny teacher's vocabulary is trained on)."""
    texts: list[str] = []
    for sample in itertools.islice(wds.WebDataset(shards.urls, shardshuffle=False), limit):
        if "txt" in sample:
            texts.append(sample["txt"].decode("utf-8"))
            texts += [text for _, text in sample_negatives(sample)]
    if not texts:
        raise ValueError(f"{shards.url}: no captions to train a tokenizer on")
    return texts


@register
class RetrievalTeacher(Trainer):
    name = "retrieval_teacher"
    Config = RetrievalTeacherConfig
    description = (
        "The teacher the retrieval student distils: BLIP image-text matching (ITC + ITM) or an open_clip dual "
        "encoder, fine-tuned with attribute-swapped hard negatives."
    )
    config: RetrievalTeacherConfig
    preprocess: Preprocess

    def _source(self) -> Path | None:
        """Weights to start from: ``--from`` a teacher model directory, else ``weights`` (production), else none."""
        if self.inputs.parent is not None:
            return self.inputs.parent / "model"
        return Path(self.config.weights) if self.config.weights else None

    def build(self) -> torch.nn.Module:
        c, source = self.config, self._source()
        if c.kind == "open_clip":
            if source is not None:
                model, _, _ = load_clip(source)
                self._cfg = json.loads((source / CONFIG_FILE).read_text())["model_cfg"]
            else:
                self._cfg = clip_config(c.arch)
                model = build_clip(self._cfg)
            self.preprocess = clip_preprocess(self._cfg)
            return model.train()
        if source is not None:
            model, self._processor = load_blip(source)
        else:
            tokenizer = train_wordpiece_tokenizer(corpus_texts(self.inputs.data[0], c.tokenizer_captions), c.vocab_size)
            model, self._processor = build_tiny_blip(tokenizer, c.image_size, width=c.width, layers=c.layers)
        max_length = int(min(64, model.config.text_config.max_position_embeddings))
        self.preprocess = BlipPreprocess(self._processor, max_length)
        return model.train()

    def task(self, model: torch.nn.Module) -> TeacherTask:
        if self.config.hard_negative_weight and not self.config.generate_negatives:
            require_negatives(self.inputs.data[0])
        return TeacherTask(model, self.config, self.inputs.data[0], self.preprocess)

    def save(self, model: torch.nn.Module, directory: Path) -> None:
        if self.config.kind == "open_clip":
            save_clip(model, self._cfg, directory)
        else:
            save_blip(model, self._processor, directory)

    def evaluate(self, model: torch.nn.Module) -> dict[str, float]:
        """Recall by its contrastive features; negatives by ITM (blip) or cosine (open_clip), per kind."""
        c = self.config
        scorer = BlipScorer(model) if c.kind == "blip" else ClipScorer(model)
        shards = open_shards(c.eval_data) if c.eval_data else self.inputs.data[0]
        return evaluate_scorer(scorer, self.preprocess, shards, c.eval_samples).metrics()

    def sample_sheet(self, model: torch.nn.Module, path: Path) -> Path:
        """Eight evaluation captions, each with the image it retrieves among their eight images."""
        shards = open_shards(self.config.eval_data) if self.config.eval_data else self.inputs.data[0]
        return retrieval_sheet(
            BlipScorer(model) if self.config.kind == "blip" else ClipScorer(model), self.preprocess, shards, path
        )
