"""What every training asset does: launch the CLI's ``train`` command through Dagster Pipes, then report its card."""

from __future__ import annotations

import base64
import json
import os
import shlex
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from dagster import (
    AssetCheckResult,
    AssetExecutionContext,
    Backoff,
    ConfigurableResource,
    DataVersion,
    MaterializeResult,
    MetadataValue,
    PipesSubprocessClient,
    RetryPolicy,
)

from pipelines.training.card import ModelDir

# A retry runs the same command into the same model directory, which resumes from its newest checkpoint.
TRAINING_RETRY = RetryPolicy(max_retries=2, delay=10, backoff=Backoff.EXPONENTIAL)
REPO = Path(__file__).resolve().parents[2]


class TrainingResource(ConfigurableResource):
    """Where model directories go (a local path the trainer process writes), and what runs the CLI: ``launcher`` is a
    prefix such as ``accelerate launch --num_processes 8`` on a GPU node (empty: this Python)."""

    models_root: str
    launcher: str = ""

    def model_dir(self, name: str) -> Path:
        return Path(self.models_root) / name

    def command(self, trainer: str, data: list[str], out: Path, config: dict[str, Any], **parents: str) -> list[str]:
        """The exact command line ``shardsmith train`` takes; ``parents``: ``teacher`` / ``from`` model directories.
        ``--overwrite``: a materialization replaces the model of other inputs; a retry of the same run resumes."""
        prefix = shlex.split(self.launcher) if self.launcher else [sys.executable]
        args = ["-m", "pipelines.cli", "train", trainer, "--out", str(out), "--overwrite"]
        args += [a for d in data for a in ("--data", d)]
        args += [f"--set={k}={json.dumps(v)}" for k, v in sorted(config.items())]
        args += [a for role, path in sorted(parents.items()) for a in (f"--{role}", path)]
        return prefix + args


def trainer_settings(overrides: str, **base: Any) -> dict[str, Any]:
    """The trainer keys an asset passes: ``base`` (its config's budget, data URLs), then the run config's JSON
    ``settings`` over them (``{"steps": 500}``)."""
    return {**base, **json.loads(overrides)}


def launch_training(
    context: AssetExecutionContext,
    pipes: PipesSubprocessClient,
    command: list[str],
    out: Path,
    checks: Sequence[Callable[[ModelDir], AssetCheckResult]] = (),
) -> MaterializeResult:
    """Run ``command`` under Pipes (its metrics rows stream back as log lines and custom messages), then read the
    committed model directory: final metrics, loss curve and sample sheet, and the card's run hash as data version;
    ``checks``: the asset's own checks of the model directory, after ``loss_fell``."""
    context.log.info(f"launching {shlex.join(command)}")
    env = {"PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    invocation = pipes.run(command=command, context=context, env=env, cwd=str(REPO))
    streamed = [m for m in invocation.get_custom_messages() if isinstance(m, dict) and "step" in m]
    model = ModelDir(out)
    if not model.committed():
        raise RuntimeError(f"{out} has no _SUCCESS after the trainer exited")
    card = model.card()
    return MaterializeResult(
        metadata=training_metadata(model, card, len(streamed)),
        check_results=[loss_fell_check(model), *(check(model) for check in checks)],
        data_version=DataVersion(card["run_sha256"][:24]),
    )


def image_md(path: Path, title: str) -> MetadataValue:
    data = base64.b64encode(path.read_bytes()).decode()
    return MetadataValue.md(f"![{title}](data:image/png;base64,{data})")


def training_metadata(model: ModelDir, card: dict[str, Any], streamed: int) -> dict[str, Any]:
    metadata: dict[str, Any] = {
        "model_dir": MetadataValue.path(str(model.path)),
        "trainer": card["trainer"],
        "steps": card["steps"],
        "resumed_from": card["resumed_from"] if card["resumed_from"] is not None else -1,
        "metrics_streamed": streamed,
        "device": card["device"],
        "dtype": card["dtype"],
        "config_sha256": card["config_sha256"],
        "card_sha256": model.card_sha256(),
        "inputs": MetadataValue.json(
            [{"url": i["url"], "samples": i["samples"], "shards": len(i["shards"])} for i in card["inputs"]]
        ),
        "code_version": card["code_version"],
        "loss_curve": image_md(model.samples / "loss.png", "loss"),
    }
    metadata.update({f"eval/{k}": float(v) for k, v in card["final_metrics"].items()})
    if (model.samples / "sheet.png").exists():
        metadata["sample_sheet"] = image_md(model.samples / "sheet.png", "samples")
    return metadata


def loss_fell_check(model: ModelDir) -> AssetCheckResult:
    """The final model's loss on the run's fixed batch (its first, at fixed noise, timesteps and dropout: the card's
    ``held_loss``) is below the initial model's: the model learned something. Two running batches' losses would differ
    by their draws alone, which for a student that starts near its teacher is more than training changes."""
    held = model.card().get("held_loss", {})
    before, after = held.get("before"), held.get("after")
    passed = isinstance(before, float) and isinstance(after, float) and after < before
    metadata = {"before": before, "after": after, "samples": held.get("samples"), "seed": held.get("seed")}
    return AssetCheckResult(check_name="loss_fell", passed=passed, metadata=metadata)


def training_resources(env: dict[str, str] | None = None) -> dict[str, Any]:
    """``SHARDSMITH_MODELS`` (default: ``models`` under ``SHARDSMITH_ROOT``) and ``SHARDSMITH_TRAIN_LAUNCHER``
    (e.g. ``accelerate launch --num_processes 8``), plus the Pipes client the training assets launch through."""
    env = dict(os.environ if env is None else env)
    root = env.get("SHARDSMITH_ROOT", os.path.abspath("demo_out/storage"))
    models = env.get("SHARDSMITH_MODELS", os.path.join(root, "models"))
    return {
        "training": TrainingResource(models_root=models, launcher=env.get("SHARDSMITH_TRAIN_LAUNCHER", "")),
        "pipes": PipesSubprocessClient(),
    }
