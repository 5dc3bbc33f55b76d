"""``retrieval_student``: an open_clip dual encoder distilled from a retrieval teacher, with NegCLIP hard negatives and
Learning without Forgetting on replay data; loadable with open_clip's own ``local-dir:`` loader."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import torch
from pydantic import model_validator

from models.retrieval.clip import CONFIG_FILE, build_clip, clip_config, load_clip, save_clip
from models.retrieval.losses import LossWeights, RetrievalStudentLoss
from models.retrieval.scorers import BlipScorer, ClipPreprocess, ClipScorer, clip_preprocess, load_scorer
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
    scatter_negatives,
)

TERMS = ("contrastive", "distill", "hard_negative", "lwf")
WEIGHTS = tuple(f"{t}_weight" for t in TERMS)


class RetrievalStudentConfig(TrainerConfig):
    """Loss weights: 0 turns a term off (and drops it from metrics.jsonl). ``distill_weight > 0`` needs ``--teacher``;
    ``lwf_weight > 0`` needs replay data (a second ``--data`` dir, e.g. the shapes general split, or ``replay_data``);
    LwF keeps the student near its initial self (the ``--from`` parent, else the fresh model), so it is off by default."""

    arch: Literal["tiny", "mobile-s0"] = "tiny"
    image_size: int | None = None  # None: the arch's own
    steps: int = 600  # with the default teacher: issue 11's floors on held-out shapes (benchmarks/retrieval_floor.py)
    batch_size: int = 64
    lr: float = 1e-3
    weight_decay: float = 0.1
    warmup_steps: int = 50
    contrastive_weight: float = 1.0
    distill_weight: float = 1.0
    hard_negative_weight: float = 1.0
    lwf_weight: float = 0.0
    temperature: float = 1.0  # of the distillation and LwF KL terms
    max_logit_scale: float = 100.0
    negatives_per_caption: int = 3
    generate_negatives: bool = True  # data without json negatives: build them from its captions (else refused)
    replay_data: str | None = None
    eval_data: str | None = None  # held-out shards (e.g. the test split); default: the training data
    eval_samples: int = 400

    @model_validator(mode="after")
    def _some_term(self) -> RetrievalStudentConfig:
        """At least one loss term on, none negative."""
        if not any(getattr(self, k) > 0 for k in WEIGHTS):
            raise ValueError("every loss weight is 0: nothing to train")
        if any(getattr(self, k) < 0 for k in WEIGHTS):
            raise ValueError("loss weights are >= 0")
        return self


@dataclass
class StudentTask:
    """Batches ``{"main", "replay"}`` and the four loss terms; the teacher and the initial student stay frozen."""

    model: torch.nn.Module
    config: RetrievalStudentConfig
    shards: ShardSet
    replay: ShardSet | None
    preprocess: dict[str, Preprocess]
    teacher: ClipScorer | BlipScorer | None
    initial: torch.nn.Module | None

    def __post_init__(self) -> None:
        c = self.config
        weights = LossWeights(
            c.contrastive_weight, c.distill_weight, c.hard_negative_weight, c.lwf_weight, c.temperature
        )
        self.loss_fn = RetrievalStudentLoss(weights)

    def batches(self, start_batch: int) -> Iterator[Any]:
        c = self.config
        loader = LoaderConfig(c.batch_size, c.seed, True, c.shuffle, c.workers, required=("jpg", "txt"))
        generate = generated_negatives(self.shards, c.hard_negative_weight, c.generate_negatives)
        main = pair_loader(self.shards, self.preprocess, loader, c.negatives_per_caption, start_batch, generate)
        replay = None
        if self.replay is not None and c.lwf_weight:  # replay batches feed LwF only; without it they cost a decode
            replay_config = LoaderConfig(c.batch_size, c.seed + 1, True, c.shuffle, c.workers, required=("jpg", "txt"))
            replay = pair_loader(self.replay, {"student": self.preprocess["student"]}, replay_config, 0, start_batch)
        return paired_batches(main, replay)

    def loss(self, model: torch.nn.Module, batch: dict[str, Any]) -> dict[str, torch.Tensor]:
        """One forward of the student (through its wrapper, so DDP syncs): the batch's images with the replay images,
        its captions with their negatives and the replay captions; the terms are read off the slices."""
        c, main, s = self.config, batch["main"], batch["main"]["student"]
        b = s["pixel_values"].shape[0]
        replay = batch["replay"]["student"] if c.lwf_weight else None
        neg = s["neg_text"] if c.hard_negative_weight else None
        pixels = [s["pixel_values"]] + ([replay["pixel_values"]] if replay else [])
        texts = (
            [s["text"]["input_ids"]]
            + ([neg["input_ids"]] if neg else [])
            + ([replay["text"]["input_ids"]] if replay else [])
        )
        img, txt, scale = self._forward(model, torch.cat(pixels), texts)
        kwargs: dict[str, Any] = {}
        if c.distill_weight:
            kwargs["teacher_logits"] = self._teacher_logits(main["teacher"])
        if c.hard_negative_weight:
            flat = txt[1] if neg else None
            kwargs["negative_features"] = scatter_negatives(flat, main["neg_mask"], img.shape[-1])
            kwargs["negative_mask"] = main["neg_mask"]
        if replay:
            kwargs["replay_logits"] = scale * img[b:] @ txt[-1].T
            kwargs["replay_reference_logits"] = self._reference_logits(replay)
        terms = self.loss_fn(img[:b], txt[0], scale, **kwargs)
        return {"loss": terms["total"], **{t: terms[t] for t in TERMS if getattr(c, f"{t}_weight")}}

    def _forward(
        self, model: torch.nn.Module, pixels: torch.Tensor, texts: list[torch.Tensor]
    ) -> tuple[torch.Tensor, tuple[torch.Tensor, ...], torch.Tensor]:
        """Unit image features, unit text features split as ``texts`` were given, and the clamped logit scale."""
        out = model(image=pixels, text=torch.cat(texts))
        img, txt, scale = (
            (out["image_features"], out["text_features"], out["logit_scale"]) if isinstance(out, dict) else out[:3]
        )
        return img, txt.split([t.shape[0] for t in texts]), scale.clamp(max=self.config.max_logit_scale)

    @torch.no_grad()
    def _teacher_logits(self, t: dict[str, Any]) -> torch.Tensor:
        self.teacher.model.to(t["pixel_values"].device)
        return self.teacher.pair_logits(t["pixel_values"], t["text"]).float()

    @torch.no_grad()
    def _reference_logits(self, replay: dict[str, Any]) -> torch.Tensor:
        """The frozen initial student's scaled cosines on the replay batch (what LwF keeps)."""
        ref = self.initial.to(replay["pixel_values"].device)
        img, txt, scale = self._forward(ref, replay["pixel_values"], [replay["text"]["input_ids"]])
        return (scale * img @ txt[0].T).float()


@register
class RetrievalStudent(Trainer):
    name = "retrieval_student"
    Config = RetrievalStudentConfig
    description = (
        "An open_clip student (tiny or MobileCLIP-S0's budget): contrastive + distillation from --teacher + "
        "attribute-swapped hard negatives + LwF on replay data."
    )
    config: RetrievalStudentConfig
    preprocess: ClipPreprocess

    def build(self) -> torch.nn.Module:
        if self.inputs.parent is not None:
            folder = self.inputs.parent / "model"
            model, _, _ = load_clip(folder)
            self._cfg = json.loads((folder / CONFIG_FILE).read_text())["model_cfg"]
        else:
            self._cfg = clip_config(self.config.arch, self.config.image_size)
            model = build_clip(self._cfg)
        self.preprocess = clip_preprocess(self._cfg)
        self._initial = copy.deepcopy(model).eval().requires_grad_(False) if self.config.lwf_weight else None
        return model.train()

    def _replay(self) -> ShardSet | None:
        if len(self.inputs.data) > 1:
            return self.inputs.data[1]
        return open_shards(self.config.replay_data) if self.config.replay_data else None

    def task(self, model: torch.nn.Module) -> StudentTask:
        c = self.config
        preprocess: dict[str, Preprocess] = {"student": self.preprocess}
        teacher = None
        if c.distill_weight:
            if self.inputs.teacher is None:
                raise ValueError("distill_weight > 0 needs --teacher MODEL_DIR (or --set distill_weight=0)")
            teacher, preprocess["teacher"] = load_scorer(self.inputs.teacher)
            teacher.model.requires_grad_(False)
        replay = self._replay()
        if c.lwf_weight and replay is None:
            raise ValueError("lwf_weight > 0 needs replay data: a second --data DIR or --set replay_data=DIR")
        if c.hard_negative_weight and not c.generate_negatives:
            require_negatives(self.inputs.data[0])
        return StudentTask(model, c, self.inputs.data[0], replay, preprocess, teacher, self._initial)

    def save(self, model: torch.nn.Module, directory: Path) -> None:
        save_clip(model, self._cfg, directory)

    def evaluate(self, model: torch.nn.Module) -> dict[str, float]:
        """Recall and per-kind negative accuracy on ``eval_data`` (default: the training data); with replay data,
        its recall too (``general_`` keys: what LwF is to keep)."""
        c, scorer = self.config, ClipScorer(model)
        shards = open_shards(c.eval_data) if c.eval_data else self.inputs.data[0]
        metrics = evaluate_scorer(scorer, self.preprocess, shards, c.eval_samples).metrics()
        replay = self._replay()
        if replay is not None:
            general = evaluate_scorer(scorer, self.preprocess, replay, c.eval_samples).recall
            metrics |= {f"general_{k}": v for k, v in general.items()}
        return metrics

    def sample_sheet(self, model: torch.nn.Module, path: Path) -> Path:
        """Eight evaluation captions, each with the image it retrieves among their eight images."""
        shards = open_shards(self.config.eval_data) if self.config.eval_data else self.inputs.data[0]
        return retrieval_sheet(ClipScorer(model), self.preprocess, shards, path)
