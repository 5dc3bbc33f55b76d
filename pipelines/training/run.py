"""``run(spec) -> model directory``: resolve inputs and config, train (resuming), save, evaluate, card, commit."""

from __future__ import annotations

import contextlib
import hashlib
import json
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from accelerate import PartialState

from models.training import MetricsLog, read_metrics, seed_everything, train_loop
from pipelines.loaders import open_shards
from pipelines.store.layout import dumps
from pipelines.training.base import Inputs, Trainer, TrainerConfig
from pipelines.training.card import ModelDir, files_sha256, parent_record
from pipelines.training.plots import loss_curve
from pipelines.training.registry import trainer_class
from pipelines.version import code_version


@dataclass(frozen=True)
class TrainSpec:
    """One training: the trainer's name, its dataset directories (the first is the training data), the model directory
    to write, config overrides, and parent models (a teacher to distil from, a model to start from)."""

    trainer: str
    data: tuple[str, ...]
    out: str
    config: dict[str, Any] = field(default_factory=dict)
    teacher: str | None = None
    parent: str | None = None


@dataclass(frozen=True)
class Resolved:
    trainer: Trainer
    config: TrainerConfig
    card: dict[str, Any]  # everything the card says before training: what makes this run this run
    run_sha256: str


def resolve(spec: TrainSpec) -> Resolved:
    """Validate the config, read the inputs' shard lineage and the parents' cards; nothing is trained yet."""
    cls = trainer_class(spec.trainer)
    config = cls.Config.model_validate(spec.config)
    if cls.needs_teacher and not spec.teacher:
        raise ValueError(f"trainer {spec.trainer} needs --teacher")
    data = tuple(open_shards(d) for d in spec.data)
    parents = {
        role: parent_record(Path(p)) for role, p in (("teacher", spec.teacher), ("from", spec.parent)) if p is not None
    }
    resolved_config = config.model_dump(mode="json")
    card = {
        "trainer": spec.trainer,
        "config": resolved_config,
        "config_sha256": hashlib.sha256(dumps({"trainer": spec.trainer, "config": resolved_config})).hexdigest(),
        "inputs": [d.lineage() for d in data],
        "parents": parents,
    }
    inputs = Inputs(data, Path(spec.teacher) if spec.teacher else None, Path(spec.parent) if spec.parent else None)
    return Resolved(cls(config, inputs), config, card, hashlib.sha256(dumps(card)).hexdigest())


def run(
    spec: TrainSpec,
    on_log: Callable[[dict[str, Any]], None] | None = None,
    on_step: Callable[[int], None] | None = None,
    overwrite: bool = False,
) -> ModelDir:
    """Train into ``spec.out`` and commit it. A committed directory of the same run is returned as it is; an
    uncommitted one resumes from its newest checkpoint (a retry after a kill continues, it does not start over). A
    directory of another run (other config, inputs or parents) is an error, or with ``overwrite`` is emptied first."""
    r = resolve(spec)
    out = ModelDir(Path(spec.out))
    if _claim(out, r, overwrite):
        return out
    with _cpu_threads(r.config.cpu_threads):
        return _train(r, out, on_log, on_step)


def _claim(out: ModelDir, r: Resolved, overwrite: bool) -> bool:
    """Make ``out`` this run's directory (``run.json`` names the run); True when this run is already committed there."""
    marker = out.path / "run.json"
    if marker.exists() and json.loads(marker.read_text())["run_sha256"] != r.run_sha256:
        if not overwrite:
            raise FileExistsError(f"{out.path} holds another run's model; use a new --out or --overwrite")
        shutil.rmtree(out.path)
    elif marker.exists() and out.committed():
        return True
    out.path.mkdir(parents=True, exist_ok=True)
    marker.write_bytes(dumps({"run_sha256": r.run_sha256, "trainer": r.card["trainer"]}))
    return False


@contextlib.contextmanager
def _cpu_threads(n: int) -> Iterator[None]:
    """Run with ``n`` torch intra-op threads (0: leave as is), restored afterwards. On a shared CPU a tiny model trains
    10x faster on one thread than on two (the threads spin waiting for each other)."""
    before = torch.get_num_threads()
    if n > 0:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _train(
    r: Resolved,
    out: ModelDir,
    on_log: Callable[[dict[str, Any]], None] | None,
    on_step: Callable[[int], None] | None,
) -> ModelDir:
    seed_everything(r.config.seed)
    model = r.trainer.build()
    extra = {"run_sha256": r.run_sha256}
    result = train_loop(r.trainer.task(model), r.config.loop(), out.path, extra, on_log, on_step)
    if not PartialState().is_main_process:  # under `accelerate launch`, one process saves, evaluates and commits
        return out
    final = result.ema.module if result.ema is not None else result.model
    final.eval()
    _save_model(r.trainer, final, out)
    metrics = r.trainer.evaluate(final)
    log = MetricsLog(out.metrics)
    log.keep(lambda row: "eval" not in row)
    loss_curve(read_metrics(out.metrics), out.samples / "loss.png")
    log.write({"step": result.step, "eval": metrics})
    r.trainer.sample_sheet(final, out.samples / "sheet.png")
    card = {
        **r.card,
        "run_sha256": r.run_sha256,
        "code_version": code_version(),
        "device": result.device,
        "dtype": {"no": "float32"}.get(result.dtype, result.dtype),
        "steps": result.step,
        "resumed_from": result.resumed_from,
        "ema": result.ema is not None,
        "final_metrics": metrics,
        "final_train": result.last,
        "held_loss": result.held,
        "model_files": files_sha256(out.model),
    }
    out.write_card(card)
    out.commit()
    return out


def _save_model(trainer: Trainer, model: Any, out: ModelDir) -> None:
    tmp = out.path / ".model.tmp"
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir()
    trainer.save(model, tmp)
    if out.model.exists():
        shutil.rmtree(out.model)
    tmp.replace(out.model)
