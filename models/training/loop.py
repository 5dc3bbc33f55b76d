"""The training loop on Hugging Face accelerate: AdamW, warmup + cosine, clipping, EMA, checkpoints, resume, metrics."""

from __future__ import annotations

import itertools
import json
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol

import torch
from accelerate import Accelerator
from accelerate.utils import set_seed
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

from models.training.checkpoint import checkpoints, load_checkpoint, save_checkpoint
from models.training.metrics import MetricsLog


@dataclass(frozen=True)
class LoopConfig:
    """Knobs of the loop every trainer shares. ``mixed_precision="auto"``: bf16 autocast on CUDA, fp32 on CPU;
    trainable parameters always stay fp32."""

    steps: int
    lr: float = 1e-3
    weight_decay: float = 0.0
    warmup_steps: int = 0
    schedule: Literal["cosine", "constant"] = "cosine"
    grad_clip: float = 1.0
    grad_accum: int = 1
    ema_decay: float = 0.0  # 0: no EMA
    held_seed: int = 1234  # torch's generators while the held batch's loss is computed (its noise, timesteps, dropout)
    checkpoint_every: int = 100
    keep_checkpoints: int = 2
    log_every: int = 10
    seed: int = 0
    device: Literal["auto", "cpu", "cuda"] = "auto"
    mixed_precision: Literal["auto", "no", "bf16"] = "auto"


class Task(Protocol):
    """What a trainer hands the loop: the model, its batches (resumable) and its loss terms."""

    model: torch.nn.Module

    def batches(self, start_batch: int) -> Iterator[Any]:
        """Batches after the first ``start_batch`` ones of the stream a fresh run would see."""

    def loss(self, model: torch.nn.Module, batch: Any) -> dict[str, torch.Tensor]:
        """Loss terms; ``"loss"`` is the one minimised, the others are logged."""


@dataclass(frozen=True)
class LoopResult:
    step: int
    resumed_from: int | None
    model: torch.nn.Module
    ema: torch.nn.Module | None
    last: dict[str, float]
    device: str
    dtype: str
    held: dict[str, float]  # held_loss.json: the first batch's loss before and after training, at fixed draws


class WarmupCosine:
    """LambdaLR factor: linear warmup then cosine to 0 (or constant); a class so the scheduler's state is JSON."""

    def __init__(self, warmup: int, total: int, cosine: bool) -> None:
        self.warmup, self.total, self.cosine = warmup, total, cosine

    def __call__(self, step: int) -> float:
        if step < self.warmup:
            return (step + 1) / self.warmup
        if not self.cosine:
            return 1.0
        progress = (step - self.warmup) / max(1, self.total - self.warmup)
        return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))


def make_accelerator(config: LoopConfig) -> Accelerator:
    cuda = torch.cuda.is_available() if config.device == "auto" else config.device == "cuda"
    precision = ("bf16" if cuda else "no") if config.mixed_precision == "auto" else config.mixed_precision
    return Accelerator(cpu=not cuda, mixed_precision=precision, gradient_accumulation_steps=config.grad_accum)


def seed_everything(seed: int) -> None:
    """Python, numpy and torch generators (all devices): call before building a model so its init is seeded."""
    set_seed(seed, deterministic=False)


def _ema(model: torch.nn.Module, decay: float) -> AveragedModel | None:
    if decay <= 0:
        return None
    return AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(decay), use_buffers=True)


def train_loop(
    task: Task,
    config: LoopConfig,
    out: Path,
    extra: dict[str, Any] | None = None,
    on_log: Callable[[dict[str, Any]], None] | None = None,
    on_step: Callable[[int], None] | None = None,
) -> LoopResult:
    """Train ``task.model`` for ``config.steps`` optimizer steps, resuming from the newest ``out/checkpoints/step-N``.
    Writes ``out/metrics.jsonl`` (rows past the resumed checkpoint are dropped first) and checkpoints every
    ``checkpoint_every`` steps and at the end. ``extra`` is stored in each checkpoint (e.g. the config hash) and must
    match on resume. ``on_step(step)`` runs after each step and its checkpoint (tests kill the process there).
    ``out/held_loss.json`` and ``LoopResult.held``: ``{"before", "after", "seed", "samples"}``, the loss of the
    stream's first batch under fixed random draws (``held_loss``) by the initial model and by the final one (EMA where
    there is one), so that a check compares the same batch, noise and timesteps instead of two running batches."""
    accelerator = make_accelerator(config)
    trainable = [p for p in task.model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trainable, lr=config.lr, weight_decay=config.weight_decay)
    schedule = WarmupCosine(config.warmup_steps, config.steps, config.schedule == "cosine")
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, schedule)
    model, optimizer = accelerator.prepare(task.model, optimizer)
    ema = _ema(accelerator.unwrap_model(model), config.ema_decay)
    step, batches_done, resumed_from = 0, 0, None
    found = checkpoints(out / "checkpoints")
    if found:
        resumed = load_checkpoint(found[-1], accelerator.unwrap_model(model), optimizer, scheduler, ema)
        if resumed.extra != (extra or {}):
            raise ValueError(f"{found[-1]} was written by another run ({resumed.extra} != {extra}); use a new --out")
        step, batches_done, resumed_from = resumed.step, resumed.batches, resumed.step
    metrics = MetricsLog(out / "metrics.jsonl")
    metrics.truncate_after(step)
    stream = task.batches(batches_done)
    held_file = out / "held_loss.json"
    held = _to_device(next(stream if batches_done == 0 else task.batches(0)), accelerator.device)
    if batches_done == 0:
        stream = itertools.chain([held], stream)  # the first batch still trains (moving it again is a no-op)
        before = held_loss(task, accelerator.unwrap_model(model), held, config)
        record = {"before": before, "seed": config.held_seed, "samples": _batch_len(held)}
        if accelerator.is_main_process:
            held_file.write_text(json.dumps(record))
    else:
        earlier = json.loads(held_file.read_text()) if held_file.exists() else {}  # none: a run from before this file
        record = {k: v for k, v in earlier.items() if k != "after"}
    model.train()
    last: dict[str, float] = {}
    started, samples = time.perf_counter(), 0
    while step < config.steps:
        terms = _one_step(accelerator, task, model, optimizer, stream, config)
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        if ema is not None:
            ema.update_parameters(accelerator.unwrap_model(model))
        step += 1
        batches_done += config.grad_accum
        samples += terms.pop("_samples")
        last = terms
        if step % config.log_every == 0 or step == config.steps:
            row = {"step": step, "lr": scheduler.get_last_lr()[0], **terms}
            row["samples_per_s"] = samples / max(1e-9, time.perf_counter() - started)
            if accelerator.is_main_process:
                metrics.write(row)
            if on_log is not None:
                on_log(row)
        if (step % config.checkpoint_every == 0 or step == config.steps) and accelerator.is_main_process:
            unwrapped = accelerator.unwrap_model(model)
            save_checkpoint(
                out / "checkpoints", step, batches_done, unwrapped, optimizer, scheduler, ema, extra or {},
                config.keep_checkpoints,
            )  # fmt: skip
        if on_step is not None:
            on_step(step)
    accelerator.wait_for_everyone()
    final = ema.module if ema is not None else accelerator.unwrap_model(model)
    record["after"] = held_loss(task, final, held, config)
    if accelerator.is_main_process:
        held_file.write_text(json.dumps(record))
    device, dtype = str(accelerator.device), accelerator.mixed_precision
    return LoopResult(step, resumed_from, accelerator.unwrap_model(model), ema, last, device, dtype, record)


@torch.no_grad()
def held_loss(task: Task, model: torch.nn.Module, batch: Any, config: LoopConfig) -> float:
    """``task.loss(model, batch)["loss"]`` in eval mode with torch's generators seeded to ``config.held_seed`` (and
    restored afterwards, so training's draws do not change): the same noise, timesteps and caption dropout each call."""
    was_training = model.training
    model.eval()
    with torch.random.fork_rng(devices=range(torch.cuda.device_count())):
        torch.manual_seed(config.held_seed)
        value = float(task.loss(model, batch)["loss"])
    model.train(was_training)
    return value


def _one_step(
    accelerator: Accelerator,
    task: Task,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    stream: Iterator[Any],
    config: LoopConfig,
) -> dict[str, float]:
    """``grad_accum`` micro-batches, then one clipped optimizer step; returns the mean of each loss term."""
    totals: dict[str, float] = {}
    samples = 0
    for _ in range(config.grad_accum):
        batch = _to_device(next(stream), accelerator.device)
        with accelerator.accumulate(model), accelerator.autocast():
            terms = task.loss(model, batch)
            loss = terms["loss"]
            if not torch.isfinite(loss):
                raise FloatingPointError(f"loss is {loss.item()}: training diverged")
            accelerator.backward(loss)
            if accelerator.sync_gradients and config.grad_clip > 0:
                accelerator.clip_grad_norm_(model.parameters(), config.grad_clip)
            optimizer.step()
        for name, value in terms.items():
            totals[name] = totals.get(name, 0.0) + float(value.detach()) / config.grad_accum
        samples += _batch_len(batch)
    return {**totals, "_samples": samples}


def _to_device(batch: Any, device: torch.device) -> Any:
    if isinstance(batch, torch.Tensor):
        return batch.to(device, non_blocking=True)
    if isinstance(batch, dict):
        return {k: _to_device(v, device) for k, v in batch.items()}
    if isinstance(batch, list | tuple):
        return type(batch)(_to_device(v, device) for v in batch)
    return batch


def _batch_len(batch: Any) -> int:
    if isinstance(batch, torch.Tensor):
        return int(batch.shape[0])
    if isinstance(batch, dict):
        return _batch_len(next(iter(batch.values())))
    if isinstance(batch, list | tuple):
        return _batch_len(batch[0]) if batch and not isinstance(batch[0], str) else len(batch)
    return 1
